"""Bits-back ANS, and many batches of images chained on one seeded stack.

    push x:  j ~ Q(j|x)   <- pop with the posterior        (bits come back)
             push x with the likelihood p(x | z_j)
             push j with the prior P(j)
    pop:     j <- pop with the prior; x <- pop with p(x | z_j); push j with Q(j|x)

Net stack growth per image is -log P(j) - log p(x|z_j) + log Q(j|x), a one-sample
estimate of the discretized -ELBO. The first pops draw from fixed pseudo-random initial
bits (paid once per stack); every later batch draws from the bits its predecessor left.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import CodingError, IntegrityError
from .core import ANS, MAX_SYMBOL_BITS, Codec, seeded_coder

# Most images per batch: 100 keeps a batch's pixel arrays in cache; larger batches were
# no faster for binary and ~12% slower for greyscale (benchmarks/results/speed*.md).
DEFAULT_MAX_BATCH = 100


def bits_back(prior: Codec, likelihood: Callable[[np.ndarray], Codec],
              posterior: Callable[[np.ndarray], Codec]) -> Codec:
    """``likelihood(j)`` and ``posterior(x)`` return the codecs for x given j and j given x."""
    def push(coder, x):
        j = posterior(x).pop(coder)
        likelihood(j).push(coder, x)
        prior.push(coder, j)

    def pop(coder):
        j = prior.pop(coder)
        x = likelihood(j).pop(coder)
        posterior(x).push(coder, j)
        return x
    return Codec(push, pop)


BatchCodec = Callable[[np.ndarray], Codec]  # a batch's pixel mask -> the codec of its images
Progress = Callable[[int], None]


def next_batch_size(coder, remaining: int, max_batch: int, pops_per_image: int) -> int:
    """As many images as the stack can surely pay latent pops for (>= 1)."""
    affordable = coder.num_valid_bits() // (pops_per_image * MAX_SYMBOL_BITS)
    return int(max(1, min(remaining, max_batch, affordable)))


def push_batches(codec_for: BatchCodec, x: np.ndarray, mask: np.ndarray, pops_per_image: int,
                 max_batch: int = DEFAULT_MAX_BATCH,
                 report: Progress | None = None) -> tuple[np.ndarray, list[int]]:
    """Push all images (in order) on one seeded stack; returns (words, batch sizes)."""
    coder = seeded_coder(pops_per_image)
    schedule: list[int] = []
    start = 0
    while start < len(x):
        size = next_batch_size(coder, len(x) - start, max_batch, pops_per_image)
        codec_for(mask[start:start + size]).push(coder, x[start:start + size])
        schedule.append(size)
        start += size
        if report:
            report(size)
    return coder.get_compressed(), schedule


def pop_batches(codec_for: BatchCodec, words: np.ndarray, mask: np.ndarray, schedule: list[int],
                pops_per_image: int, report: Progress | None = None) -> np.ndarray:
    """Pop the images back (last batch first); verifies the seed comes back."""
    if sum(schedule) != len(mask) or min(schedule, default=1) < 1:
        raise CodingError("batch schedule does not match the number of tiles")
    coder = ANS(np.ascontiguousarray(words, dtype=np.uint32))
    x = np.zeros(mask.shape, dtype=np.uint8)
    ends = np.cumsum(schedule)
    for end, size in zip(ends[::-1], schedule[::-1]):
        x[end - size:end] = codec_for(mask[end - size:end]).pop(coder)
        if report:
            report(int(size))
    if not np.array_equal(coder.get_compressed(), seeded_coder(pops_per_image).get_compressed()):
        raise IntegrityError("the ANS stack did not return to its initial state: "
                             "the archive is corrupted or was decoded with other weights")
    return x
