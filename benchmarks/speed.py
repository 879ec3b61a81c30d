"""Compress and decompress speed of the whole coding pipeline (networks + ANS coding).

For each model and most-images-per-batch setting, the test digits of the model's dataset
are pushed onto one stack and popped back (every pixel verified). The network calls are
timed separately, so images/s splits into network time and coding time. Peak memory is
the largest traced numpy/Python allocation during one roundtrip (tracemalloc), and the
process's peak resident size is reported once.

Usage:
    python -m benchmarks.speed --model mnist-binary --model mnist-greyscale
    python -m benchmarks.speed --model runs/seed-mnist10k-binary/epoch-0100 --out speed-seed
Writes benchmarks/results/<out>.{json,md} (default speed).
"""
from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import numpy as np

from bbcompress.codec.bits_back import pop_batches, push_batches
from bbcompress.families.mlp_coding import MLPCoding
from bbcompress.zoo import resolve_model
from bbcompress.training.data import load_dataset

from .harness import add_model_arguments, write_results

BATCHES = (1, 10, 100, 1000)


class TimedCoding(MLPCoding):
    """The coder's networks with a clock: ``network_s`` adds up the time spent in
    ``encode`` and ``decode`` (the exact networks and their likelihood heads)."""

    network_s = 0.0

    def timed(self, network, argument):
        started = time.perf_counter()
        try:
            return network(argument)
        finally:
            self.network_s += time.perf_counter() - started

    def encode(self, x):
        return self.timed(super().encode, x)

    def decode(self, z):
        return self.timed(super().decode, z)


def timed_roundtrip(coding: TimedCoding, x: np.ndarray, max_batch: int) -> dict:
    mask = np.ones(x.shape, dtype=bool)
    tracemalloc.start()
    coding.network_s = 0.0
    started = time.perf_counter()
    words, schedule, warmup = push_batches(coding, x, mask, max_batch)
    compress_s, compress_net = time.perf_counter() - started, coding.network_s
    coding.network_s = 0.0
    started = time.perf_counter()
    decoded = pop_batches(coding, words, mask, schedule, warmup, largest=max(schedule))  # beyond archives' limit
    decompress_s, decompress_net = time.perf_counter() - started, coding.network_s
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if not np.array_equal(decoded, x):
        raise AssertionError("roundtrip changed pixels")
    return {"batches": len(schedule), "compress_s": compress_s, "decompress_s": decompress_s,
            "compress_network_s": compress_net, "decompress_network_s": decompress_net,
            "traced_peak_mib": peak / 2**20, "net_bits": 32 * len(words)}


def measure_model(name: str, encoder: str | None, repeats: int, batches=BATCHES) -> list[dict]:
    checkpoint = resolve_model(name)
    encoder = encoder or checkpoint.default_encoder
    dataset = load_dataset(checkpoint.info["data"])
    x = dataset.x_test.reshape(len(dataset.x_test), -1).astype(np.uint8)
    coding = TimedCoding(checkpoint, encoder)
    rows = []
    for max_batch in batches:
        # best of `repeats`: the least disturbed run on a shared machine
        runs = [timed_roundtrip(coding, x, max_batch) for _ in range(repeats)]
        best = min(runs, key=lambda r: r["compress_s"] + r["decompress_s"])
        rows.append({"model": name, "encoder": encoder, "data": dataset.name, "latent": checkpoint.config.latent,
                     "images": len(x), "max_batch": max_batch, **best,
                     "compress_images_per_s": len(x) / best["compress_s"],
                     "decompress_images_per_s": len(x) / best["decompress_s"]})
        print(f"{name} batch {max_batch}: {rows[-1]['compress_images_per_s']:,.0f} / "
              f"{rows[-1]['decompress_images_per_s']:,.0f} images/s", flush=True)
    return rows


def markdown(rows: list[dict], machine: dict) -> str:
    lines = ["| model | latent | batch | compress img/s | network share | decompress img/s | network share "
             "| traced peak MiB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} ({r['encoder']}) | {r['latent']} | {r['max_batch']} | "
                     f"{r['compress_images_per_s']:,.0f} | {r['compress_network_s'] / r['compress_s']:.0%} | "
                     f"{r['decompress_images_per_s']:,.0f} | {r['decompress_network_s'] / r['decompress_s']:.0%} | "
                     f"{r['traced_peak_mib']:.0f} |")
    return (f"{rows[0]['images']:,} test digits per model.\n\n" + "\n".join(lines)
            + f"\n\n{machine['cpus']} CPUs (OMP_NUM_THREADS {machine['omp_num_threads']}), peak "
            f"resident memory of the process {machine['peak_rss_mib']:.0f} MiB.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)),
                        help="comma-separated largest batch sizes to time")
    parser.add_argument("--out", default="speed")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    rows = [row for name in args.model for row in measure_model(name, args.encoder, args.repeats, batches)]
    machine = {"cpus": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
               "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    write_results(args.out, "Speed: whole pipeline", markdown(rows, machine), {"machine": machine, "rows": rows})


if __name__ == "__main__":
    main()
