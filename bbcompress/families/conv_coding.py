"""The conv family: a convolutional VAE. A conv encoder (28 -> 14 -> 7, ``width``
channels) gives q(z|x) over ``latent`` dims; a transposed-conv decoder (7 -> 14 -> 28)
gives per-pixel maps. Without ``hidden`` layers those maps are the pixel laws themselves
(all pixels independent given z); with them they are ``features`` maps that feed a
causal local head shaped like the local family's (added to its learned constant maps),
so the latent carries what the small causal context cannot see.

As a bits-back codec: the exact conv encoder gives q(z|x),
the exact transposed-conv decoder maps z to per-pixel maps, and those are either the
pixel laws (coded all at once) or the per-image biases of the exact causal head (coded
in raster order, as ``local_coding``). Everything around the latent (discretized
schemes, BB-IS particles, the chain of batches) is the mlp family's ``MLPCoding``.

Per-image refinement needs the exact backward pass of these networks, which the coder
does not have: a conv model codes with refinement 0 at every level.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..codec.bits_back import CodingSettings
from ..codec.autoregressive import autoregressive, binary_pixels, independent, log_prob
from ..codec.conv import ConvSpec, ExactConvNet
from ..codec.core import Codec
from ..codec.exact import ACTIVATION_BITS
from ..codec.latents import ndtr
from ..codec.mixture import mixture_pixels
from ..errors import CodingError
from ..kinds import Kind
from ..io.images import TILE_SIDE
from .config import MAX_LOG_SCALE, MIN_LOG_SCALE, ModelConfig
from .local_coding import causal_net, in_chunks, local_shapes
from .mlp_coding import MLPCoding

if TYPE_CHECKING:
    from ..checkpoint import Checkpoint

# Each image of a batch holds its head biases (784 x 64 x 8 bytes per layer: 0.8 MB for
# two layers); the decoder steps through 784 pixels, so larger batches spread its
# per-step overhead. Full-tile passes go ENCODE_CHUNK images at a time (``in_chunks``).
CONV_MAX_BATCH = 200
GRID = 2.0**ACTIVATION_BITS
# A conv VAE has no exact backward pass to refine with: its levels add particles only.
# Each particle costs a decoder and a head pass per image on both sides; the gains
# shrink with each doubling (validation IWAE-K of the conv model: K = 2, 4, 8, 16 gain
# 0.005, 0.009, 0.011, 0.013 bits/dim over the ELBO), so the default level takes 2.
LEVELS = {level: (particles, 0) for level, particles in
          {1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 4, 7: 6, 8: 8, 9: 16}.items()}
DEFAULTS = {"hidden": (64, 64), "latent": 32, "mixture": 5, "features": 16, "width": 32}

# The conv family's layers: (name, kind, kernel, stride, padding) in order. The encoder maps
# 1x28x28 -> width x14x14 -> width x7x7 -> a linear to 2 * latent; the decoder a linear
# latent -> width x7x7, then transposed convs to 14x14 and 28x28, then a 1x1 to its maps.
CONV_ENCODER = (("convs.0", "conv", 4, 2, 1), ("convs.1", "conv", 4, 2, 1), ("out", "linear", 0, 0, 0))
CONV_DECODER = (("inp", "linear", 0, 0, 0), ("ups.0", "tconv", 4, 2, 1), ("ups.1", "tconv", 4, 2, 1),
                ("maps", "conv", 1, 1, 0))
CONV_GRID = 7  # the side of the encoder's last and the decoder's first maps


def validate(config: ModelConfig) -> None:
    if (config.width < 1 or config.latent < 1 or config.pixels != TILE_SIDE**2 or config.mixture < 1
            or (config.hidden and config.features < 1)):
        raise ValueError("the conv family codes 28x28 tiles with a latent, a width, one or more "
                         "mixture components, and feature maps when it has a head")


def config_from_options(likelihood: str, pixels: int, hidden=None, latent=None, mixture=None, features=None,
                        width=None, pixel_floor=0.0, **unused) -> ModelConfig:
    """The configuration ``train`` makes; None takes the family's default."""
    head = tuple(w for w in (hidden or DEFAULTS["hidden"]) if w)  # --hidden 0: no head
    features = features or DEFAULTS["features"]
    return ModelConfig(likelihood, pixels, head, latent or DEFAULTS["latent"], "relu", pixel_floor, "conv",
                       mixture or DEFAULTS["mixture"], features if head else 0, width or DEFAULTS["width"])


def encoder_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    w, flat = config.width, config.width * CONV_GRID**2
    return {"convs.0.weight": (w, 1, 4, 4), "convs.0.bias": (w,), "convs.1.weight": (w, w, 4, 4),
            "convs.1.bias": (w,), "out.weight": (2 * config.latent, flat), "out.bias": (2 * config.latent,)}


def decoder_maps(config: ModelConfig) -> int:
    """Maps the decoder gives: the head's features, or every pixel's raw law."""
    return config.features if config.has_head else config.local_outputs


def decoder_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    w, maps = config.width, decoder_maps(config)
    shapes = {"inp.weight": (w * CONV_GRID**2, config.latent), "inp.bias": (w * CONV_GRID**2,),
              "ups.0.weight": (w, w, 4, 4), "ups.0.bias": (w,), "ups.1.weight": (w, w, 4, 4),
              "ups.1.bias": (w,), "maps.weight": (maps, w, 1, 1), "maps.bias": (maps,)}
    if config.has_head:
        shapes.update({f"head.{k}": v for k, v in local_shapes(config).items()})
    return shapes


def exact_layers(state: dict, table, linear_shape: tuple | None = None) -> list:
    """(spec, weight, bias) of each layer of ``CONV_ENCODER`` or ``CONV_DECODER``; a
    linear layer hands ``linear_shape`` maps on."""
    return [(ConvSpec(kind, kernel, stride, padding, linear_shape if kind == "linear" else None),
             state[f"{name}.weight"], state[f"{name}.bias"]) for name, kind, kernel, stride, padding in table]


def encoder_net(state: dict, config) -> ExactConvNet:
    top = 255 if config.kind == Kind.GREYSCALE else 1
    return ExactConvNet(exact_layers(state, CONV_ENCODER), 1 / top, float(top), input_shape=(TILE_SIDE, TILE_SIDE, 1))


def decoder_net(state: dict, config, z_max: float) -> ExactConvNet:
    layers = exact_layers(state, CONV_DECODER, (config.width, CONV_GRID, CONV_GRID))
    return ExactConvNet(layers, 1 / GRID, np.ceil(z_max * GRID))


class ConvCoding(MLPCoding):
    """The codec of a batch of 784-pixel tiles for one conv-family checkpoint and encoder."""

    max_batch = CONV_MAX_BATCH

    def __init__(self, checkpoint: Checkpoint, settings: CodingSettings = CodingSettings("amortized")):
        if settings.refine_steps:
            raise CodingError("per-image refinement needs the mlp family; a conv model codes without it")
        super().__init__(checkpoint, settings)
        config = self.config
        self.law = binary_pixels() if config.kind == Kind.BINARY else mixture_pixels(
            config.mixture, config.pixel_floor, MIN_LOG_SCALE, MAX_LOG_SCALE)

    def exact_networks(self, checkpoint: Checkpoint, encoder: str) -> tuple:
        """(encoder, decoder) in exact arithmetic, and the head the decoder feeds."""
        decoder = decoder_net(checkpoint.decoder, self.config, self.latents.z_max)
        # the head's maps are the decoder's output floored to the grid: one unit more at most
        self.head = causal_net(self.config, checkpoint.decoder, "head.",
                               np.ceil(decoder.output_bound * GRID) + 1) if self.config.has_head else None
        return encoder_net(checkpoint.encoder(encoder), self.config), decoder

    def decode(self, z: np.ndarray):
        """Per image: the head's layer biases (with a head), else every pixel's raw law."""
        z_int = z * GRID
        if not np.array_equal(z_int, np.round(z_int)):
            raise CodingError("latent values must lie on the 2**-16 grid")
        maps = self.decoder(z_int).reshape(len(z), TILE_SIDE**2, decoder_maps(self.config))
        if self.head is None:
            return maps
        return self.head.biases(np.floor(maps * GRID))

    def laws(self, params, x: np.ndarray) -> np.ndarray:
        """Raw laws (B, 784, L) of every pixel of whole tiles x."""
        return params if self.head is None else in_chunks(self.head, x, params)

    def pixels(self, params, mask: np.ndarray) -> Codec:
        if self.head is None:
            return independent(params, self.law, mask)
        return autoregressive(lambda x: self.laws(params, x), lambda count: self.head.stepper(count, params),
                              self.law, mask)

    def pixel_log_probs(self, params, x: np.ndarray) -> np.ndarray:
        """log P(x) per pixel (B, 784) as the coder charges it."""
        raw = self.laws(params, x)
        flat = log_prob(self.law, raw.reshape(-1, raw.shape[-1]), x.ravel())
        return flat.reshape(x.shape)

    def log_weights(self, x: np.ndarray, mask: np.ndarray, particles: np.ndarray,
                    refine: bool = True, cdf=ndtr) -> np.ndarray:
        """As ``MLPCoding.log_weights``, one particle at a time (a particle's head biases
        for a whole batch are already ~40 MB)."""
        return np.concatenate([MLPCoding.log_weights(self, x, mask, particles[:, k:k + 1], refine, cdf)
                               for k in range(particles.shape[1])], axis=1)

