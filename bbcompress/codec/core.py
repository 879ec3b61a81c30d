"""Codecs as values: a ``Codec`` is a ``(push, pop)`` pair over constriction's ANS stack.

    push(coder, symbols) -> None      # encode symbols onto the stack
    pop(coder) -> symbols             # decode them back: pop undoes push exactly

The stack is last-in first-out, so a codec that codes several parts pushes them in
the reverse of the order it pops them. Codecs compose:

- ``chain(start, step, length)``: symbol k is coded by a codec that depends on the
  symbols before it (the 8 decisions of a greyscale level, the raster order of an
  autoregressive model). Pushing walks forward to find every codec, then pushes backwards.
- ``masked(codec, mask)``: codes only ``symbols[mask]``; the rest are known zeros.

Both sides of an archive must build every codec from bit-identical parameters: the
functions that make codecs (``bernoulli``, the latent schemes, ``bits_back``) take the
parameters as values, and the caller guarantees they are exact.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable

import constriction
import numpy as np

from ..errors import CodingError

ANS = constriction.stream.stack.AnsCoder
MODELS = constriction.stream.model
MAX_SYMBOL_BITS = 24  # constriction's precision: no symbol costs more than this
SEED_RNG = 0xBBC0DE


@dataclass(frozen=True)
class Codec:
    push: Callable[[Any, Any], None]
    pop: Callable[[Any], Any]


def require_finite(values: np.ndarray, what: str) -> np.ndarray:
    # constriction panics (a BaseException) on NaN: refuse before it sees one.
    if not np.all(np.isfinite(values)):
        raise CodingError(f"non-finite {what} from the network: cannot code this input")
    return values


# Step: state -> (codec for the next symbol, advance(symbol) -> next state)
Step = Callable[[Any], tuple[Codec, Callable[[Any], Any]]]


def chain(start: Any, step: Step, length: int) -> Codec:
    """``length`` symbols in order; symbol k's codec depends on symbols < k via the state."""
    def push(coder, symbols):
        codecs, state = [], start
        for symbol in symbols:
            codec, advance = step(state)
            codecs.append(codec)
            state = advance(symbol)
        for codec, symbol in zip(reversed(codecs), reversed(list(symbols))):
            codec.push(coder, symbol)

    def pop(coder):
        symbols, state = [], start
        for _ in range(length):
            codec, advance = step(state)
            symbols.append(codec.pop(coder))
            state = advance(symbols[-1])
        return symbols
    return Codec(push, pop)


def masked(codec: Codec, mask: np.ndarray) -> Codec:
    """Codes ``x[mask]`` only; pop returns an array of ``mask.shape`` with zeros elsewhere."""
    def push(coder, x):
        codec.push(coder, x[mask])

    def pop(coder):
        x = np.zeros(mask.shape, dtype=np.uint8)
        x[mask] = codec.pop(coder)
        return x
    return Codec(push, pop)


# How far through its batch a long codec call is: ``batch_progress`` (around one batch's
# push or pop) turns the fractions a codec reports (``batch_done``) into tiles, so that
# progress moves within a batch, not only at its end (a local model's batch of 500 tiles
# takes seconds). A context variable, not an argument: codecs keep their (push, pop) form.
_batch_done: ContextVar[Callable[[float], None] | None] = ContextVar("batch_done", default=None)


def batch_done(fraction: float) -> None:
    """Called by a long codec call: ``fraction`` (0..1) of its batch is coded."""
    report = _batch_done.get()
    if report is not None:
        report(fraction)


@contextmanager
def batch_progress(report: Callable[[int], None] | None, size: int):
    """Within it, ``batch_done`` fractions reach ``report`` as tiles of this batch of
    ``size``; the rest of them when it ends."""
    if report is None:
        yield
        return
    done = 0

    def advance(fraction: float) -> None:
        nonlocal done
        target = min(size, int(fraction * size))
        if target > done:
            report(target - done)
            done = target
    token = _batch_done.set(advance)
    try:
        yield
    finally:
        _batch_done.reset(token)
    advance(1.0)


def seed_words(pops_per_image: int) -> np.ndarray:
    """Fixed pseudo-random initial bits: enough for the first image's pops (its latents)."""
    count = -(-pops_per_image * MAX_SYMBOL_BITS // 32) + 1
    return np.random.default_rng(SEED_RNG).integers(0, 2**32, count, dtype=np.uint32)


def seeded_coder(pops_per_image: int):
    return ANS(seed_words(pops_per_image), seal=True)


def seed_bits(pops_per_image: int) -> int:
    """Initial bits paid once per archive (the sealed seed's valid bits)."""
    return int(seeded_coder(pops_per_image).num_valid_bits())
