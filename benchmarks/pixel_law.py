"""Two exact ways to code an 8-bit pixel under a mixture of discretized logistics:
8 binary decisions (what the coder does) or one categorical symbol over a 256-entry
table (the mixture's mass of every level, quantized by constriction). Same laws, same
pixels: rate and speed side by side.

Usage:
    python -m benchmarks.pixel_law --model mnist-greyscale-local-v1 --images 200
Writes benchmarks/results/pixel-law.{json,md}.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from bbcompress.codec.core import ANS, MODELS
from bbcompress.codec.mixture import mixture_laws
from bbcompress.codec.pixels import BERNOULLI
from bbcompress.families.config import MAX_LOG_SCALE, MIN_LOG_SCALE
from bbcompress.families.local_coding import LocalCoding
from bbcompress.zoo import resolve_model
from bbcompress.training.data import load_dataset

from .harness import write_results

CATEGORICAL = MODELS.Categorical(perfect=False)


def level_table(weights, mean, log_scale, floor: float) -> np.ndarray:
    """P(level) for every pixel (N, 256): the mixture's bin masses, then the floor."""
    edges = np.arange(1, 256) - 0.5
    cdf = np.zeros((len(mean), 257))
    cdf[:, -1] = 1.0
    for k in range(mean.shape[1]):
        t = (edges[None] - mean[:, k:k + 1]) * np.exp(-log_scale[:, k:k + 1])
        with np.errstate(over="ignore"):  # far below the mean: sigmoid 0
            cdf[:, 1:-1] += weights[:, k:k + 1] / (1.0 + np.exp(-t))
    return (1 - floor) * np.diff(cdf, axis=1) + floor / 256


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()
    checkpoint = resolve_model(args.model)
    coding = LocalCoding(checkpoint)
    x = load_dataset("mnist10k").x_test[:args.images].reshape(args.images, -1)
    raw = coding.laws(x, np.ones(x.shape, dtype=bool)).reshape(-1, checkpoint.config.local_outputs)
    levels, floor = x.reshape(-1), checkpoint.config.pixel_floor
    rows = []
    with threadpool_limits(1):
        law = coding.law
        p, prepare_s = timed(lambda: law.probabilities(raw, levels))
        symbols = law.symbols(levels)
        coder = ANS()
        _, push_s = timed(lambda: coder.encode_reverse(symbols.T.ravel().astype(np.int32), BERNOULLI, p.T.ravel()))
        bits = coder.num_bits()
        rows.append({"law": "8 binary decisions", "bits_per_dim": bits / levels.size,
                     "laws_s": prepare_s, "code_s": push_s})
        laws = mixture_laws(raw, checkpoint.config.mixture, MIN_LOG_SCALE, MAX_LOG_SCALE)
        table, table_s = timed(lambda: level_table(*laws, floor))
        coder = ANS()
        _, push_s = timed(lambda: coder.encode_reverse(levels.astype(np.int32), CATEGORICAL, table))
        table_bits = coder.num_bits()
        assert np.array_equal(coder.decode(CATEGORICAL, table), levels)
        rows.append({"law": "256-entry table (constriction Categorical)", "bits_per_dim": table_bits / levels.size,
                     "laws_s": table_s, "code_s": push_s})
    exact = -coding.estimate_bits(x, np.ones(x.shape, bool)).sum() / levels.size
    lines = ["| pixel law | bits/dim | laws per second (pixels) | ANS encode per second (pixels) |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['law']} | {r['bits_per_dim']:.5f} | {levels.size / r['laws_s']:,.0f} | {levels.size / r['code_s']:,.0f} |")
    lines.append(f"\n{args.images} mnist10k test digits ({levels.size:,} pixels), model {args.model}, one thread; "
                 f"-log2 p(x) of the model: {-exact:.5f} bits/dim.")
    write_results("pixel-law", "Coding an 8-bit pixel: binary decisions or a 256-entry table", "\n".join(lines),
                  {"rows": rows, "model": args.model, "images": args.images})


if __name__ == "__main__":
    main()
