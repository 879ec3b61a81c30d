"""Writes bbcompress/codec/normal_quantiles.npy: scipy.special.ndtri(i / 2**13) for
i = 0 .. 2**13, the standard normal quantiles every equal-mass bucket edge and centre of
1..12 bits is (k / 2**b and (k + 0.5) / 2**b are exactly such i / 2**13).

The coder reads the table instead of importing scipy (0.3 s) to build buckets; the
archives' bits depend on these values, so the table, not scipy's version, now fixes
them. tests/test_coder.py checks it equals scipy's ndtri bit for bit.

Usage: python scripts/make_normal_quantiles.py
"""
from pathlib import Path

import numpy as np
from scipy.special import ndtri

from bbcompress.codec.latents import QUANTILE_BITS, QUANTILES_FILE

if __name__ == "__main__":
    table = ndtri(np.arange((1 << QUANTILE_BITS) + 1) / (1 << QUANTILE_BITS))
    np.save(Path(QUANTILES_FILE), table.astype("<f8"), allow_pickle=False)
    print(f"{QUANTILES_FILE}: {len(table)} quantiles")
