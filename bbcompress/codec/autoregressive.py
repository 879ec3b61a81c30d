"""Tiles whose pixels are coded in raster order, each under a law that depends on the
pixels before it: an autoregressive codec.

    push x:  laws of every pixel at once (all of x is known); push the 8 decisions of
             every pixel, last pixel first (the stack is LIFO)
    pop:     for each pixel in raster order: its law from the pixels popped so far
             (one step of the network, vectorized over the batch); pop its decisions.
             Or, where the model gives groups of pixels none of which sees another
             (a wavefront), a group per step, vectorized over the group too.

``laws(x)`` gives every pixel's raw law (B, P, L) from whole tiles; ``steps(B)`` an
object whose ``law(p)`` gives pixel p's (B, L) from the pixels ``put`` before it. Both
must return bit-identical numbers (``causal.ExactCausalNet`` does). A ``PixelLaw``
codes one pixel from its raw law as a fixed number of binary decisions; ``mask`` (B, P)
says which pixels are coded (the others are zero on both sides).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .core import MAX_SYMBOL_BITS, Codec, batch_done
from .pixels import BERNOULLI, bernoulli, sigmoid


PROGRESS_EVERY = 28  # pixels popped between progress reports: a tile's row


@dataclass(frozen=True)
class PixelLaw:
    decisions: int  # binary decisions per pixel
    probabilities: Callable  # (raw (N, L), x (N,)) -> P(decision = 1) (decisions, N)
    symbols: Callable  # x (N,) -> the decisions (decisions, N)
    pop: Callable  # (coder, raw (N, L)) -> x (N,), popping the decisions in order
    estimate: Callable  # (raw, x) -> about log P(x) per pixel, fast (cost estimates only)


def binary_pixels() -> PixelLaw:
    """Binary pixels, one logit each: a single Bernoulli decision."""
    def probabilities(raw, x):
        return sigmoid(raw[:, 0])[None]

    def pop(coder, raw):
        return bernoulli(sigmoid(raw[:, 0])).pop(coder)

    def estimate(raw, x):  # log sigmoid(+-logit), stable
        signed = np.where(x == 1, raw[:, 0], -raw[:, 0]).astype(np.float64)
        return -np.logaddexp(0.0, -signed)
    return PixelLaw(1, probabilities, lambda x: x[None].astype(np.int32), pop, estimate)


def log_prob(law: PixelLaw, raw: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log P(x) per pixel as the coder charges it (each decision floored at 2**-24)."""
    p, bits = law.probabilities(raw, x), law.symbols(x)
    return np.log(np.clip(np.where(bits == 1, p, 1.0 - p), 2.0**-MAX_SYMBOL_BITS, 1.0)).sum(0)


def raster_order(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (image, pixel) of the coded pixels, pixel-major: the order they are popped."""
    pixel, image = np.nonzero(mask.T)
    return image, pixel


def group_order(mask: np.ndarray, groups: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (image, pixel) of the coded pixels in the order a stepper with ``groups``
    pops them: group by group, within one image by image and each image's pixels in the
    group's order (what ``x[:, group][coded]`` lists); and each one's group."""
    group_of, rank = np.empty(mask.shape[1], dtype=np.int64), np.empty(mask.shape[1], dtype=np.int64)
    for index, group in enumerate(groups):
        group_of[group], rank[group] = index, np.arange(len(group))
    image, pixel = np.nonzero(mask)
    order = np.lexsort((rank[pixel], image, group_of[pixel]))
    return image[order], pixel[order], group_of[pixel[order]]


def decision_order(block: np.ndarray, decisions: int) -> np.ndarray:
    """Where decision k of the i-th coded pixel goes in the popped sequence: block by
    block (a pixel, or a stepper's group of pixels; ``block`` sorted), for each block its
    decisions in order, each over the block's coded pixels."""
    starts = np.searchsorted(block, block)  # first coded entry of the same block
    counts = np.bincount(block)[block]
    offset = np.arange(len(block)) - starts
    k = np.arange(decisions)[:, None]
    return decisions * starts[None] + k * counts[None] + offset[None]  # (decisions, N)


def autoregressive(laws: Callable, steps: Callable, law: PixelLaw, mask: np.ndarray,
                   groups: Sequence[np.ndarray] | None = None) -> Codec:
    """Popped pixel by pixel in raster order; or, given ``groups`` (pixel-index arrays
    covering every pixel once, each seeing only pixels of earlier groups), group by group
    (the stepper's ``law_of(group)`` and ``put_all(group, x)``): as many steps as groups."""
    def push(coder, x):
        if groups is None:
            image, pixel = raster_order(mask)
            block = pixel
        else:
            image, pixel, block = group_order(mask, groups)
        raw, values = laws(x)[image, pixel], x[image, pixel]
        order = decision_order(block, law.decisions)
        symbols, p = np.empty(order.size, dtype=np.int32), np.empty(order.size)
        symbols[order] = law.symbols(values)
        p[order] = law.probabilities(raw, values)
        coder.encode_reverse(symbols, BERNOULLI, p)

    def pop(coder):
        stepper = steps(len(mask))
        if groups is not None:
            return pop_groups(coder, stepper, groups, law, mask)
        x = np.zeros(mask.shape, dtype=np.uint8)
        pixels = mask.shape[1]
        for position in range(pixels):
            raw = stepper.law(position)
            rows = mask[:, position]
            if rows.any():
                x[rows, position] = law.pop(coder, raw[rows])
            stepper.put(position, x[:, position])
            if position % PROGRESS_EVERY == PROGRESS_EVERY - 1:
                batch_done((position + 1) / pixels)
        return x
    return Codec(push, pop)


def pop_groups(coder, stepper, groups: Sequence[np.ndarray], law: PixelLaw, mask: np.ndarray) -> np.ndarray:
    """Pop group by group: each group's laws from the groups before it, vectorized over
    its pixels and the batch."""
    x = np.zeros(mask.shape, dtype=np.uint8)
    for index, group in enumerate(groups):
        raw = stepper.law_of(group)  # (B, g, L)
        coded = mask[:, group]
        values = np.zeros(coded.shape, dtype=np.uint8)
        if coded.any():
            values[coded] = law.pop(coder, raw[coded])
        x[:, group] = values
        stepper.put_all(group, values)
        if index % PROGRESS_EVERY == PROGRESS_EVERY - 1:
            batch_done((index + 1) / len(groups))
    return x


def independent(raw: np.ndarray, law: PixelLaw, mask: np.ndarray) -> Codec:
    """Pixels independent given their raw laws (B, P, L), all known before any is coded:
    every decision of every coded pixel in one call each way (decision k over all pixels,
    then decision k + 1, the order ``law.pop`` pops them)."""
    coded = raw[mask]

    def push(coder, x):
        values = x[mask]
        coder.encode_reverse(law.symbols(values).ravel().astype(np.int32), BERNOULLI,
                             np.ascontiguousarray(law.probabilities(coded, values).ravel()))

    def pop(coder):
        x = np.zeros(mask.shape, dtype=np.uint8)
        x[mask] = law.pop(coder, coded)
        return x
    return Codec(push, pop)
