"""Which colour transform a colour image's planes take (``kinds.COLOUR_TRANSFORMS``):
the cheapest under a model-free estimate, so that choosing costs a fraction of coding.

The estimate is the entropy of LOCO-I's median-predictor residuals (mod 256) in 16
classes of local activity, on strips of rows spread over the image (at most
SAMPLE_PIXELS a plane). It is not the model's rate, only a ranking of the transforms:
measured on the six held-out colour photos (benchmarks/results/colour-transforms.md).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .io.images import Image
from .kinds import COLOUR_TRANSFORMS, to_planes

SAMPLE_PIXELS = 1 << 16
STRIP_ROWS = 8  # the first row of each strip is only the next one's context
ACTIVITY_CLASSES = 16


def with_colour_transform(image: Image) -> Image:
    """``image`` with the transform its planes cost least in (itself if not coded as planes)."""
    if image.kind.planes == 1:
        return image
    costs = [sum(residual_entropy(plane) for plane in to_planes(image.pixels, image.kind, index))
             for index in range(len(COLOUR_TRANSFORMS))]
    return replace(image, colour_transform=int(np.argmin(costs)))


def sampled_strips(plane: np.ndarray) -> list[np.ndarray]:
    """Strips of STRIP_ROWS rows, evenly spread, about SAMPLE_PIXELS in all (the whole
    plane if it is smaller)."""
    height, width = plane.shape
    if height * width <= SAMPLE_PIXELS or height <= STRIP_ROWS:
        return [plane]
    count = max(1, min(height // STRIP_ROWS, SAMPLE_PIXELS // (STRIP_ROWS * width)))
    return [plane[start:start + STRIP_ROWS]
            for start in np.linspace(0, height - STRIP_ROWS, count).round().astype(np.int64)]


def residual_entropy(plane: np.ndarray) -> float:
    """Bits the sampled residuals of ``plane`` take at their empirical frequencies in each
    activity class, scaled to the whole plane."""
    residuals, activity = zip(*(median_residuals(strip) for strip in sampled_strips(plane)))
    residuals, activity = np.concatenate(residuals), np.concatenate(activity)
    if not len(residuals):
        return 0.0
    edges = np.quantile(activity, np.linspace(0, 1, ACTIVITY_CLASSES + 1)[1:-1])
    counts = np.bincount(np.digitize(activity, edges) * 256 + residuals, minlength=ACTIVITY_CLASSES * 256)
    counts = counts.reshape(ACTIVITY_CLASSES, 256).astype(np.float64)
    totals = np.broadcast_to(counts.sum(axis=1, keepdims=True), counts.shape)
    seen = counts > 0
    bits = -(counts[seen] * np.log2(counts[seen] / totals[seen])).sum()
    return float(bits * plane.size / len(residuals))


def median_residuals(strip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(residual mod 256, activity) of each pixel of ``strip`` below its first row."""
    padded = np.pad(strip.astype(np.int32), ((1, 0), (1, 1)), mode="edge")
    left, up, upper_left, upper_right = padded[1:, :-2], padded[:-1, 1:-1], padded[:-1, :-2], padded[:-1, 2:]
    low, high = np.minimum(left, up), np.maximum(left, up)
    predicted = np.where(upper_left >= high, low, np.where(upper_left <= low, high, left + up - upper_left))
    activity = np.abs(left - upper_left) + np.abs(up - upper_left) + np.abs(upper_right - up)
    first = 1 if strip.shape[0] > 1 else 0
    return (strip[first:] - predicted[first:]).ravel() % 256, activity[first:].ravel()
