"""A checkpoint's VAE as bits-back codecs: exact networks, latent scheme, pixel law.

Both networks run through ``ExactMLP`` (integer-valued float64 arithmetic), so the
encoding and decoding sides of an archive compute bit-identical laws whatever the
thread count, batch size or BLAS. The likelihood heads (sigmoid, clamp) are elementwise
numpy on those exact outputs. No torch here: numpy weights from the checkpoint.
"""
from __future__ import annotations

import numpy as np

from ..codec.bits_back import DEFAULT_MAX_BATCH, bits_back
from ..codec.core import Codec, masked, require_finite
from ..codec.importance import importance_bits_back, on_grid
from ..codec.exact import ACTIVATION_BITS, ExactMLP
from ..codec.latents import latent_scheme
from ..codec.pixels import (bernoulli_logits, bernoulli_logits_log_prob, bernoulli_logits_loss_grad,
                            logistic256, logistic256_log_prob, logistic256_loss_grad, sigmoid)
from ..codec.refinement import Refinement
from ..errors import CodingError
from ..kinds import Kind
from .checkpoint import Checkpoint
from .config import MAX_LOG_SCALE, MIN_LOG_SCALE, mlp_linears


class VAECoding:
    """The codec of a batch of 784-pixel tiles for one checkpoint and encoder."""

    max_batch = DEFAULT_MAX_BATCH

    def __init__(self, checkpoint: Checkpoint, encoder: str, scheme: str = "buckets", bits: int = 8,
                 particles: int = 1, refine_steps: int = 0):
        self.config = checkpoint.config
        self.particles = particles
        self.refinement = Refinement(refine_steps, self.config.latent)
        self.last_posterior: tuple = (None, None)
        self.latents = latent_scheme(scheme, bits)
        greyscale = self.config.kind == Kind.GREYSCALE
        try:
            self.encoder = ExactMLP(mlp_linears(checkpoint.encoder(encoder)),
                                    1 / 255 if greyscale else 1.0, 255.0 if greyscale else 1.0)
            self.decoder = ExactMLP(mlp_linears(checkpoint.decoder), 2.0**-ACTIVATION_BITS,
                                    np.ceil(self.latents.z_max * 2**ACTIVATION_BITS))
        except ValueError as e:
            raise CodingError(f"this model cannot drive the coder: {e}") from None

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
            d_mean, d_log_scale = logistic256_loss_grad(256.0 * squashed - 0.5, log_scale,
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
        with np.errstate(over="ignore"):
            mean = 256.0 / (1.0 + np.exp(-raw_mean)) - 0.5
        return mean, np.clip(raw_log_scale, MIN_LOG_SCALE, MAX_LOG_SCALE)

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
                    refine: bool = True) -> np.ndarray:
        """log p(x, z_k) - log Q(j_k|x) per image and particle (B, N), on the exact grid."""
        images, count, dims = particles.shape
        mean, std = self.encode(np.where(mask, x, 0), mask, refine)
        flat = particles.reshape(images * count, dims)
        params = self.decode(self.latents.z(flat))
        x_rep, mask_rep = np.repeat(x, count, axis=0), np.repeat(mask, count, axis=0)
        pixels = np.where(mask_rep, on_grid(self.pixel_log_probs(params, x_rep)), 0.0).sum(axis=1)
        latent = on_grid(self.latents.log_prior(flat) - self.latents.log_posterior(
            np.repeat(mean, count, axis=0), np.repeat(std, count, axis=0), flat)).sum(axis=1)
        return (pixels + latent).reshape(images, count)

    def estimate_bits(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """A cheap cost estimate per image (bits): log p(x, z) - log Q(z|x) at the latent
        nearest the posterior mean, the one-sample -ELBO without the sampling noise."""
        mean, _ = self.encode(np.where(mask, x, 0), mask, refine=False)
        return -self.log_weights(x, mask, self.latents.nearest(mean)[:, None, :], refine=False)[:, 0] / np.log(2)

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
