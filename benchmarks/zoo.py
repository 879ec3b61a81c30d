"""What a user gets with the defaults: whole-file bits/dim of test sets coded by
`compress` with no options (every installed model a candidate, the classic fallback,
the default level), decoded and checked, and which coder took how many images.

Usage:
    python -m benchmarks.zoo --data fashion-mnist-binary --data fashion-mnist
    python -m benchmarks.zoo --data mnist10k --data fashion-mnist --mixed 1000
    python -m benchmarks.zoo --data mnist10k --level 7 --threads 2 --out zoo-level7
Writes benchmarks/results/zoo.{json,md} (or --out NAME). ``--mixed N`` adds one set of
the first N test images of every --data set together, beside each half coded alone.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from bbcompress.api import CodingOptions, archive_rates, compress_images, decompress_archive
from bbcompress.io.archive import parse
from bbcompress.io.images import images_from_array
from bbcompress.zoo import ModelSet
from bbcompress.training.data import load_dataset

from .harness import write_results


def measure(name: str, images, options: CodingOptions = CodingOptions()) -> dict:
    started = time.perf_counter()
    data = compress_images(images, ModelSet(), options).to_bytes()
    middle = time.perf_counter()
    decoded = decompress_archive(parse(data), ModelSet(), threads=options.threads)
    seconds, decode_s = time.perf_counter() - started, time.perf_counter() - middle
    by_name = {image.name: image.pixels for image in decoded}
    if not all(np.array_equal(by_name[image.name], image.pixels) for image in images):
        raise AssertionError(f"{name}: decoded images differ")
    pixels = sum(image.pixels.size for image in images)
    coders = {}
    for row in archive_rates(parse(data)):  # chains (--threads) are sections of one model
        key = f"{row['model']} ({row['encoder']})"
        coders[key] = coders.get(key, 0) + row["images"]
    return {"set": name, "images": len(images), "bytes": len(data), "bits_per_dim": 8 * len(data) / pixels,
            "coded_by": coders, "roundtrip_s": round(seconds, 1), "decompress_img_per_s": round(len(images) / decode_s, 1)}


def test_set(name: str, count: int | None, prefix: str = ""):
    dataset = load_dataset(name)
    return images_from_array(dataset.x_test[:count], dataset.kind, suffix=f"-{prefix or name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", required=True)
    parser.add_argument("--mixed", type=int, help="also the first N of each set together")
    parser.add_argument("--out", default="zoo")
    parser.add_argument("--level", type=int, default=CodingOptions().level)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    options = CodingOptions(level=args.level, threads=args.threads)
    rows = [measure(name, test_set(name, None), options) for name in args.data]
    if args.mixed:
        halves = [measure(f"{name}, first {args.mixed}", test_set(name, args.mixed), options) for name in args.data]
        mixed = measure(" + ".join(f"{name} first {args.mixed}" for name in args.data),
                        [image for name in args.data for image in test_set(name, args.mixed)], options)
        mixed["halves_bytes"] = sum(h["bytes"] for h in halves)
        rows += halves + [mixed]
    lines = [f"Level {args.level}, {args.threads} thread(s).\n",
             "| test set | images | archive bytes | bits/dim | coded by (images) | decompress img/s |",
             "|---|---:|---:|---:|---|---:|"]
    for row in rows:
        coders = ", ".join(f"{k}: {v}" for k, v in row["coded_by"].items())
        lines.append(f"| {row['set']} | {row['images']:,} | {row['bytes']:,} | {row['bits_per_dim']:.4f} | {coders} "
                     f"| {row['decompress_img_per_s']:,} |")
    for row in rows:
        if "halves_bytes" in row:
            lines.append(f"\nMixed set: {row['bytes']:,} B against {row['halves_bytes']:,} B for the halves "
                         f"coded apart ({100 * (row['bytes'] / row['halves_bytes'] - 1):+.2f}%).")
    write_results(args.out, "Default compression of whole test sets", "\n".join(lines), {"rows": rows})


if __name__ == "__main__":
    main()
