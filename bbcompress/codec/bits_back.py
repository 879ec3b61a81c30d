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

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from ..errors import CodingError, IntegrityError
from .core import ANS, MAX_SYMBOL_BITS, Codec, batch_progress, seeded_coder

# Most images per batch: 100 keeps a batch's pixel arrays in cache; larger batches were
# no faster for binary and ~12% slower for greyscale (benchmarks/results/speed*.md).
DEFAULT_MAX_BATCH = 100
# A batch's memory grows with its images (a local model's decoder holds ~0.9 MB an
# image: 686 MiB peak for the largest archive at its own batch of 500, 2 GiB at 2,000)
# and with its particles (an mlp holds every particle's pixel laws at once): decoders
# take batches up to 1.5 times the model's own (the largest archive in batches of 750:
# 893 MiB), at up to TOP_PARTICLES (the most any level takes), fewer beyond; so a header
# cannot claim 171,396 tiles in one batch (of 256 particles: 78 GiB). Compress refuses
# --batch beyond it.
BATCH_MARGIN = 3, 2  # 3/2, in integers
TOP_PARTICLES = 16


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


Progress = Callable[[int], None]


@dataclass(frozen=True)
class CodingSettings:
    """How a model codes, as an archive section records it: the same value builds the
    coding on both sides (a model without a latent ignores all of it)."""
    encoder: str = "none"  # the named encoder of q(z|x)
    latents: str = "buckets"  # latent discretization (codec.latents)
    latent_bits: int = 8
    particles: int = 1  # > 1: importance-sampled bits-back
    refine_steps: int = 0  # per-image refinement of q


class Coding(Protocol):
    """A model as codecs: what a chain of batches needs (each batch's codec and what one
    image pops), and what choosing a model needs (a cheap cost estimate).

    A coding may have a lighter *warm-up* codec (``warm=True``: e.g. plain bits-back
    where the full one pops many particles): batches use it until the stack can pay for
    one image of the full codec, so the seed stays as small as the light codec needs."""

    max_batch: int  # most images per batch by default
    particles: int
    refine_steps: int

    def codec(self, mask: np.ndarray, warm: bool = False) -> Codec: ...

    def pops_per_image(self, warm: bool = False) -> int: ...

    def estimate_bits(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """About -log2 p(x) per image (bits), cheaply."""


def batch_limit(coding: Coding) -> int:
    """The most images in one batch that a decoder of ``coding`` takes."""
    times, per = BATCH_MARGIN
    return max(1, coding.max_batch * times * TOP_PARTICLES // (per * max(TOP_PARTICLES, coding.particles)))


def next_batch_size(coder, remaining: int, max_batch: int, pops_per_image: int) -> int:
    """As many images as the stack can surely pay latent pops for (>= 1)."""
    if pops_per_image == 0:  # a codec that pops nothing first (no latent) can take any batch
        return int(max(1, min(remaining, max_batch)))
    affordable = coder.num_valid_bits() // (pops_per_image * MAX_SYMBOL_BITS)
    return int(max(1, min(remaining, max_batch, affordable)))


def push_batches(coding: Coding, x: np.ndarray, mask: np.ndarray, max_batch: int = DEFAULT_MAX_BATCH,
                 report: Progress | None = None) -> tuple[np.ndarray, list[int], int]:
    """Push all images (in order) on one seeded stack: (words, batch sizes, warm-up batches)."""
    coder = seeded_coder(coding.pops_per_image(warm=True))
    full = coding.pops_per_image()
    schedule: list[int] = []
    warmup, start = 0, 0
    while start < len(x):
        warm = warmup == len(schedule) and coder.num_valid_bits() < full * MAX_SYMBOL_BITS
        size = next_batch_size(coder, len(x) - start, max_batch, coding.pops_per_image(warm))
        with batch_progress(report, size):
            coding.codec(mask[start:start + size], warm).push(coder, x[start:start + size])
        schedule.append(size)
        warmup += warm
        start += size
    return coder.get_compressed(), schedule, warmup


def pop_batches(coding: Coding, words: np.ndarray, mask: np.ndarray, schedule: list[int],
                warmup: int = 0, report: Progress | None = None, largest: int | None = None) -> np.ndarray:
    """Pop the images back (last batch first); verifies the seed comes back. ``largest``:
    the largest batch taken, by default ``batch_limit`` (what an archive may hold; a
    benchmark of larger batches passes its own)."""
    if sum(schedule) != len(mask) or min(schedule, default=1) < 1 or not 0 <= warmup <= len(schedule):
        raise CodingError("batch schedule does not match the number of tiles")
    largest = largest or batch_limit(coding)
    if max(schedule, default=0) > largest:
        raise IntegrityError(f"a batch of {max(schedule):,} images at {coding.particles} particle(s): more "
                             f"than this model decodes at once ({largest:,}); the archive is "
                             f"corrupted or crafted")
    if len(words) and words[-1] == 0:  # constriction refuses it with a ValueError of its own
        raise IntegrityError("coded data that ends in a zero word: the archive is corrupted or crafted")
    coder = ANS(np.ascontiguousarray(words, dtype=np.uint32))
    x = np.zeros(mask.shape, dtype=np.uint8)
    ends = np.cumsum(schedule)
    for index in reversed(range(len(schedule))):
        end, size = ends[index], schedule[index]
        with batch_progress(report, int(size)):
            x[end - size:end] = coding.codec(mask[end - size:end], index < warmup).pop(coder)
    seed = seeded_coder(coding.pops_per_image(warm=True)).get_compressed()
    if not np.array_equal(coder.get_compressed(), seed):
        raise IntegrityError("the ANS stack did not return to its initial state: "
                             "the archive is corrupted or was decoded with other weights")
    return x
