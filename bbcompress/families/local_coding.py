"""The local family: a causal local head with no latent. Each pixel's law comes from
its already-coded neighbours through masked convolutions, first ``LOCAL_KERNELS[0]``
with the centre excluded, then ``LOCAL_KERNELS[1]`` layers (``hidden``: their channels),
plus ``features`` learned maps that enter every layer by a 1x1 convolution; a mixture of
``mixture`` discretized logistics per pixel (greyscale) or one logit (binary).

As a codec: the exact causal network (``codec.causal``) gives every pixel its law,
coded as 8 binary decisions (``codec.mixture``) in raster order. No latent, so no
bits-back: the rate is exactly -log2 p(x) plus the coder's rounding, and the initial
bits are only the stack's one sealed seed word.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..codec.autoregressive import autoregressive, binary_pixels, log_prob
from ..codec.causal import ExactCausalNet
from ..codec.core import Codec, batch_done
from ..codec.exact import ACTIVATION_BITS
from ..codec.mixture import mixture_pixels
from ..codec.pixels import MEAN_OF_PREDICTOR
from ..errors import CodingError
from ..kinds import Kind
from ..io.images import TILE_SIDE
from .config import MAX_LOG_SCALE, MIN_LOG_SCALE, ModelConfig

if TYPE_CHECKING:
    from ..checkpoint import Checkpoint

LOCAL_KERNELS = (5, 3)  # first masked layer (centre excluded), later ones (centre included)
DEFAULTS = {"hidden": (64, 64), "mixture": 5, "features": 16}

# Decoding steps through 784 pixels one at a time: the more images per step, the less
# numpy overhead per image (benchmarks/results/local-speed.md).
LOCAL_MAX_BATCH = 500
ENCODE_CHUNK = 50  # images per all-pixels pass: bounds the gathered taps' memory (~100 MB)


def check_causal_tile_model(config: ModelConfig, also: bool = True, why: str = "", width: bool = False,
                            any_size: bool = False) -> None:
    """A causal pixel model of 28x28 tiles without a latent (``also``: the family's own
    rule; ``width``: whether the family takes one; ``any_size``: trained on other squares)."""
    if (config.latent != 0 or (config.pixels != TILE_SIDE**2 and not any_size) or config.mixture < 1
            or config.features < 0
            or not config.hidden or (config.width != 0 and not width) or not also):
        raise ValueError(f"the {config.family} family codes 28x28 tiles without a latent, with at least "
                         f"one layer and one mixture component{why}")


def validate(config: ModelConfig) -> None:
    check_causal_tile_model(config)


def causal_tile_config(family: str, defaults: dict, likelihood: str, pixels: int, hidden=None, latent=None,
                       mixture=None, features=None, pixel_floor=0.0, width=None) -> ModelConfig:
    """The configuration ``train`` makes for a family without a latent; None: its default."""
    if latent:
        raise ValueError(f"the {family} family has no latent")
    return ModelConfig(likelihood, pixels, hidden or defaults["hidden"], 0, "relu", pixel_floor, family,
                       mixture or defaults["mixture"], defaults["features"] if features is None else features,
                       defaults.get("width", 0) if width is None else width)


def config_from_options(likelihood: str, pixels: int, hidden=None, latent=None, mixture=None, features=None,
                        pixel_floor=0.0, **unused) -> ModelConfig:
    return causal_tile_config("local", DEFAULTS, likelihood, pixels, hidden, latent, mixture, features, pixel_floor)


def decoder_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of ``families.local.LocalModel`` (a conv VAE's head too)."""
    side, channels = TILE_SIDE, (1, *config.hidden)
    shapes = {"features": (config.features, side, side)}
    for i, (n_in, n_out) in enumerate(zip(channels[:-1], channels[1:])):
        kernel = LOCAL_KERNELS[min(i, 1)]
        shapes[f"layers.{i}.taps.weight"] = (n_out, n_in, kernel, kernel)
        shapes[f"layers.{i}.taps.bias"] = (n_out,)
        shapes[f"layers.{i}.features.weight"] = (n_out, config.features, 1, 1)
    shapes["out.weight"] = (config.local_outputs, channels[-1], 1, 1)
    shapes["out.bias"] = (config.local_outputs,)
    return shapes


def causal_net(config, weights: dict, prefix: str = "", added_bound: float = 0.0) -> ExactCausalNet:
    """The exact causal head of a local model (or of a conv VAE's, its weights under
    ``prefix``; ``added_bound``: how large the maps its decoder adds may be)."""
    features = np.asarray(weights[f"{prefix}features"], dtype=np.float64).reshape(config.features, -1).T
    layers = [(weights[f"{prefix}layers.{i}.taps.weight"], weights[f"{prefix}layers.{i}.taps.bias"],
               weights[f"{prefix}layers.{i}.features.weight"][:, :, 0, 0], LOCAL_KERNELS[min(i, 1)], i > 0)
              for i in range(len(config.hidden))]
    out = (weights[f"{prefix}out.weight"][:, :, 0, 0], weights[f"{prefix}out.bias"])
    return ExactCausalNet(TILE_SIDE, 255 if config.kind == Kind.GREYSCALE else 1, layers, out,
                          np.round(features * 2.0**ACTIVATION_BITS), added_bound)


def exact_network(checkpoint: Checkpoint) -> ExactCausalNet:
    try:
        return causal_net(checkpoint.config, checkpoint.decoder)
    except (ValueError, OverflowError) as e:
        raise CodingError(f"this model cannot drive the coder: {e}") from None


class LocalCoding:
    """The codec of a batch of 784-pixel tiles for one local-family checkpoint."""

    max_batch = LOCAL_MAX_BATCH
    particles, refine_steps = 1, 0  # no latent: nothing to sample or refine (the plainest header)
    network = staticmethod(exact_network)  # the family's exact network of a checkpoint

    def __init__(self, checkpoint: Checkpoint, settings=None):
        """``settings``: ignored; every level codes a model without a latent the same way."""
        self.config = checkpoint.config
        self.net = self.network(checkpoint)
        self.law = binary_pixels() if self.config.kind == Kind.BINARY else mixture_pixels(
            self.config.mixture, self.config.pixel_floor, MIN_LOG_SCALE, MAX_LOG_SCALE,
            MEAN_OF_PREDICTOR[self.config.predictor])

    def pops_per_image(self, warm: bool = False) -> int:
        return 0  # nothing is popped before it is pushed: the seed needs no more than its one word

    def laws(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Raw laws (B, 784, 3K) of every pixel, from whole tiles (a batch's push: its
        progress moves by chunk). Pixels outside ``mask`` are zero pixels here; a family
        may see them otherwise (``WideCoding``)."""
        return in_chunks(self.net, x, reporting=True)

    def approximate_laws(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """About the same laws from the float32 network (~3x faster than exact)."""
        return in_chunks(self.net.approximate, x)

    def codec(self, mask: np.ndarray, warm: bool = False) -> Codec:
        return autoregressive(lambda x: self.laws(x, mask), self.net.stepper, self.law, mask)

    def exact_bits(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """-log2 p(x) per image as the coder charges it (to within the stack's last word)."""
        return self.bits_from(self.laws(np.where(mask, x, 0), mask), x, mask,
                              lambda raw, v: log_prob(self.law, raw, v))

    def estimate_bits(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """About -log2 p(x) per image, from the float32 network: what choosing a model needs."""
        return self.bits_from(self.approximate_laws(np.where(mask, x, 0), mask), x, mask, self.law.estimate)

    @staticmethod
    def bits_from(raw: np.ndarray, x: np.ndarray, mask: np.ndarray, log_prob_of) -> np.ndarray:
        log_p = log_prob_of(raw[mask], x[mask])
        per_image = np.zeros(len(x))
        np.add.at(per_image, np.nonzero(mask)[0], log_p)
        return -per_image / np.log(2)


def in_chunks(network, x: np.ndarray, biases: list[np.ndarray] | None = None,
              reporting: bool = False) -> np.ndarray:
    """``network`` over ENCODE_CHUNK images at a time (with their per-image ``biases``,
    if any), the outputs joined; ``reporting``: each chunk done is progress of the batch."""
    outputs = []
    for start in range(0, len(x), ENCODE_CHUNK):
        chunk = slice(start, start + ENCODE_CHUNK)
        outputs.append(network(x[chunk]) if biases is None else network(x[chunk], [b[chunk] for b in biases]))
        if reporting:
            batch_done(min(1.0, (start + ENCODE_CHUNK) / len(x)))
    return np.concatenate(outputs)
