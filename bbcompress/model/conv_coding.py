"""A conv-family checkpoint as a bits-back codec: the exact conv encoder gives q(z|x),
the exact transposed-conv decoder maps z to per-pixel maps, and those are either the
pixel laws (coded all at once) or the per-image biases of the exact causal head (coded
in raster order, as ``local_coding``). Everything around the latent (discretized
schemes, BB-IS particles, the chain of batches) is the MLP VAE's ``VAECoding``.

Per-image refinement needs the exact backward pass of these networks, which the coder
does not have: a conv model codes with refinement 0 at every level.
"""
from __future__ import annotations

import numpy as np

from ..codec.autoregressive import autoregressive, binary_pixels, independent, log_prob
from ..codec.conv import ConvSpec, ExactConvNet
from ..codec.core import Codec
from ..codec.exact import ACTIVATION_BITS
from ..codec.latents import latent_scheme
from ..codec.mixture import mixture_pixels
from ..codec.refinement import Refinement
from ..errors import CodingError
from ..kinds import Kind
from .checkpoint import Checkpoint
from .coding import VAECoding
from .config import (CONV_DECODER, CONV_ENCODER, CONV_GRID, MAX_LOG_SCALE, MIN_LOG_SCALE, TILE_SIDE,
                     conv_decoder_maps)
from .local_coding import causal_net, in_chunks

# Each image of a batch holds its head biases (784 x 64 x 8 bytes per layer: 0.8 MB for
# two layers); the decoder steps through 784 pixels, so larger batches spread its
# per-step overhead. Full-tile passes go ENCODE_CHUNK images at a time (``in_chunks``).
CONV_MAX_BATCH = 200
GRID = 2.0**ACTIVATION_BITS


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


class ConvCoding(VAECoding):
    """The codec of a batch of 784-pixel tiles for one conv-family checkpoint and encoder."""

    max_batch = CONV_MAX_BATCH

    def __init__(self, checkpoint: Checkpoint, encoder: str, scheme: str = "buckets", bits: int = 8,
                 particles: int = 1, refine_steps: int = 0):
        if refine_steps:
            raise CodingError("per-image refinement needs the mlp family; a conv model codes without it")
        self.config = config = checkpoint.config
        self.particles = particles
        self.refinement = Refinement(0, config.latent)
        self.last_posterior: tuple = (None, None)
        self.latents = latent_scheme(scheme, bits)
        try:
            self.encoder = encoder_net(checkpoint.encoder(encoder), config)
            self.decoder = decoder_net(checkpoint.decoder, config, self.latents.z_max)
            # the head's maps are the decoder's output floored to the grid: one unit more at most
            self.head = causal_net(config, checkpoint.decoder, "head.", np.ceil(self.decoder.output_bound * GRID) + 1) \
                if config.has_head else None
        except (ValueError, OverflowError) as e:
            raise CodingError(f"this model cannot drive the coder: {e}") from None
        self.law = binary_pixels() if config.kind == Kind.BINARY else mixture_pixels(
            config.mixture, config.pixel_floor, MIN_LOG_SCALE, MAX_LOG_SCALE)

    def decode(self, z: np.ndarray):
        """Per image: the head's layer biases (with a head), else every pixel's raw law."""
        z_int = z * GRID
        if not np.array_equal(z_int, np.round(z_int)):
            raise CodingError("latent values must lie on the 2**-16 grid")
        maps = self.decoder(z_int).reshape(len(z), TILE_SIDE**2, conv_decoder_maps(self.config))
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
                    refine: bool = True) -> np.ndarray:
        """As ``VAECoding.log_weights``, one particle at a time (a particle's head biases
        for a whole batch are already ~40 MB)."""
        return np.concatenate([VAECoding.log_weights(self, x, mask, particles[:, k:k + 1])
                               for k in range(particles.shape[1])], axis=1)

