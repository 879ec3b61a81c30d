"""Discretized latents: a scheme gives the prior codec P(j), the posterior codec Q(j|x)
and the latent value z_j of each index (on the 2**-16 grid the exact networks take).

Two schemes (both land within 0.2% of the -ELBO; benchmarks/results/coder-rate.md):
- ``EqualMassLatents``: 2**bits buckets per dim of equal mass under N(0, 1) (BB-ANS);
- ``GridLatents``: a uniform grid with quantized Gaussians, native in constriction.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import CodingError
from .core import MAX_SYMBOL_BITS, MODELS, Codec

SCHEMES = ("buckets", "grid")


# scipy.special is imported on first use, not with this module: it takes 0.3 s, a third
# of a one-image compress, and only coding with a latent needs it (the bucket edges come
# from a table, and estimates use math.erfc).
def ndtr(x: np.ndarray) -> np.ndarray:
    """The standard normal CDF (scipy's, whose exact values the bitstream depends on)."""
    from scipy.special import ndtr as normal_cdf
    return normal_cdf(x)


def approximate_ndtr(x: np.ndarray) -> np.ndarray:
    """The standard normal CDF to within a few ulps, without scipy: for cost estimates,
    never for what is coded."""
    return np.frompyfunc(lambda v: 0.5 * math.erfc(-v / math.sqrt(2.0)), 1, 1)(x).astype(np.float64)


QUANTILE_BITS = 13
QUANTILES_FILE = Path(__file__).with_name("normal_quantiles.npy")


@lru_cache(maxsize=1)
def normal_quantiles() -> np.ndarray:
    """scipy.special.ndtri(i / 2**13), i = 0 .. 2**13 (scripts/make_normal_quantiles.py)."""
    table = np.load(QUANTILES_FILE, allow_pickle=False)
    table.flags.writeable = False
    return table


def quantiles(numerators: np.ndarray, bits: int) -> np.ndarray:
    """ndtri(numerators / 2**bits), bits <= 13, exactly as scipy computes it."""
    return normal_quantiles()[np.asarray(numerators, dtype=np.int64) << (QUANTILE_BITS - bits)]


class EqualMassLatents:
    """P(j) uniform; Q(j|x) the mass of N(mean, std) in bucket j (a table per symbol);
    z_j the bucket's median, rounded to the 2**-16 grid so the decoder sees exact inputs."""

    def __init__(self, bits: int = 8):
        count = 1 << bits
        self.edges = quantiles(np.arange(count + 1), bits)  # -inf .. +inf
        # the median of bucket k is ndtri((k + 0.5) / 2**bits) = ndtri((2k + 1) / 2**(bits + 1))
        self.centres = np.round(quantiles(2 * np.arange(count) + 1, bits + 1) * 2**16) / 2**16
        self.z_max = float(np.abs(self.centres).max())
        self.uniform = MODELS.Uniform(count)
        self.categorical = MODELS.Categorical(perfect=False)

    def table(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        cdf = ndtr((self.edges[None, :] - mean.reshape(-1, 1)) / std.reshape(-1, 1))
        return np.ascontiguousarray(np.diff(cdf, axis=1))

    def prior(self, shape: tuple[int, ...]) -> Codec:
        def push(coder, j):
            coder.encode_reverse(j.ravel().astype(np.int32), self.uniform)

        def pop(coder):
            return coder.decode(self.uniform, int(np.prod(shape))).reshape(shape)
        return Codec(push, pop)

    def posterior(self, mean: np.ndarray, std: np.ndarray) -> Codec:
        table = self.table(mean, std)

        def push(coder, j):
            coder.encode_reverse(j.ravel().astype(np.int32), self.categorical, table)

        def pop(coder):
            return coder.decode(self.categorical, table).reshape(mean.shape)
        return Codec(push, pop)

    def z(self, j: np.ndarray) -> np.ndarray:
        return self.centres[j]

    def nearest(self, z: np.ndarray) -> np.ndarray:
        """The index of the bucket holding each z."""
        return np.clip(np.searchsorted(self.edges, z) - 1, 0, len(self.centres) - 1)

    def log_prior(self, j: np.ndarray, cdf=ndtr) -> np.ndarray:
        return np.full(j.shape, -np.log(len(self.centres)))

    def log_posterior(self, mean: np.ndarray, std: np.ndarray, j: np.ndarray, cdf=ndtr) -> np.ndarray:
        """log Q(j|x); ``cdf``: ``approximate_ndtr`` for an estimate."""
        cdf_hi = cdf((self.edges[j + 1] - mean) / std)
        cdf_lo = cdf((self.edges[j] - mean) / std)
        return np.log(np.clip(cdf_hi - cdf_lo, 2.0**-MAX_SYMBOL_BITS, 1.0))


class GridLatents:
    """z = j * 2**-bits_per_unit, |z| <= z_max, with quantized Gaussians for both
    P (N(0, 1)) and Q (N(mean, std))."""

    def __init__(self, bits_per_unit: int = 7, z_max: float = 4.0):
        self.step = 2.0**-bits_per_unit
        self.j_max = int(z_max / self.step)
        self.z_max = self.j_max * self.step
        self.model = MODELS.QuantizedGaussian(-self.j_max, self.j_max)

    def gaussian(self, mean: np.ndarray, std: np.ndarray) -> Codec:
        """Symbols j under N(mean, std) in units of z (arrays of any matching shape)."""
        loc = np.ascontiguousarray(mean.ravel() / self.step)
        scale = np.ascontiguousarray(std.ravel() / self.step)

        def push(coder, j):
            coder.encode_reverse(j.ravel().astype(np.int32), self.model, loc, scale)

        def pop(coder):
            return coder.decode(self.model, loc, scale).reshape(mean.shape)
        return Codec(push, pop)

    def prior(self, shape: tuple[int, ...]) -> Codec:
        ones = np.ones(shape)
        return self.gaussian(0 * ones, ones)

    def posterior(self, mean: np.ndarray, std: np.ndarray) -> Codec:
        return self.gaussian(mean, std)

    def z(self, j: np.ndarray) -> np.ndarray:
        return j * self.step

    def nearest(self, z: np.ndarray) -> np.ndarray:
        return np.clip(np.round(z / self.step), -self.j_max, self.j_max).astype(np.int64)

    def log_posterior(self, mean: np.ndarray, std: np.ndarray, j: np.ndarray, cdf=ndtr) -> np.ndarray:
        z = self.z(j)
        mass = cdf((z + self.step / 2 - mean) / std) - cdf((z - self.step / 2 - mean) / std)
        return np.log(np.clip(mass, 2.0**-MAX_SYMBOL_BITS, 1.0))

    def log_prior(self, j: np.ndarray, cdf=ndtr) -> np.ndarray:
        return self.log_posterior(np.zeros(j.shape), np.ones(j.shape), j, cdf)


def latent_scheme(name: str, bits: int) -> EqualMassLatents | GridLatents:
    if not 1 <= bits <= QUANTILE_BITS - 1:  # 2**12 buckets already leak mass to 2**-24 floors (DESIGN.md)
        raise CodingError(f"latent precision {bits} outside 1..12 bits")
    if name == "buckets":
        return EqualMassLatents(bits)
    if name == "grid":
        return GridLatents(bits_per_unit=bits)
    raise CodingError(f"unknown latent scheme {name!r}; known: {', '.join(SCHEMES)}")
