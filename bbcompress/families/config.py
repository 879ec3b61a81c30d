"""The configuration of a model of any family (no torch): likelihood, sizes, pixel floor.

Likelihoods: ``bernoulli`` (binary pixels, one logit per pixel) and ``logistic256``
(8-bit pixels, a logistic discretized to 256 bins of width 1 centred on 0..255, the
first and last open-ended; a mean and a log-scale per pixel). With ``pixel_floor`` e > 0
the pixel law is (1 - e) * logistic + e * uniform(256), so no level ever costs more than
log2(256 / e) bits.

What the other fields mean, which a family uses, and its weight shapes belong to the
family (``families/__init__.py`` lists them; each family's coding module says what its
fields mean). A configuration is checked by its family as it is made.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..kinds import LIKELIHOOD_OF_KIND, Kind

LIKELIHOODS = tuple(LIKELIHOOD_OF_KIND.values())
# Only ReLU networks run in the coder's exact arithmetic (codec/exact.py).
ACTIVATIONS = ("relu",)
# A logistic's log-scale is clamped: below, no bin gets probability exactly 1; above,
# (a scale of ~1100 levels is already flat over 0..255) no bin underflows to 0.
MIN_LOG_SCALE, MAX_LOG_SCALE = -7.0, 7.0
DEFAULT_FAMILY = "mlp"  # the seed's VAE: cards written before families existed name none


@dataclass(frozen=True)
class ModelConfig:
    likelihood: str
    pixels: int = 784
    hidden: tuple[int, ...] = (500, 500)
    latent: int = 10
    activation: str = "relu"
    pixel_floor: float = 0.0  # logistic256 only: weight of a uniform mixture component
    family: str = DEFAULT_FAMILY
    mixture: int = 1  # logistic components per pixel (local, conv)
    features: int = 0  # learned feature maps (local); maps the decoder gives the head (conv)
    width: int = 0  # channels of the encoder's and decoder's convolutions (conv); of the output layer (wide)
    context: str = ""  # a variant of the family's context ("": its own; wide: "cone")
    predictor: str = ""  # how a logistic's mean is made ("": 256 sigmoid(raw); wide: "linear")

    def __post_init__(self):
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS} (what the coder runs exactly)")
        if not 0.0 <= self.pixel_floor < 1.0 or (self.pixel_floor and self.likelihood != "logistic256"):
            raise ValueError("pixel_floor must lie in [0, 1) and needs the logistic256 likelihood")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        sizes = (self.pixels, self.latent, self.mixture, self.features, self.width, *self.hidden)
        if not all(isinstance(n, int) for n in sizes) or min(sizes) < 0 or min(self.hidden, default=1) < 1:
            raise ValueError("sizes must be whole numbers, hidden layers at least 1 wide")
        if self.context not in self.spec.contexts:
            raise ValueError(f"the {self.family} family's context is one of {self.spec.contexts}, "
                             f"not {self.context!r}")
        if self.predictor not in self.spec.predictors:
            raise ValueError(f"the {self.family} family's predictor is one of {self.spec.predictors}, "
                             f"not {self.predictor!r}")
        self.spec.validate(self)

    @property
    def spec(self):
        """This configuration's family (the registry entry: shapes, coding, levels)."""
        from . import family  # the registry imports this module: looked up when asked

        return family(self.family)

    @property
    def has_latent(self) -> bool:
        return self.spec.has_latent

    @property
    def has_head(self) -> bool:
        """Pixels coded in raster order through a causal local head."""
        return self.spec.has_head(self)

    @property
    def kind(self) -> Kind:
        return Kind.of_likelihood(self.likelihood)

    @property
    def local_outputs(self) -> int:
        """Raw law per pixel: one logit (binary), or K weights, means, log-scales."""
        return 1 if self.kind == Kind.BINARY else 3 * self.mixture

    @property
    def params_per_pixel(self) -> int:
        return 1 if self.kind == Kind.BINARY else 2

    def to_json(self) -> dict:
        """The card's form: optional fields at their defaults are left out."""
        values = {**asdict(self), "hidden": list(self.hidden)}
        return {k: v for k, v in values.items() if k not in self.spec.card_omits or v != FIELD_DEFAULTS[k]}

    def decoder_shapes(self) -> dict[str, tuple[int, ...]]:
        return self.spec.decoder_shapes(self)

    def encoder_shapes(self) -> dict[str, tuple[int, ...]]:
        return self.spec.encoder_shapes(self) if self.has_latent else {}


FIELD_DEFAULTS = {f.name: f.default for f in fields(ModelConfig)}
