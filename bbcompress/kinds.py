"""The one vocabulary for what a section codes: the layout of an image's pixels.

Binary and greyscale images are what models code. A colour image may be coded by a
greyscale model as three planes (``PLANES``, format version 7); the other kinds (alpha,
16-bit) are stored by the classic codecs only, until a model codes them.
"""
from __future__ import annotations

from dataclasses import dataclass
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

# An RGB image coded by a greyscale model: three planes, each a greyscale image, by one
# of COLOUR_TRANSFORMS (archives of version 7 know only the first): a first channel as
# it is, then a second and a third less a prediction from the channels before them (mod
# 256, centred on 128), so that decoding them in order inverts it exactly. Measured with
# a fixed LOCO-I predictor and 16 scales on the six held-out colour photos: 2.41 bits a
# sub-pixel as green, red less green and blue less green (lossless WebP's "subtract
# green") against 3.16 as R, G and B (JPEG-XL e9: 2.06); the best of the table for each
# photo 2.37; under a photo model 2.1238 against 2.1531 as green and the differences
# (benchmarks/results/colour-transforms-epoch-0001.md).
PLANES = {Kind.RGB: (Kind.GREYSCALE, 3)}
PLANE_OFFSET = 128
RED, GREEN, BLUE = range(3)


@dataclass(frozen=True)
class ColourTransform:
    """Planes (first, second less ``second_from_first`` / 2 of the first, third less
    (``third_from_first`` x first + ``third_from_second`` x second) // 2) of the
    channels ``order`` (weights 0-2: halves, so that a mean of two costs no rounding
    rule of its own). A plane predicted from nothing is the channel as it is."""
    name: str
    order: tuple[int, int, int]
    second_from_first: int = 0
    third_from_first: int = 0
    third_from_second: int = 0


# Append-only: an archive records a transform by its index here (format version 10).
COLOUR_TRANSFORMS = (
    ColourTransform("G, R-G, B-G", (GREEN, RED, BLUE), 2, 2, 0),
    ColourTransform("R, G, B", (RED, GREEN, BLUE)),
    ColourTransform("G, R-G, B-(R+G)/2", (GREEN, RED, BLUE), 2, 1, 1),
    ColourTransform("G, R-G, B-R", (GREEN, RED, BLUE), 2, 0, 2),
    ColourTransform("R, G-R, B-R", (RED, GREEN, BLUE), 2, 2, 0),
    ColourTransform("G, B-G, R-(B+G)/2", (GREEN, BLUE, RED), 2, 1, 1),
)


def predicted_plane(channel: np.ndarray, prediction: np.ndarray | None, sign: int) -> np.ndarray:
    """``channel`` less (``sign`` 1) or plus (-1) ``prediction``, mod 256, centred; None: as it is."""
    if prediction is None:
        return channel.astype(np.uint8)
    return ((channel - sign * (prediction - PLANE_OFFSET)) % 256).astype(np.uint8)


def predictions(t: ColourTransform, first: np.ndarray, second: np.ndarray | None = None):
    """The predictions of the second plane (from ``first``) or the third (and ``second``)."""
    if second is None:
        return t.second_from_first * first >> 1 if t.second_from_first else None
    if not (t.third_from_first or t.third_from_second):
        return None
    return t.third_from_first * first + t.third_from_second * second >> 1


def to_planes(pixels: np.ndarray, kind: Kind, transform: int = 0) -> list[np.ndarray]:
    """The images of ``kind.model_kind`` that code ``pixels`` (itself if one), colour by
    ``COLOUR_TRANSFORMS[transform]``."""
    if kind.planes == 1:
        return [pixels]
    t = COLOUR_TRANSFORMS[transform]
    first, second, third = (pixels[..., c].astype(np.int32) for c in t.order)
    return [predicted_plane(first, None, 1), predicted_plane(second, predictions(t, first), 1),
            predicted_plane(third, predictions(t, first, second), 1)]


def from_planes(planes: list[np.ndarray], kind: Kind, transform: int = 0) -> np.ndarray:
    """The inverse of ``to_planes``."""
    if kind.planes == 1:
        return planes[0]
    t = COLOUR_TRANSFORMS[transform]
    first = planes[0].astype(np.int32)
    second = predicted_plane(planes[1].astype(np.int32), predictions(t, first), -1).astype(np.int32)
    third = predicted_plane(planes[2].astype(np.int32), predictions(t, first, second), -1)
    out = np.empty(first.shape + (3,), np.uint8)
    for channel, plane in zip(t.order, (first, second, third)):
        out[..., channel] = plane
    return out
