"""The configuration of a VAE (no torch): sizes, likelihood, pixel floor, weight shapes.

Likelihoods: ``bernoulli`` (binary pixels, one logit per pixel) and ``logistic256``
(8-bit pixels, a logistic discretized to 256 bins of width 1 centred on 0..255, the
first and last open-ended; a mean and a log-scale per pixel). With ``pixel_floor`` e > 0
the pixel law is (1 - e) * logistic + e * uniform(256), so no level ever costs more than
log2(256 / e) bits.

Families: ``mlp`` (the seed's VAE: MLP encoder and decoder, independent pixels) and
``local`` (a causal local head: each pixel's law comes from its already-coded
neighbours through masked convolutions, first ``LOCAL_KERNELS[0]`` with the centre
excluded, then ``LOCAL_KERNELS[1]`` layers, plus ``features`` learned maps that enter
every layer by a 1x1 convolution; a mixture of ``mixture`` discretized logistics per
pixel (greyscale) or one logit (binary); ``hidden`` are the layers' channels). ``local`` has no latent (``latent`` = 0):
it is the no-latent ablation the issue asks for, and codes without bits-back.

``conv`` is a convolutional VAE: a conv encoder (28 -> 14 -> 7, ``width`` channels) gives
q(z|x) over ``latent`` dims; a transposed-conv decoder (7 -> 14 -> 28) gives per-pixel
maps. Without ``hidden`` layers those maps are the pixel laws themselves (all pixels
independent given z); with them they are ``features`` maps that feed a causal local head
shaped like the ``local`` family's (added to its learned constant maps), so the latent
carries what the small causal context cannot see.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..kinds import LIKELIHOOD_OF_KIND, Kind

LIKELIHOODS = tuple(LIKELIHOOD_OF_KIND.values())
# Only ReLU networks run in the coder's exact arithmetic (codec/exact.py).
ACTIVATIONS = ("relu",)
# A logistic's log-scale is clamped: below, no bin gets probability exactly 1; above,
# (a scale of ~1100 levels is already flat over 0..255) no bin underflows to 0.
MIN_LOG_SCALE, MAX_LOG_SCALE = -7.0, 7.0
FAMILIES = ("mlp", "local", "conv")
LOCAL_KERNELS = (5, 3)  # first masked layer (centre excluded), later ones (centre included)
TILE_SIDE = 28


@dataclass(frozen=True)
class VAEConfig:
    likelihood: str
    pixels: int = 784
    hidden: tuple[int, ...] = (500, 500)
    latent: int = 10
    activation: str = "relu"
    pixel_floor: float = 0.0  # logistic256 only: weight of a uniform mixture component
    family: str = "mlp"
    mixture: int = 1  # local: logistic components per pixel
    features: int = 0  # local: learned feature maps; conv: maps the decoder gives the head
    width: int = 0  # conv: channels of the encoder's and decoder's convolutions

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}")
        if self.family == "local" and (self.latent != 0 or self.pixels != TILE_SIDE**2 or self.mixture < 1
                                       or self.features < 0 or not self.hidden):
            raise ValueError("the local family codes 28x28 tiles without a latent, "
                             "with at least one layer and one mixture component")
        if self.family == "mlp" and (self.mixture != 1 or self.features != 0):
            raise ValueError("mixture and features belong to the local family")
        if (self.width != 0) != (self.family == "conv"):
            raise ValueError("width belongs to the conv family, which needs it")
        if self.family == "conv" and (self.latent < 1 or self.pixels != TILE_SIDE**2 or self.mixture < 1
                                      or (self.hidden and self.features < 1)):
            raise ValueError("the conv family codes 28x28 tiles with a latent, one or more mixture "
                             "components, and feature maps when it has a head")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS} (what the coder runs exactly)")
        if not 0.0 <= self.pixel_floor < 1.0 or (self.pixel_floor and self.likelihood != "logistic256"):
            raise ValueError("pixel_floor must lie in [0, 1) and needs the logistic256 likelihood")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @property
    def has_latent(self) -> bool:
        return self.family != "local"

    @property
    def has_head(self) -> bool:
        """Pixels coded in raster order through a causal local head."""
        return self.family == "local" or (self.family == "conv" and bool(self.hidden))

    @property
    def kind(self) -> Kind:
        return Kind.of_likelihood(self.likelihood)

    @property
    def local_outputs(self) -> int:
        """local: raw law per pixel: one logit (binary), or K weights, means, log-scales."""
        return 1 if self.kind == Kind.BINARY else 3 * self.mixture

    @property
    def params_per_pixel(self) -> int:
        return 1 if self.kind == Kind.BINARY else 2

    @property
    def encoder_sizes(self) -> list[int]:
        return [self.pixels, *self.hidden, 2 * self.latent]

    @property
    def decoder_sizes(self) -> list[int]:
        return [self.latent, *reversed(self.hidden), self.params_per_pixel * self.pixels]

    def to_json(self) -> dict:
        """The card's form; an MLP's is what it was before families existed."""
        values = {**asdict(self), "hidden": list(self.hidden)}
        if self.family == "mlp":
            for key in ("family", "mixture", "features"):
                del values[key]
        if self.family != "conv":
            del values["width"]  # cards written before the conv family keep their form
        return values

    def decoder_shapes(self) -> dict[str, tuple[int, ...]]:
        if self.family == "conv":
            return conv_decoder_shapes(self)
        return mlp_shapes(self.decoder_sizes) if self.family == "mlp" else local_shapes(self)

    def encoder_shapes(self) -> dict[str, tuple[int, ...]]:
        if self.family == "conv":
            return conv_encoder_shapes(self)
        return mlp_shapes(self.encoder_sizes) if self.has_latent else {}


def mlp_shapes(sizes: list[int]) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of ``nn.Sequential(Linear, ReLU, Linear, ...)``."""
    shapes = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"net.{2 * i}.weight"] = (n_out, n_in)
        shapes[f"net.{2 * i}.bias"] = (n_out,)
    return shapes


def mlp_linears(state: dict) -> list[tuple]:
    """The (weight, bias) pairs of an MLP state dict, in layer order."""
    indices = sorted({int(k.split(".")[1]) for k in state})
    return [(state[f"net.{i}.weight"], state[f"net.{i}.bias"]) for i in indices]


def local_shapes(config: VAEConfig) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of ``model.local.LocalModel`` (a conv VAE's head too)."""
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


# The conv family's layers: (name, kind, kernel, stride, padding) in order. The encoder maps
# 1x28x28 -> width x14x14 -> width x7x7 -> a linear to 2 * latent; the decoder a linear
# latent -> width x7x7, then transposed convs to 14x14 and 28x28, then a 1x1 to its maps.
CONV_ENCODER = (("convs.0", "conv", 4, 2, 1), ("convs.1", "conv", 4, 2, 1), ("out", "linear", 0, 0, 0))
CONV_DECODER = (("inp", "linear", 0, 0, 0), ("ups.0", "tconv", 4, 2, 1), ("ups.1", "tconv", 4, 2, 1),
                ("maps", "conv", 1, 1, 0))
CONV_GRID = 7  # the side of the encoder's last and the decoder's first maps


def conv_encoder_shapes(config: VAEConfig) -> dict[str, tuple[int, ...]]:
    w, flat = config.width, config.width * CONV_GRID**2
    return {"convs.0.weight": (w, 1, 4, 4), "convs.0.bias": (w,), "convs.1.weight": (w, w, 4, 4),
            "convs.1.bias": (w,), "out.weight": (2 * config.latent, flat), "out.bias": (2 * config.latent,)}


def conv_decoder_maps(config: VAEConfig) -> int:
    """Maps the decoder gives: the head's features, or every pixel's raw law."""
    return config.features if config.has_head else config.local_outputs


def conv_decoder_shapes(config: VAEConfig) -> dict[str, tuple[int, ...]]:
    w, maps = config.width, conv_decoder_maps(config)
    shapes = {"inp.weight": (w * CONV_GRID**2, config.latent), "inp.bias": (w * CONV_GRID**2,),
              "ups.0.weight": (w, w, 4, 4), "ups.0.bias": (w,), "ups.1.weight": (w, w, 4, 4),
              "ups.1.bias": (w,), "maps.weight": (maps, w, 1, 1), "maps.bias": (maps,)}
    if config.has_head:
        shapes.update({f"head.{k}": v for k, v in local_shapes(config).items()})
    return shapes
