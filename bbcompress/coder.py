"""Bits-back ANS over discretized latents, on constriction's stack coder.

Every codec here is a ``push``/``pop`` pair written side by side; ``pop`` undoes
``push`` exactly, and both see the same distribution parameters bit for bit.
A batch of B images is coded at once (one constriction call per symbol kind):

    push images x:  j ~ Q(j|x)  <- pop latents with the posterior   (bits come back)
                    push x with p(x | z_j)
                    push j with the prior P(j)
    pop images:     mirror: pop j with P, pop x with p(x | z_j), push j with Q(j|x)

Net stack growth per image is -log P(j) - log p(x|z_j) + log Q(j|x), a one-sample
estimate of the discretized -ELBO. Many batches chain on one stack, so the initial
bits (a fixed pseudo-random seed the first pops draw from) are paid once.

The coder knows nothing of training: it is given two callables,
``encode(x) -> (mean, std)`` (each (B, L) float64) and ``decode(z) -> params``
(logits, or (mean, log_scale), each (B, D) float64), and trusts them to be
deterministic. Masked pixels (the padding of edge tiles) are not coded at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import constriction
import numpy as np
from scipy.special import ndtr, ndtri

from .errors import CodingError, IntegrityError

ANS = constriction.stream.stack.AnsCoder
MODELS = constriction.stream.model
MAX_SYMBOL_BITS = 24  # constriction's precision: no symbol costs more than this
SEED_RNG = 0xBBC0DE
# Most images per batch: 100 keeps a batch's pixel arrays in cache; larger batches were
# no faster for binary and ~12% slower for greyscale (benchmarks/results/speed*.md).
DEFAULT_MAX_BATCH = 100


def require_finite(values: np.ndarray, what: str) -> np.ndarray:
    # constriction panics (a BaseException) on NaN: refuse before it sees one.
    if not np.all(np.isfinite(values)):
        raise CodingError(f"non-finite {what} from the network: cannot code this input")
    return values


# --------------------------------------------------------------------- pixels
class PixelCodec(Protocol):
    def push(self, coder, x: np.ndarray, params) -> None: ...
    def pop(self, coder, params) -> np.ndarray: ...
    def select(self, params, mask: np.ndarray): ...


class BernoulliPixels:
    """Binary pixels; params are logits."""

    model = MODELS.Bernoulli(perfect=False)

    @staticmethod
    def probabilities(logits: np.ndarray) -> np.ndarray:
        require_finite(logits, "logits")
        with np.errstate(over="ignore"):
            return np.clip(1.0 / (1.0 + np.exp(-logits)), 0.0, 1.0)

    def push(self, coder, x, logits):
        coder.encode_reverse(x.astype(np.int32), self.model, self.probabilities(logits))

    def pop(self, coder, logits):
        return coder.decode(self.model, self.probabilities(logits)).astype(np.uint8)

    def select(self, logits, mask):
        return logits[mask]


class Logistic256Pixels:
    """8-bit pixels under a discretized logistic, as 8 binary decisions (MSB first).

    Decision k splits the current interval of levels in two halves; P(upper half) =
    mass(upper) / mass(interval), computed from logistic tail masses on the side
    away from the mean so neither tail loses precision. The chain rule makes the
    product of the 8 decisions exactly the discretized logistic (open-ended at 0 and
    255), but each decision needs one sigmoid instead of a 256-entry table. A ``floor``
    e mixes in e * uniform: each half's mass gains e * (its levels) / 256.
    """

    model = MODELS.Bernoulli(perfect=False)
    LEVELS_BITS = 8

    def __init__(self, floor: float = 0.0):
        self.floor = floor

    @staticmethod
    def tails(edge: np.ndarray, mean, inv_scale):
        """(F, S) = (P(X < edge), P(X > edge)) with exact 0/1 at the open ends."""
        t = (edge - mean) * inv_scale
        e = np.exp(-np.abs(t))
        small, large = e / (1.0 + e), 1.0 / (1.0 + e)
        positive = t >= 0
        return np.where(positive, large, small), np.where(positive, small, large)

    def upper_probability(self, lo, mid, hi, below_mean, half: int):
        """P(upper half | current interval), given the (F, S) tails at its three edges.

        ``below_mean`` says the mid edge lies at or below the mean; ``half`` is the
        number of levels in each half (the floor adds the same mass to both).
        """
        (f_lo, s_lo), (f_mid, s_mid), (f_hi, s_hi) = lo, mid, hi
        lower = np.where(below_mean, f_mid - f_lo, s_lo - s_mid)
        upper = np.where(below_mean, f_hi - f_mid, s_mid - s_hi)
        if self.floor:
            lower = (1 - self.floor) * lower + self.floor * half / 256
            upper = (1 - self.floor) * upper + self.floor * half / 256
        total = lower + upper
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.where(total > 0, upper / total, 0.5)  # both underflowed: any fixed p
        return np.clip(p, 0.0, 1.0)

    def prepare(self, params):
        mean, log_scale = params
        return require_finite(mean, "means"), np.exp(-require_finite(log_scale, "log-scales"))

    def descend(self, params, choose):
        """Walk the 8 decisions MSB first; ``choose(level, p)`` returns the bits taken.

        The edges of the next interval are edges of the current one, so their tails
        are carried rather than recomputed: one ``exp`` per decision, not three.
        """
        mean, inv_scale = self.prepare(params)
        low = np.zeros(mean.shape, dtype=np.int64)
        lo = (np.zeros_like(mean), np.ones_like(mean))  # tails at the open end -inf
        hi = (np.ones_like(mean), np.zeros_like(mean))  # tails at the open end +inf
        for level in range(self.LEVELS_BITS):
            half = 1 << (self.LEVELS_BITS - 1 - level)
            edge = low + half - 0.5
            mid = self.tails(edge, mean, inv_scale)
            taken = choose(level, self.upper_probability(lo, mid, hi, edge <= mean, half)) == 1
            low = np.where(taken, low + half, low)
            lo = tuple(np.where(taken, m, t) for m, t in zip(mid, lo))
            hi = tuple(np.where(taken, t, m) for m, t in zip(mid, hi))
        return low

    def push(self, coder, x, params):
        x = x.astype(np.int64)
        probabilities, bits = [], []

        def choose(level, p):
            probabilities.append(p)
            bits.append(((x >> (self.LEVELS_BITS - 1 - level)) & 1).astype(np.int32))
            return bits[-1]

        self.descend(params, choose)
        for p, b in zip(reversed(probabilities), reversed(bits)):  # MSB pushed last
            coder.encode_reverse(b, self.model, p)

    def pop(self, coder, params):
        return self.descend(params, lambda level, p: coder.decode(self.model, p)).astype(np.uint8)

    def select(self, params, mask):
        return tuple(p[mask] for p in params)


# -------------------------------------------------------------------- latents
class EqualMassLatents:
    """BB-ANS buckets: 2**bits per latent dim of equal mass under N(0, 1).

    P(j) is uniform; Q(j|x) is the mass of N(mean, std) in bucket j (a table per
    symbol); z_j is the bucket's median, rounded to the 2**-16 grid so the decoder
    network sees exact inputs.
    """

    def __init__(self, bits: int = 8):
        self.bits = bits
        count = 1 << bits
        self.edges = ndtri(np.arange(count + 1) / count)  # -inf .. +inf
        self.centres = np.round(ndtri((np.arange(count) + 0.5) / count) * 2**16) / 2**16
        self.z_max = float(np.abs(self.centres).max())
        self.prior = MODELS.Uniform(count)
        self.posterior = MODELS.Categorical(perfect=False)

    def table(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        cdf = ndtr((self.edges[None, :] - mean.reshape(-1, 1)) / std.reshape(-1, 1))
        return np.ascontiguousarray(np.diff(cdf, axis=1))

    def push_prior(self, coder, j):
        coder.encode_reverse(j.ravel().astype(np.int32), self.prior)

    def pop_prior(self, coder, shape):
        return coder.decode(self.prior, int(np.prod(shape))).reshape(shape)

    def push_posterior(self, coder, j, mean, std):
        coder.encode_reverse(j.ravel().astype(np.int32), self.posterior, self.table(mean, std))

    def pop_posterior(self, coder, mean, std):
        return coder.decode(self.posterior, self.table(mean, std)).reshape(mean.shape)

    def z(self, j):
        return self.centres[j]


class GridLatents:
    """A uniform grid z = j * 2**-bits_per_unit, |z| <= z_max, with quantized
    Gaussians for both P (N(0,1)) and Q (N(mean, std)), computed natively by constriction.
    """

    def __init__(self, bits_per_unit: int = 7, z_max: float = 4.0):
        self.step = 2.0**-bits_per_unit
        self.j_max = int(z_max / self.step)
        self.z_max = self.j_max * self.step
        self.model = MODELS.QuantizedGaussian(-self.j_max, self.j_max)

    @property
    def bits(self) -> float:
        return float(np.log2(2 * self.j_max + 1))

    def gaussian(self, mean, std):
        return (np.ascontiguousarray(mean.ravel() / self.step),
                np.ascontiguousarray(std.ravel() / self.step))

    def push_prior(self, coder, j):
        ones = np.ones(j.size)
        coder.encode_reverse(j.ravel().astype(np.int32), self.model, 0 * ones, ones / self.step)

    def pop_prior(self, coder, shape):
        ones = np.ones(int(np.prod(shape)))
        return coder.decode(self.model, 0 * ones, ones / self.step).reshape(shape)

    def push_posterior(self, coder, j, mean, std):
        coder.encode_reverse(j.ravel().astype(np.int32), self.model, *self.gaussian(mean, std))

    def pop_posterior(self, coder, mean, std):
        return coder.decode(self.model, *self.gaussian(mean, std)).reshape(mean.shape)

    def z(self, j):
        return j * self.step


# ------------------------------------------------------------------ bits-back
Encode = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
Decode = Callable[[np.ndarray], object]


@dataclass
class BitsBack:
    """BB-ANS for a batch of images: ``x`` (B, D) pixel ints, ``mask`` (B, D) bool."""

    encode: Encode
    decode: Decode
    latents: EqualMassLatents | GridLatents
    pixels: BernoulliPixels | Logistic256Pixels
    latent_dims: int

    def posterior(self, x, mask):
        # Masked pixels are zero on both sides, so Q(j|x) is the same when popping.
        mean, std = self.encode(np.where(mask, x, 0))
        return require_finite(mean, "latent means"), require_finite(std, "latent stds")

    def push(self, coder, x, mask):
        j = self.latents.pop_posterior(coder, *self.posterior(x, mask))
        params = self.decode(self.latents.z(j))
        self.pixels.push(coder, x[mask], self.pixels.select(params, mask))
        self.latents.push_prior(coder, j)

    def pop(self, coder, mask):
        j = self.latents.pop_prior(coder, (len(mask), self.latent_dims))
        params = self.decode(self.latents.z(j))
        x = np.zeros(mask.shape, dtype=np.uint8)
        x[mask] = self.pixels.pop(coder, self.pixels.select(params, mask))
        self.latents.push_posterior(coder, j, *self.posterior(x, mask))
        return x


def seed_words(latent_dims: int) -> np.ndarray:
    """Fixed pseudo-random initial bits: enough for the first image's latent pops."""
    count = -(-latent_dims * MAX_SYMBOL_BITS // 32) + 1
    return np.random.default_rng(SEED_RNG).integers(0, 2**32, count, dtype=np.uint32)


def next_batch_size(coder, remaining: int, max_batch: int, latent_dims: int) -> int:
    """As many images as the stack can surely pay latent pops for (>= 1)."""
    affordable = coder.num_valid_bits() // (latent_dims * MAX_SYMBOL_BITS)
    return int(max(1, min(remaining, max_batch, affordable)))


def encode_chain(bits_back: BitsBack, x: np.ndarray, mask: np.ndarray, max_batch: int = DEFAULT_MAX_BATCH,
                 report: Callable[[int], None] | None = None) -> tuple[np.ndarray, list[int]]:
    """Push all images (in order) on one seeded stack; returns (words, batch sizes)."""
    coder = ANS(seed_words(bits_back.latent_dims), seal=True)
    schedule: list[int] = []
    start = 0
    while start < len(x):
        size = next_batch_size(coder, len(x) - start, max_batch, bits_back.latent_dims)
        bits_back.push(coder, x[start:start + size], mask[start:start + size])
        schedule.append(size)
        start += size
        if report:
            report(size)
    return coder.get_compressed(), schedule


def decode_chain(bits_back: BitsBack, words: np.ndarray, mask: np.ndarray, schedule: list[int],
                 report: Callable[[int], None] | None = None) -> np.ndarray:
    """Pop the images back (last batch first); verifies the seed comes back."""
    if sum(schedule) != len(mask) or min(schedule, default=1) < 1:
        raise CodingError("batch schedule does not match the number of tiles")
    coder = ANS(np.ascontiguousarray(words, dtype=np.uint32))
    x = np.zeros(mask.shape, dtype=np.uint8)
    ends = np.cumsum(schedule)
    for end, size in zip(ends[::-1], schedule[::-1]):
        x[end - size:end] = bits_back.pop(coder, mask[end - size:end])
        if report:
            report(int(size))
    seed = ANS(seed_words(bits_back.latent_dims), seal=True).get_compressed()
    if not np.array_equal(coder.get_compressed(), seed):
        raise IntegrityError("the ANS stack did not return to its initial state: "
                             "the archive is corrupted or was decoded with other weights")
    return x


def seed_bits(latent_dims: int) -> int:
    """Initial bits paid once per archive (the sealed seed's valid bits)."""
    return int(ANS(seed_words(latent_dims), seal=True).num_valid_bits())
