"""Model families: one registry entry each, and nothing else branches on a family's name.

A family is
- a coding module (``NAME_coding.py``, numpy only): its configuration check, weight
  shapes and coding class (exact networks -> codecs), which is all the coder needs;
- a torch module (``NAME.py``, imported only to train or evaluate) with ``build(config,
  free_bits)``, ``from_checkpoint(checkpoint, encoder)`` and ``to_checkpoint(model, info,
  encoder_info)``;
- an entry in ``FAMILIES`` below: the two joined, with what its coding module does not
  say by its conventional names (see ``entry``).
Adding a family touches those three files (and ``config.py`` if it needs a new field).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Mapping

from ..errors import BBCError
from . import conv_coding, local_coding, mlp_coding, wide_coding
from .config import DEFAULT_FAMILY  # noqa: F401  (re-exported: the family of cards that name none)

LEVELS = range(1, 10)  # 1 fastest .. 9 smallest
DEFAULT_LEVEL = 4


@dataclass(frozen=True)
class Family:
    name: str
    summary: str  # one line, for `train --family`
    has_latent: bool
    coding: Callable  # coding(checkpoint, CodingSettings) -> a Coding (codec.bits_back)
    validate: Callable  # validate(ModelConfig): ValueError if the family cannot be this
    decoder_shapes: Callable  # decoder_shapes(config) -> {parameter: shape}
    encoder_shapes: Callable = lambda config: {}
    # level -> (importance-sampled particles, per-image refinement steps)
    levels: Mapping[int, tuple[int, int]] = field(default_factory=lambda: {level: (1, 0) for level in LEVELS})
    config_from_options: Callable | None = None  # (likelihood, pixels, **train options) -> ModelConfig
    defaults: Mapping[str, object] = field(default_factory=dict)  # train options' defaults it sets
    train_options: tuple[str, ...] = ()  # train options only this family takes
    # config fields its cards leave out at their defaults
    card_omits: tuple[str, ...] = ("context", "predictor")
    contexts: tuple[str, ...] = ("",)  # the variants of its context a config may name ("": its own)
    predictors: tuple[str, ...] = ("",)  # how its logistics' means may be made ("": a squashed output)
    has_head: Callable = lambda config: False  # pixels coded in raster order by a causal head
    torch_module: str = field(default="", repr=False)  # a module of this package

    def level(self, level: int) -> tuple[int, int]:
        """(particles, refinement steps) of a compression level for this family."""
        if level not in self.levels:
            raise BBCError(f"level {level} is not one of {min(LEVELS)}..{max(LEVELS)}")
        return self.levels[level]

    def torch(self):
        """The family's torch module (training only: imports torch)."""
        return importlib.import_module(f"{__name__}.{self.torch_module}")


def entry(name: str, summary: str, module, coding, has_latent: bool, **rest) -> Family:
    """A family whose coding module ``module`` holds its conventional parts: validate,
    decoder_shapes, config_from_options and DEFAULTS; and, with a latent, encoder_shapes
    and LEVELS. Its torch module is named like the family."""
    parts = {"validate": module.validate, "decoder_shapes": module.decoder_shapes,
             "config_from_options": module.config_from_options, "defaults": module.DEFAULTS}
    if has_latent:
        parts.update(encoder_shapes=module.encoder_shapes, levels=module.LEVELS)
    return Family(name, summary, has_latent, coding, **parts, torch_module=name, **rest)


def always(config) -> bool:
    return True


FAMILIES = {f.name: f for f in (
    entry("mlp", "the seed's VAE: MLP encoder and decoder, independent pixels", mlp_coding,
          mlp_coding.MLPCoding, True, card_omits=("family", "mixture", "features", "width", "context",
                                                      "predictor")),
    entry("local", "a causal local head (PixelCNN-like, 12 neighbours), no latent", local_coding,
          local_coding.LocalCoding, False, card_omits=("width", "context", "predictor"), has_head=always),
    entry("conv", "a convolutional VAE, with the local head unless --hidden 0", conv_coding,
          conv_coding.ConvCoding, True, train_options=("free_bits", "head_from"),
          has_head=lambda config: bool(config.hidden)),
    entry("wide", "a wide causal network (two stacks of dilated residual blocks), no latent",
          wide_coding, wide_coding.WideCoding, False, card_omits=("width", "context", "predictor"),
          has_head=always, contexts=wide_coding.CONTEXTS, predictors=wide_coding.PREDICTORS,
          train_options=("context", "predictor")),
)}


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"family must be one of {tuple(FAMILIES)}, not {name!r}") from None
