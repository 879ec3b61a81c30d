"""The one vocabulary for what a section codes: the layout of an image's pixels.

Binary and greyscale images are what models code; the other kinds (colour, alpha,
16-bit) are stored by the classic codecs only, until a model codes them.
"""
from __future__ import annotations

from enum import StrEnum

import numpy as np


class Kind(StrEnum):
    BINARY = "binary"  # (H, W) 0/1 pixels, Bernoulli laws
    GREYSCALE = "greyscale"  # (H, W) 0..255, discretized logistics
    GREY_ALPHA = "grey-alpha"  # (H, W, 2) uint8: grey and alpha (format version 5)
    RGB = "rgb"  # (H, W, 3) uint8 (format version 5)
    RGBA = "rgba"  # (H, W, 4) uint8 (format version 5)
    GREY16 = "grey16"  # (H, W) uint16 (format version 5)

    @property
    def likelihood(self) -> str:
        return LIKELIHOOD_OF_KIND[self]

    @classmethod
    def of_likelihood(cls, likelihood: str) -> "Kind":
        return {v: k for k, v in LIKELIHOOD_OF_KIND.items()}[likelihood]

    @property
    def has_models(self) -> bool:
        """Whether a model can code images of this kind (else only classic codecs)."""
        return self in LIKELIHOOD_OF_KIND

    @property
    def channels(self) -> int:
        return CHANNELS.get(self, 1)

    @property
    def dtype(self) -> np.dtype:
        """How the pixels are held; their bytes (little-endian) are what checksums cover."""
        return np.dtype("<u2") if self == Kind.GREY16 else np.dtype(np.uint8)

    @property
    def pillow_mode(self) -> str:
        """The Pillow mode of the pixels as coded (binary as 0/255 'L')."""
        return PILLOW_MODES.get(self, "L")


LIKELIHOOD_OF_KIND = {Kind.BINARY: "bernoulli", Kind.GREYSCALE: "logistic256"}
CHANNELS = {Kind.GREY_ALPHA: 2, Kind.RGB: 3, Kind.RGBA: 4}
PILLOW_MODES = {Kind.GREY_ALPHA: "LA", Kind.RGB: "RGB", Kind.RGBA: "RGBA", Kind.GREY16: "I;16"}
