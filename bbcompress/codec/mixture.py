"""8-bit levels under a mixture of K discretized logistics (plus a uniform floor), as a
chain of 8 Bernoulli decisions, most significant bit first, like ``pixels.logistic256``.

Decision k's P(upper half) is the mixture's mass of the upper half of the current
interval over the interval's mass; each component's masses come from its logistic
tails on the side away from its mean, so no tail loses precision. The weighted sums
run in a fixed order (component 0 first): the encoder, which evaluates all pixels at
once, and the decoder, which evaluates one pixel of each image per step, add the same
numbers in the same order and get the same probabilities.
"""
from __future__ import annotations

import numpy as np

from .autoregressive import PixelLaw
from .core import require_finite
from .pixels import LEVEL_BITS, bernoulli, interval_decisions, level_bits, ordered_sum, squashed_mean


def mixture_pixels(components: int, floor: float, min_log_scale: float, max_log_scale: float,
                   mean=squashed_mean) -> PixelLaw:
    """8-bit pixels whose raw law (N, 3K) is a mixture of K logistics (see ``mixture_laws``;
    ``mean``: the raw mean's level, ``pixels.squashed_mean`` or ``pixels.linear_mean``)."""
    def laws(raw):
        return mixture_laws(raw, components, min_log_scale, max_log_scale, mean)
    return PixelLaw(LEVEL_BITS, lambda raw, x: decision_probabilities(laws(raw), floor, x),
                    lambda x: np.stack(level_bits(x)), lambda coder, raw: pop_levels(coder, laws(raw), floor),
                    lambda raw, x: approximate_log_prob(laws(raw), floor, x))


def mixture_laws(out: np.ndarray, components: int, min_log_scale: float, max_log_scale: float,
                 mean=squashed_mean):
    """(weights, means, log-scales), each (..., K), from raw outputs (..., 3K): softmax
    logits, means in levels (by default 256 sigmoid(raw) - 0.5), log-scales clipped."""
    out = require_finite(np.ascontiguousarray(out), "mixture parameters")
    logits, raw_mean, raw_log_scale = np.split(out, 3, axis=-1)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    weights = e / ordered_sum(e)[..., None]
    return weights, mean(raw_mean), np.clip(raw_log_scale, min_log_scale, max_log_scale)


def mixture_decisions(weights: np.ndarray, mean: np.ndarray, log_scale: np.ndarray, floor: float):
    """``pixels.interval_decisions`` over pixels (N,) with K components each ((N, K) arrays)."""
    return interval_decisions(mean, np.exp(-log_scale), floor, weights)


def decision_probabilities(laws, floor: float, x: np.ndarray) -> np.ndarray:
    """P(bit = 1) of each of the 8 decisions of each pixel (8, N), given its level x."""
    state, step = mixture_decisions(*laws, floor)
    probabilities = []
    for bit in level_bits(x):
        p, advance = step(state)
        probabilities.append(p)
        state = advance(bit)
    return np.stack(probabilities)


def pop_levels(coder, laws, floor: float) -> np.ndarray:
    """Pop one level per pixel (N,), its 8 decisions in order."""
    state, step = mixture_decisions(*laws, floor)
    level = np.zeros(len(laws[0]), dtype=np.int64)
    for _ in range(LEVEL_BITS):
        p, advance = step(state)
        bit = bernoulli(p).pop(coder)
        level = (level << 1) | bit
        state = advance(bit)
    return level.astype(np.uint8)


def approximate_log_prob(laws, floor: float, x: np.ndarray) -> np.ndarray:
    """log P(x) per pixel straight from the bin masses (no decisions, no coder floor):
    a fast cost estimate, not what the coder charges to the last bit."""
    weights, mean, log_scale = laws
    inv_scale = np.exp(-log_scale)
    x = x[:, None].astype(np.float64)
    with np.errstate(over="ignore"):
        upper = np.where(x >= 255, 1.0, 1.0 / (1.0 + np.exp(-(x + 0.5 - mean) * inv_scale)))
        lower = np.where(x <= 0, 0.0, 1.0 / (1.0 + np.exp(-(x - 0.5 - mean) * inv_scale)))
    mass = ordered_sum(weights * np.maximum(upper - lower, 0.0))
    return np.log((1 - floor) * mass + floor / 256 + 1e-300)
