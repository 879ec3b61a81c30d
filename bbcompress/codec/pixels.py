"""Pixel codecs: binary pixels under Bernoulli laws, 8-bit pixels under a discretized logistic.

Each function takes one law per pixel (numpy arrays, one entry per coded pixel) and
returns a ``Codec`` for the pixel values (uint8 arrays of the same shape).
"""
from __future__ import annotations

import numpy as np

from .core import MAX_SYMBOL_BITS, MODELS, Codec, chain, require_finite

BERNOULLI = MODELS.Bernoulli(perfect=False)
LEVEL_BITS = 8


def bernoulli(p: np.ndarray) -> Codec:
    """Symbols 0/1 with P(1) = p (validated to [0, 1]: constriction would accept anything)."""
    p = np.clip(require_finite(p, "probabilities"), 0.0, 1.0)

    def push(coder, x):
        coder.encode_reverse(x.astype(np.int32), BERNOULLI, p)

    def pop(coder):
        return coder.decode(BERNOULLI, p).astype(np.uint8)
    return Codec(push, pop)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """P(1) of each logit (refused if not finite: constriction panics on NaN)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-require_finite(logits, "logits")))


def bernoulli_logits(logits: np.ndarray) -> Codec:
    return bernoulli(sigmoid(logits))


def logistic_tails(edge: np.ndarray, mean: np.ndarray, inv_scale: np.ndarray):
    """(F, S) = (P(X < edge), P(X > edge)), each from the tail away from the mean."""
    t = (edge - mean) * inv_scale
    e = np.exp(-np.abs(t))
    small, large = e / (1.0 + e), 1.0 / (1.0 + e)
    positive = t >= 0
    return np.where(positive, large, small), np.where(positive, small, large)


def upper_probability(lo, mid, hi, below_mean, half: int, floor: float,
                      weights: np.ndarray | None = None) -> np.ndarray:
    """P(upper half | current interval), given the (F, S) tails at its three edges.

    ``below_mean`` says the mid edge lies at or below the mean; ``half`` is the number
    of levels in each half (the floor adds the same mass to both). The tails are of K
    components each (a last axis of K); with ``weights`` (..., K) the masses are their
    weighted sums, without them K is 1 (one logistic).
    """
    (f_lo, s_lo), (f_mid, s_mid), (f_hi, s_hi) = lo, mid, hi
    lower = np.where(below_mean, f_mid - f_lo, s_lo - s_mid)
    upper = np.where(below_mean, f_hi - f_mid, s_mid - s_hi)
    if weights is None:
        lower, upper = lower[..., 0], upper[..., 0]
    else:
        lower, upper = ordered_sum(weights * lower), ordered_sum(weights * upper)
    if floor:
        lower = (1 - floor) * lower + floor * half / 256
        upper = (1 - floor) * upper + floor * half / 256
    total = lower + upper
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(total > 0, upper / total, 0.5)  # both underflowed: any fixed p
    return np.clip(p, 0.0, 1.0)


def ordered_sum(values: np.ndarray) -> np.ndarray:
    """Sum over the last axis, component 0 first (numpy's reductions may reorder): both
    sides of an archive add the same numbers in the same order."""
    total = values[..., 0].copy()
    for k in range(1, values.shape[-1]):
        total += values[..., k]
    return total


def interval_decisions(mean: np.ndarray, inv_scale: np.ndarray, floor: float,
                       weights: np.ndarray | None = None):
    """The chain of 8 binary decisions of a level under K discretized logistics (arrays
    (..., K); ``weights``: their mixture weights, None for K = 1), most significant bit
    first: (start state, step), where step(state) -> (P(bit = 1), advance(bit) -> next state).

    Decision k halves the current interval of levels; P(upper half) comes from logistic
    tail masses on the side away from each mean, so neither tail loses precision. The
    product of the 8 decisions is exactly the discretized law (with ``floor`` e:
    (1 - e) * law + e * uniform), at one ``exp`` per component and decision: the edges of
    the next interval are edges of the current one, so their tails are carried in the state.
    """
    open_low = (np.zeros_like(mean), np.ones_like(mean))  # tails at -inf
    open_high = (np.ones_like(mean), np.zeros_like(mean))  # tails at +inf

    def step(state):
        level, low, lo, hi = state
        half = 1 << (LEVEL_BITS - 1 - level)
        edge = (low + half - 0.5)[..., None]
        mid = logistic_tails(edge, mean, inv_scale)
        p = upper_probability(lo, mid, hi, edge <= mean, half, floor, weights)

        def advance(bit):
            taken = (bit == 1)[..., None]
            return (level + 1, np.where(bit == 1, low + half, low),
                    tuple(np.where(taken, m, t) for m, t in zip(mid, lo)),
                    tuple(np.where(taken, t, m) for m, t in zip(mid, hi)))
        return p, advance
    return (0, np.zeros(mean.shape[:-1], dtype=np.int64), open_low, open_high), step


def logistic_decisions(mean: np.ndarray, log_scale: np.ndarray, floor: float = 0.0):
    """``interval_decisions`` of one discretized logistic per level."""
    mean = require_finite(mean, "means")
    inv_scale = np.exp(-require_finite(log_scale, "log-scales"))
    return interval_decisions(mean[..., None], inv_scale[..., None], floor)


def squashed_mean(raw_mean: np.ndarray) -> np.ndarray:
    """A logistic's mean in levels from a network's raw output: 256 sigmoid(raw) - 0.5,
    so every mean lies in (-0.5, 255.5). (256 * sigmoid(raw) is the same float: scaling
    by a power of two commutes with rounding.)"""
    with np.errstate(over="ignore"):
        return 256.0 / (1.0 + np.exp(-raw_mean)) - 0.5


def linear_mean(raw_mean: np.ndarray) -> np.ndarray:
    """A logistic's mean in levels from a raw output in the network's input units
    ((2 level - 255) / 255, so a raw output equal to a neighbour's input is that
    neighbour's level), clipped to [-0.5, 255.5]: the mean of a predictor plus a correction."""
    return np.clip(127.5 * (1.0 + raw_mean), -0.5, 255.5)


# A logistic's mean by its model's ``predictor`` (``ModelConfig``).
MEAN_OF_PREDICTOR = {"": squashed_mean, "linear": linear_mean}


def level_bits(x: np.ndarray) -> list[np.ndarray]:
    x = x.astype(np.int64)
    return [((x >> (LEVEL_BITS - 1 - k)) & 1).astype(np.int32) for k in range(LEVEL_BITS)]


def logistic256(mean: np.ndarray, log_scale: np.ndarray, floor: float = 0.0) -> Codec:
    """8-bit levels under a logistic discretized to 256 open-ended bins, as a chain of 8
    Bernoulli decisions (see ``logistic_decisions``)."""
    start, step = logistic_decisions(mean, log_scale, floor)

    def decision(state):
        p, advance = step(state)
        return bernoulli(p), advance
    decisions = chain(start, decision, LEVEL_BITS)

    def push(coder, x):
        decisions.push(coder, level_bits(x))

    def pop(coder):
        level = np.zeros(np.shape(mean), dtype=np.int64)
        for bit in decisions.pop(coder):
            level = (level << 1) | bit
        return level.astype(np.uint8)
    return Codec(push, pop)


# Log-probabilities of the laws above, for importance weights: the coder floors every
# probability at 2**-MAX_SYMBOL_BITS, and so do these.
def clipped_log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, 2.0**-MAX_SYMBOL_BITS, 1.0))


def bernoulli_logits_log_prob(logits: np.ndarray, x: np.ndarray) -> np.ndarray:
    p = sigmoid(logits)
    return clipped_log(np.where(x == 1, p, 1.0 - p))


def logistic256_log_prob(mean: np.ndarray, log_scale: np.ndarray, floor: float,
                         x: np.ndarray) -> np.ndarray:
    state, step = logistic_decisions(mean, log_scale, floor)
    total = np.zeros(np.shape(mean))
    for bit in level_bits(x):
        p, advance = step(state)
        total += clipped_log(np.where(bit == 1, p, 1.0 - p))
        state = advance(bit)
    return total


def bernoulli_logits_loss_grad(logits: np.ndarray, x: np.ndarray) -> np.ndarray:
    """d(-log p(x))/d(logit) of each binary pixel."""
    return sigmoid(logits) - x


def logistic256_loss_grad(mean: np.ndarray, log_scale: np.ndarray, floor: float,
                          x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d(-log P(x))/d(mean) and d(-log P(x))/d(log_scale) of each 8-bit pixel, P the
    discretized logistic with its floor (clipped where P underflows)."""
    inv_scale = np.exp(-log_scale)
    u_hi, u_lo = (x + 0.5 - mean) * inv_scale, (x - 0.5 - mean) * inv_scale
    d_hi, d_lo = logistic_density(u_hi), logistic_density(u_lo)
    d_hi, d_lo = np.where(x >= 255, 0.0, d_hi), np.where(x <= 0, 0.0, d_lo)  # open-ended bins
    d_mass_d_mean = -(d_hi - d_lo) * inv_scale
    d_mass_d_log_scale = -(d_hi * np.where(x >= 255, 0.0, u_hi) - d_lo * np.where(x <= 0, 0.0, u_lo))
    probability = np.exp(logistic256_log_prob(mean, log_scale, floor, x))
    factor = -(1.0 - floor) / probability
    return (np.clip(factor * d_mass_d_mean, -GRAD_CLIP, GRAD_CLIP),
            np.clip(factor * d_mass_d_log_scale, -GRAD_CLIP, GRAD_CLIP))


GRAD_CLIP = 1e4


def logistic_density(u: np.ndarray) -> np.ndarray:
    """sigmoid'(u), from the tail away from the mean (no overflow)."""
    e = np.exp(-np.abs(u))
    return e / (1.0 + e) ** 2
