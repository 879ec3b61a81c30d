"""Importance-sampled bits-back (BB-IS; Ruan et al., ICML 2021): the rate of N particles.

    push x:  j_1..j_N ~ Q(.|x)          <- pop N particles with the posterior
             k ~ w_k / sum(w)            <- pop the index      (w_k = p(x, z_k) / Q(j_k|x))
             push j_(others) with Q(.|x), in ascending order
             push x with p(x | z_k); push j_k with the prior; push k uniformly over N
    pop:     the mirror image, ending with k pushed back under w and all N particles under Q.

Net stack growth per image is -log((1/N) sum_k w_k): the IWAE-N estimate, which tends to
-log p(x) as N grows, where plain bits-back pays the -ELBO. Both sides must compute the
same weights bit for bit: ``log_weights`` returns them on a fixed grid (``WEIGHT_UNIT``)
summed exactly, so the index law is identical whatever the batch or thread count.
N = 1 is not this codec: plain ``bits_back`` codes it, with the same stream as ever.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .core import MODELS, Codec

WEIGHT_UNIT = 2.0**-20  # log weights are rounded to this grid (nats) before summing
CATEGORICAL = MODELS.Categorical(perfect=False)

# log_weights(x, particles (B, N, L) latent indices) -> (B, N) integer multiples of WEIGHT_UNIT
LogWeights = Callable[[np.ndarray, np.ndarray], np.ndarray]


def log_terms_on_grid(log_terms: np.ndarray) -> np.ndarray:
    """Round per-symbol log terms to the grid so that sums of them are exact in float64."""
    return np.round(log_terms / WEIGHT_UNIT) * WEIGHT_UNIT


def index_codec(log_weights: np.ndarray) -> Codec:
    """The particle index of each image, with P(k) proportional to exp(log_weights[:, k])."""
    weights = np.exp(log_weights - log_weights.max(axis=1, keepdims=True))
    table = np.ascontiguousarray(weights / weights.sum(axis=1, keepdims=True))

    def push(coder, k):
        coder.encode_reverse(k.astype(np.int32), CATEGORICAL, table)

    def pop(coder):
        return coder.decode(CATEGORICAL, table)
    return Codec(push, pop)


def uniform_index(count: int, images: int) -> Codec:
    uniform = MODELS.Uniform(count)

    def push(coder, k):
        coder.encode_reverse(k.astype(np.int32), uniform)

    def pop(coder):
        return coder.decode(uniform, images)
    return Codec(push, pop)


def without(particles: np.ndarray, chosen: np.ndarray) -> list[np.ndarray]:
    """The particles other than each image's chosen one, in ascending order: N-1 of (B, L)."""
    count = particles.shape[1]
    order = np.argsort(np.arange(count)[None, :] == chosen[:, None], axis=1, kind="stable")
    return [particles[np.arange(len(chosen)), order[:, slot]] for slot in range(count - 1)]


def with_chosen(others: list[np.ndarray], chosen: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """Undo ``without``: (B, N, L) particles with ``picked`` back at each image's ``chosen`` slot."""
    slots = np.arange(len(others) + 1)[None, :]
    source = np.where(slots < chosen[:, None], slots, slots - 1).clip(min=0)  # slot -> index into others
    particles = np.take_along_axis(np.stack(others, axis=1), source[:, :, None], axis=1)
    particles[np.arange(len(chosen)), chosen] = picked
    return particles


def importance_bits_back(count: int, images: int, prior: Codec,
                         likelihood: Callable[[np.ndarray], Codec],
                         posterior: Callable[[np.ndarray], Codec], log_weights: LogWeights) -> Codec:
    """BB-IS over ``count`` >= 2 particles for a batch of ``images``; latent symbols are
    (images, L) index arrays."""
    def push(coder, x):
        q = posterior(x)
        particles = np.stack([q.pop(coder) for _ in range(count)], axis=1)
        chosen = index_codec(log_weights(x, particles)).pop(coder)
        for other in without(particles, chosen):
            q.push(coder, other)
        picked = particles[np.arange(len(x)), chosen]
        likelihood(picked).push(coder, x)
        prior.push(coder, picked)
        uniform_index(count, images).push(coder, chosen)

    def pop(coder):
        chosen = uniform_index(count, images).pop(coder)
        picked = prior.pop(coder)
        x = likelihood(picked).pop(coder)
        q = posterior(x)
        others = [q.pop(coder) for _ in range(count - 1)][::-1]
        particles = with_chosen(others, chosen, picked)
        index_codec(log_weights(x, particles)).push(coder, chosen)
        for k in reversed(range(count)):
            q.push(coder, particles[:, k])
        return x
    return Codec(push, pop)
