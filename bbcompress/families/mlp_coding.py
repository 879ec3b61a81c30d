"""The mlp family (the seed's VAE: MLP encoder and decoder, ``hidden`` layers of ReLU
units, ``latent`` dims, all pixels independent given z) as bits-back codecs: exact
networks, latent scheme, pixel law.

Both networks run through ``ExactMLP`` (integer-valued float64 arithmetic), so the
encoding and decoding sides of an archive compute bit-identical laws whatever the
thread count, batch size or BLAS. The likelihood heads (sigmoid, clamp) are elementwise
numpy on those exact outputs. No torch here: numpy weights from the checkpoint.
"""
from __future__ import annotations

import numpy as np

from typing import TYPE_CHECKING

from ..codec.bits_back import DEFAULT_MAX_BATCH, CodingSettings, bits_back
from ..codec.core import Codec, masked, require_finite
from ..codec.importance import importance_bits_back, log_terms_on_grid
from ..codec.exact import ACTIVATION_BITS, ExactMLP
from ..codec.latents import approximate_ndtr, latent_scheme, ndtr
from ..codec.pixels import (bernoulli_logits, bernoulli_logits_log_prob, bernoulli_logits_loss_grad,
                            logistic256, logistic256_log_prob, logistic256_loss_grad, sigmoid,
                            squashed_mean)
from ..codec.refinement import Refinement
from ..errors import CodingError
from ..io.images import TILE_SIDE
from ..kinds import Kind
from .config import MAX_LOG_SCALE, MIN_LOG_SCALE, ModelConfig

if TYPE_CHECKING:
    from ..checkpoint import Checkpoint

# Compression level -> (importance-sampled particles, per-image refinement steps); level 1
# is plain bits-back. Refinement buys more per second than particles (300 digits, one
# core: 10 steps -3.1% binary / -3.5% greyscale at 1/5 and 1/8 of level 1's speed; 4
# particles -2.2% / -0.7% at 1/2 and 1/4), so the ladder climbs by steps and adds
# particles at the top. Rates and speeds of each level: benchmarks/results/levels.md.
# The default level 4: the first refinement steps give the most per second.
LEVELS = {1: (1, 0), 2: (1, 3), 3: (1, 5), 4: (1, 10), 5: (1, 15), 6: (1, 20), 7: (1, 30),
          8: (4, 30), 9: (8, 50)}
DEFAULTS = {"hidden": (500, 500), "latent": 10}


def validate(config: ModelConfig) -> None:
    if config.mixture != 1 or config.features != 0 or config.width != 0:
        raise ValueError("mixture, features and width belong to the local and conv families")
    if config.pixels != TILE_SIDE**2 or config.latent < 1:
        raise ValueError("the mlp family codes 28x28 tiles through a latent of at least one dim")


def config_from_options(likelihood: str, pixels: int, hidden=None, latent=None, pixel_floor=0.0,
                        **unused) -> ModelConfig:
    """The configuration ``train`` makes; None takes the family's default (the seed's)."""
    return ModelConfig(likelihood, pixels, hidden or DEFAULTS["hidden"], latent or DEFAULTS["latent"],
                       "relu", pixel_floor)


def mlp_shapes(sizes: list[int]) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of ``nn.Sequential(Linear, ReLU, Linear, ...)``."""
    shapes = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"net.{2 * i}.weight"] = (n_out, n_in)
        shapes[f"net.{2 * i}.bias"] = (n_out,)
    return shapes


def encoder_sizes(config: ModelConfig) -> list[int]:
    return [config.pixels, *config.hidden, 2 * config.latent]


def decoder_sizes(config: ModelConfig) -> list[int]:
    return [config.latent, *reversed(config.hidden), config.params_per_pixel * config.pixels]


def encoder_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    return mlp_shapes(encoder_sizes(config))


def decoder_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    return mlp_shapes(decoder_sizes(config))


def mlp_linears(state: dict) -> list[tuple]:
    """The (weight, bias) pairs of an MLP state dict, in layer order."""
    indices = sorted({int(k.split(".")[1]) for k in state})
    return [(state[f"net.{i}.weight"], state[f"net.{i}.bias"]) for i in indices]


class MLPCoding:
    """The codec of a batch of 784-pixel tiles for one checkpoint and encoder."""

    max_batch = DEFAULT_MAX_BATCH

    def __init__(self, checkpoint: Checkpoint, settings: CodingSettings = CodingSettings("amortized")):
        self.config = checkpoint.config
        self.particles = settings.particles
        self.refinement = Refinement(settings.refine_steps, self.config.latent)
        self.last_posterior: tuple = (None, None)
        self.latents = latent_scheme(settings.latents, settings.latent_bits)
        try:
            self.encoder, self.decoder = self.exact_networks(checkpoint, settings.encoder)
        except (ValueError, OverflowError) as e:
            raise CodingError(f"this model cannot drive the coder: {e}") from None

    def exact_networks(self, checkpoint: Checkpoint, encoder: str) -> tuple:
        """(encoder, decoder) in exact arithmetic."""
        greyscale = self.config.kind == Kind.GREYSCALE
        return (ExactMLP(mlp_linears(checkpoint.encoder(encoder)), 1 / 255 if greyscale else 1.0,
                         255.0 if greyscale else 1.0),
                ExactMLP(mlp_linears(checkpoint.decoder), 2.0**-ACTIVATION_BITS,
                         np.ceil(self.latents.z_max * 2**ACTIVATION_BITS)))

    @property
    def refine_steps(self) -> int:
        return self.refinement.steps

    @property
    def latent_dims(self) -> int:
        return self.config.latent

    def pops_per_image(self, warm: bool = False) -> int:
        """Symbols an image pops before it pushes: what the stack must hold for it
        (``warm``: with the warm-up codec, plain bits-back)."""
        particles = 1 if warm else self.particles
        return self.latent_dims * particles + (particles > 1)

    def encode(self, x: np.ndarray, mask: np.ndarray | None = None,
               refine: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Posterior (mean, std) of each image, each (B, latent): the encoder's, then
        refined on the image itself (``refine_steps``; ``mask``: the pixels that count).
        The last batch's result is kept: bits-back asks twice for the same images."""
        refine = refine and self.refinement.steps > 0
        key = (refine, x.shape, hash(x.tobytes()), None if mask is None else hash(mask.tobytes()))
        if self.last_posterior[0] != key:
            mean, log_std = np.split(self.encoder(x), 2, axis=-1)
            if refine:
                mean, log_std = self.refinement.run(mean, log_std, lambda z: self.loss_grad(z, x, mask))
            posterior = require_finite(mean, "latent means"), require_finite(np.exp(log_std), "latent stds")
            self.last_posterior = (key, posterior)
        return self.last_posterior[1]

    def loss_grad(self, z: np.ndarray, x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """d(-log p(x|z))/dz per image, exactly the same on both sides (see ExactMLP.backward)."""
        out, relu_masks = self.decoder.forward(np.round(z * 2.0**ACTIVATION_BITS))
        if self.config.kind == Kind.BINARY:
            grad = bernoulli_logits_loss_grad(out, x)
        else:
            raw_mean, raw_log_scale = np.split(out, 2, axis=-1)
            squashed = sigmoid(raw_mean)
            log_scale = np.clip(raw_log_scale, MIN_LOG_SCALE, MAX_LOG_SCALE)
            d_mean, d_log_scale = logistic256_loss_grad(squashed_mean(raw_mean), log_scale,
                                                        self.config.pixel_floor, x)
            inside = (raw_log_scale > MIN_LOG_SCALE) & (raw_log_scale < MAX_LOG_SCALE)
            grad = np.concatenate([d_mean * 256.0 * squashed * (1 - squashed), d_log_scale * inside], axis=-1)
        if mask is not None:
            grad = grad * np.tile(mask, grad.shape[-1] // mask.shape[-1])
        return self.decoder.backward(grad, relu_masks)

    def decode(self, z: np.ndarray):
        """Pixel laws: logits (binary) or (mean, log_scale) (greyscale), each (B, 784)."""
        z_int = z * 2.0**ACTIVATION_BITS
        if not np.array_equal(z_int, np.round(z_int)):
            raise CodingError("latent values must lie on the 2**-16 grid")
        out = self.decoder(z_int)
        if self.config.kind == Kind.BINARY:
            return out
        raw_mean, raw_log_scale = np.split(out, 2, axis=-1)
        return squashed_mean(raw_mean), np.clip(raw_log_scale, MIN_LOG_SCALE, MAX_LOG_SCALE)

    def pixels(self, params, mask: np.ndarray) -> Codec:
        if self.config.kind == Kind.BINARY:
            return masked(bernoulli_logits(params[mask]), mask)
        mean, log_scale = params
        return masked(logistic256(mean[mask], log_scale[mask], self.config.pixel_floor), mask)

    def pixel_log_probs(self, params, x: np.ndarray) -> np.ndarray:
        if self.config.kind == Kind.BINARY:
            return bernoulli_logits_log_prob(params, x)
        return logistic256_log_prob(*params, self.config.pixel_floor, x)

    def log_weights(self, x: np.ndarray, mask: np.ndarray, particles: np.ndarray,
                    refine: bool = True, cdf=ndtr) -> np.ndarray:
        """log p(x, z_k) - log Q(j_k|x) per image and particle (B, N), on the exact grid."""
        images, count, dims = particles.shape
        mean, std = self.encode(np.where(mask, x, 0), mask, refine)
        flat = particles.reshape(images * count, dims)
        params = self.decode(self.latents.z(flat))
        x_rep, mask_rep = np.repeat(x, count, axis=0), np.repeat(mask, count, axis=0)
        pixels = np.where(mask_rep, log_terms_on_grid(self.pixel_log_probs(params, x_rep)), 0.0).sum(axis=1)
        latent = log_terms_on_grid(self.latents.log_prior(flat, cdf) - self.latents.log_posterior(
            np.repeat(mean, count, axis=0), np.repeat(std, count, axis=0), flat, cdf)).sum(axis=1)
        return (pixels + latent).reshape(images, count)

    def estimate_bits(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """A cheap cost estimate per image (bits): log p(x, z) - log Q(z|x) at the latent
        nearest the posterior mean, the one-sample -ELBO without the sampling noise."""
        mean, _ = self.encode(np.where(mask, x, 0), mask, refine=False)
        return -self.log_weights(x, mask, self.latents.nearest(mean)[:, None, :], refine=False,
                                 cdf=approximate_ndtr)[:, 0] / np.log(2)

    def codec(self, mask: np.ndarray, warm: bool = False) -> Codec:
        """Bits-back codec for images (B, 784) whose pixels outside ``mask`` are not coded
        (the padding of edge tiles: zero on both sides, so Q(j|x) is the same); with
        several particles, importance-sampled bits-back (``warm``: plain bits-back, for
        the first batches, while the stack cannot yet pay for the particles' pops)."""
        def likelihood(j):
            return self.pixels(self.decode(self.latents.z(j)), mask)

        def posterior(x):
            return self.latents.posterior(*self.encode(np.where(mask, x, 0), mask))
        prior = self.latents.prior((len(mask), self.latent_dims))
        if self.particles == 1 or warm:
            return bits_back(prior, likelihood, posterior)
        return importance_bits_back(self.particles, len(mask), prior, likelihood, posterior,
                                    lambda x, particles: self.log_weights(x, mask, particles))
