"""Images per second of the whole library pipeline (tiles, model choice, coding,
archive bytes, decoding, checks), per model and number of chains (--threads).

Usage:
    python -m benchmarks.throughput --data mnist10k --model mnist-greyscale --model DEFAULTS
    python -m benchmarks.throughput --data mnist10k --threads 1 --threads 2 --repeats 2

``DEFAULTS`` is what ``compress`` does with no --model: every installed model of the
kind is a candidate (each image's cost is estimated under each), and the classic
fallback is on; a named model is forced (no estimates), fallback off. Each run codes
the same images in one archive at level 1 (level 4 with --level 4); the best of
--repeats runs is kept. Writes benchmarks/results/throughput[-NAME].{json,md}.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from bbcompress.api import CodingOptions, compress_images, decompress_archive
from bbcompress.io.archive import parse
from bbcompress.io.images import images_from_array
from bbcompress.zoo import ModelSet
from bbcompress.workers import available_cores
from bbcompress.training.data import load_dataset

from .harness import write_results

DEFAULTS = "DEFAULTS"


def timed_roundtrip(images, model: str, threads: int, level: int) -> dict:
    models = ModelSet() if model == DEFAULTS else ModelSet([model])
    options = CodingOptions(level=level, threads=threads, fallback=model == DEFAULTS)
    started = time.perf_counter()
    data = compress_images(images, models, options).to_bytes()
    compress_s = time.perf_counter() - started
    started = time.perf_counter()
    decoded = decompress_archive(parse(data), models, threads=threads)
    decompress_s = time.perf_counter() - started
    by_name = {image.name: image.pixels for image in decoded}  # sections: models, then classic
    assert all(np.array_equal(image.pixels, by_name[image.name]) for image in images), model
    pixels = sum(image.pixels.size for image in images)
    return {"compress_s": compress_s, "decompress_s": decompress_s, "bits_per_dim": 8 * len(data) / pixels,
            "chains": len(parse(data).sections)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist10k")
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--threads", action="append", type=int)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--level", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", default="throughput")
    args = parser.parse_args()
    dataset = load_dataset(args.data)
    images = images_from_array(dataset.x_test[:args.images], dataset.kind)
    rows = []
    for model in args.model:
        for threads in args.threads or [1, available_cores()]:
            runs = [timed_roundtrip(images, model, threads, args.level) for _ in range(args.repeats)]
            best = {"compress_s": min(r["compress_s"] for r in runs),
                    "decompress_s": min(r["decompress_s"] for r in runs),
                    "bits_per_dim": runs[0]["bits_per_dim"], "chains": runs[0]["chains"]}
            rows.append({"model": model, "threads": threads, "images": len(images), **best,
                         "compress_images_per_s": len(images) / best["compress_s"],
                         "decompress_images_per_s": len(images) / best["decompress_s"]})
            print(rows[-1], flush=True)
    lines = ["| model | threads | sections | compress img/s | decompress img/s | bits/dim (whole file) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['threads']} | {r['chains']} | {r['compress_images_per_s']:,.0f} | "
                     f"{r['decompress_images_per_s']:,.0f} | {r['bits_per_dim']:.4f} |")
    lines.append(f"\n{len(images):,} {args.data} test images in one archive, level {args.level}; "
                 f"{available_cores()} cores; best of {args.repeats}. {DEFAULTS}: every installed model "
                 f"of the kind a candidate, classic fallback on.")
    write_results(args.out, f"Throughput of the whole pipeline on {args.data}", "\n".join(lines),
                  {"rows": rows, "cores": available_cores()})


if __name__ == "__main__":
    main()
