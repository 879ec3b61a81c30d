"""The one vocabulary for what a section codes: the layout of an image's pixels.

Binary and greyscale images are what models code. A colour image may be coded by a
greyscale model as three planes (``PLANES``, format version 7); the other kinds (alpha,
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
        """Whether a model of this kind exists (colour is coded by greyscale ones: ``model_kind``)."""
        return self in LIKELIHOOD_OF_KIND

    @property
    def model_kind(self) -> "Kind":
        """The kind of the models that code images of this kind (as planes, if another)."""
        return PLANES.get(self, (self, 1))[0]

    @property
    def planes(self) -> int:
        """Images of ``model_kind`` a model codes for one image of this kind."""
        return PLANES.get(self, (self, 1))[1]

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

# An RGB image coded by a greyscale model: green, then red and blue less green (mod 256,
# centred on 128; lossless WebP's "subtract green"), each a greyscale image. Measured with
# a fixed LOCO-I predictor and 16 scales on the six held-out colour photos: 2.41 bits a
# sub-pixel as these planes against 3.16 as R, G and B (JPEG-XL e9: 2.06).
PLANES = {Kind.RGB: (Kind.GREYSCALE, 3)}
PLANE_OFFSET = 128


def to_planes(pixels: np.ndarray, kind: Kind) -> list[np.ndarray]:
    """The images of ``kind.model_kind`` that code ``pixels`` (itself if one)."""
    if kind.planes == 1:
        return [pixels]
    green = pixels[..., 1].astype(np.int16)
    return [pixels[..., 1].copy()] + [((pixels[..., c] - green + PLANE_OFFSET) % 256).astype(np.uint8)
                                      for c in (0, 2)]


def from_planes(planes: list[np.ndarray], kind: Kind) -> np.ndarray:
    """The inverse of ``to_planes``."""
    if kind.planes == 1:
        return planes[0]
    green = planes[0].astype(np.int16)
    red, blue = ((p.astype(np.int16) + green - PLANE_OFFSET) % 256 for p in planes[1:])
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)
