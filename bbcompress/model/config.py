"""The configuration of a VAE (no torch): sizes, likelihood, pixel floor, weight shapes.

Likelihoods: ``bernoulli`` (binary pixels, one logit per pixel) and ``logistic256``
(8-bit pixels, a logistic discretized to 256 bins of width 1 centred on 0..255, the
first and last open-ended; a mean and a log-scale per pixel). With ``pixel_floor`` e > 0
the pixel law is (1 - e) * logistic + e * uniform(256), so no level ever costs more than
log2(256 / e) bits.
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


@dataclass(frozen=True)
class VAEConfig:
    likelihood: str
    pixels: int = 784
    hidden: tuple[int, ...] = (500, 500)
    latent: int = 10
    activation: str = "relu"
    pixel_floor: float = 0.0  # logistic256 only: weight of a uniform mixture component

    def __post_init__(self):
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS} (what the coder runs exactly)")
        if not 0.0 <= self.pixel_floor < 1.0 or (self.pixel_floor and self.likelihood != "logistic256"):
            raise ValueError("pixel_floor must lie in [0, 1) and needs the logistic256 likelihood")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    @property
    def kind(self) -> Kind:
        return Kind.of_likelihood(self.likelihood)

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
        return {**asdict(self), "hidden": list(self.hidden)}


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
