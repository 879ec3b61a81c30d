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
FAMILIES = ("mlp", "local")
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
    features: int = 0  # local: learned feature maps

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}")
        if self.family == "local" and (self.latent != 0 or self.pixels != TILE_SIDE**2 or self.mixture < 1
                                       or self.features < 0 or not self.hidden):
            raise ValueError("the local family codes 28x28 tiles without a latent, "
                             "with at least one layer and one mixture component")
        if self.family == "mlp" and (self.mixture != 1 or self.features != 0):
            raise ValueError("mixture and features belong to the local family")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS} (what the coder runs exactly)")
        if not 0.0 <= self.pixel_floor < 1.0 or (self.pixel_floor and self.likelihood != "logistic256"):
            raise ValueError("pixel_floor must lie in [0, 1) and needs the logistic256 likelihood")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @property
    def has_latent(self) -> bool:
        return self.family == "mlp"

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
        return values

    def decoder_shapes(self) -> dict[str, tuple[int, ...]]:
        return mlp_shapes(self.decoder_sizes) if self.family == "mlp" else local_shapes(self)

    def encoder_shapes(self) -> dict[str, tuple[int, ...]]:
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
    """Parameter names and shapes of ``model.local.LocalModel``."""
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
