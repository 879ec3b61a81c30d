"""Which colour transform a colour image's planes take (``kinds.COLOUR_TRANSFORMS``):
the cheapest under a model-free estimate, so that choosing costs a fraction of coding.

The estimate is the entropy of LOCO-I's median-predictor residuals (mod 256) in 16
classes of local activity, on blocks of rows spread over the image (about SAMPLE_PIXELS
in all). It is not the model's rate, only a ranking of the transforms: on the six
held-out colour photos its picks cost 2.1264 bits a sub-pixel under a photo model where
each photo's cheapest transform costs 2.1238 and green with the differences 2.1531 (the
model's rates: benchmarks/results/colour-transforms-epoch-0001.json). The transforms act
on each pixel alone, so the blocks are sampled first and only they are transformed.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .io.images import Image
from .kinds import COLOUR_TRANSFORMS, to_planes

SAMPLE_PIXELS = 1 << 16
BLOCK_ROWS = 8  # the first row of each block is only the next one's context
BLOCK_COLUMNS = 1024
ACTIVITY_CLASSES = 16


def with_colour_transform(image: Image) -> Image:
    """``image`` with the transform its planes cost least in (itself if not coded as planes;
    an image too small to hold a residual, one row or two columns, takes transform 0)."""
    if image.kind.planes == 1:
        return image
    blocks = sampled_blocks(image.pixels)
    costs = [sum(residual_entropy(list(plane_blocks))
                 for plane_blocks in zip(*(to_planes(block, image.kind, index) for block in blocks)))
             for index in range(len(COLOUR_TRANSFORMS))]
    return replace(image, colour_transform=int(np.argmin(costs)))


def sampled_blocks(pixels: np.ndarray) -> list[np.ndarray]:
    """Blocks of BLOCK_ROWS rows and at most BLOCK_COLUMNS columns, evenly spread in
    raster order, about SAMPLE_PIXELS in all (the whole image if it is smaller)."""
    height, width = pixels.shape[:2]
    if height * width <= SAMPLE_PIXELS:
        return [pixels]
    rows, columns = max(1, height // BLOCK_ROWS), -(-width // BLOCK_COLUMNS)
    count = min(rows * columns, max(1, SAMPLE_PIXELS // (BLOCK_ROWS * min(width, BLOCK_COLUMNS))))
    picked = np.linspace(0, rows * columns - 1, count).round().astype(np.int64)
    return [pixels[row * BLOCK_ROWS:(row + 1) * BLOCK_ROWS, column * BLOCK_COLUMNS:(column + 1) * BLOCK_COLUMNS]
            for row, column in zip(picked // columns, picked % columns)]


def residual_entropy(blocks: list[np.ndarray]) -> float:
    """Bits a pixel the residuals of ``blocks`` (of one plane) take at their empirical
    frequencies in each activity class."""
    residuals, activity = (np.concatenate(parts) for parts in zip(*(median_residuals(b) for b in blocks)))
    if not len(residuals):
        return 0.0
    edges = np.quantile(activity, np.linspace(0, 1, ACTIVITY_CLASSES + 1)[1:-1])
    counts = np.bincount(np.digitize(activity, edges) * 256 + residuals, minlength=ACTIVITY_CLASSES * 256)
    counts = counts.reshape(ACTIVITY_CLASSES, 256).astype(np.float64)
    totals = np.broadcast_to(counts.sum(axis=1, keepdims=True), counts.shape)
    seen = counts > 0
    return float(-(counts[seen] * np.log2(counts[seen] / totals[seen])).sum() / len(residuals))


def median_residuals(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(residual mod 256, activity) of each pixel of ``block`` with a row above it and a
    column on either side (its neighbours all in the block, never itself)."""
    x = block.astype(np.int32)
    predicted, activity = median_prediction(x[1:, :-2], x[:-1, 1:-1], x[:-1, :-2], x[:-1, 2:])
    return ((x[1:, 1:-1] - predicted) % 256).ravel(), activity.ravel()


def median_prediction(left: np.ndarray, up: np.ndarray, upper_left: np.ndarray,
                      upper_right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(LOCO-I's median prediction, local activity) of pixels from their neighbours."""
    low, high = np.minimum(left, up), np.maximum(left, up)
    predicted = np.where(upper_left >= high, low, np.where(upper_left <= low, high, left + up - upper_left))
    return predicted, np.abs(left - upper_left) + np.abs(up - upper_left) + np.abs(upper_right - up)
