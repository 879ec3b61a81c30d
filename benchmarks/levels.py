"""Compression levels: realized rate and speed of each level for one or more models.

Level N codes each image with importance-sampled bits-back over the level's particles
and refines each image's posterior by the level's exact gradient steps
(each family's levels in bbcompress.families: a conv model's add particles only); level 1 is plain bits-back, whose rate is the -ELBO. For each model and level the test images of its dataset are coded in one archive
(model only, no classic fallback), decoded and checked; compress and decompress are timed
on one core (BLAS limited to one thread).

Usage:
    python -m benchmarks.levels --model mnist-binary --model mnist-greyscale
    python -m benchmarks.levels --model mnist-binary --levels 1,5,9 --images 500 --out levels-quick
Writes benchmarks/results/levels.{json,md} (or --out NAME).
"""
from __future__ import annotations

import argparse
import os
import time

from threadpoolctl import threadpool_limits

from bbcompress.api import LEVELS, compress_images, decompress_archive
from bbcompress.io.archive import parse
from bbcompress.families.networks import from_checkpoint
from bbcompress.zoo import ModelSet, resolve_model
from bbcompress.training.evaluate import elbo_bpd, iwae_bpd

from .harness import add_model_arguments, model_only, model_rate, test_images, write_results


def timed_level(images, models: ModelSet, encoder: str, level: int, config) -> dict:
    options = model_only(encoder=encoder, level=level)
    with threadpool_limits(1):
        started = time.perf_counter()
        data = compress_images(images, models, options).to_bytes()
        compress_s = time.perf_counter() - started
        started = time.perf_counter()
        decoded = decompress_archive(parse(data), models)
        decompress_s = time.perf_counter() - started
    if any((a.pixels != b.pixels).any() for a, b in zip(images, decoded, strict=True)):
        raise AssertionError(f"level {level}: decoded images differ")
    rate = model_rate(parse(data))
    particles, steps = config.spec.level(level)
    return {"level": level, "particles": particles, "refine_steps": steps, "bytes": len(data),
            "whole_file_bpd": 8 * len(data) / rate.pixels, "net_bpd": rate.net_bits_per_dim,
            "initial_bits": rate.initial_bits, "compress_images_per_s": len(images) / compress_s,
            "decompress_images_per_s": len(images) / decompress_s}


def measure_model(name: str, encoder: str | None, levels: list[int], count: int | None, iwae: int) -> dict:
    checkpoint = resolve_model(name)
    encoder = encoder or checkpoint.default_encoder
    dataset, images = test_images(checkpoint)
    images, x = images[:count], dataset.x_test[:count]
    vae = from_checkpoint(checkpoint, encoder).eval()
    bounds = {"elbo_bpd": elbo_bpd(vae, x, samples=10), "iwae_bpd": iwae_bpd(vae, x, samples=iwae),
              "iwae_samples": iwae}
    models = ModelSet.of(**{name: checkpoint})
    rows = []
    for level in levels:  # minutes each at the top levels: say where it is
        rows.append(timed_level(images, models, encoder, level, checkpoint.config))
        print(f"  {name} level {level}: {rows[-1]['whole_file_bpd']:.4f} bits/dim whole file, "
              f"{rows[-1]['compress_images_per_s']:,.0f} / {rows[-1]['decompress_images_per_s']:,.0f} "
              f"images/s", flush=True)
    return {"model": name, "encoder": encoder, "data": dataset.name, "images": len(images), **bounds,
            "levels": rows}


def table(reports: list[dict]) -> str:
    k = reports[0].get("iwae_samples", 200)
    lines = ["| model | level | particles | refinement steps | whole file bits/dim | net bits/dim | −ELBO "
             f"| IWAE-{k} | compress img/s | decompress img/s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for report in reports:
        for row in report["levels"]:
            lines.append(f"| {report['model']} ({report['encoder']}) | {row['level']} | {row['particles']} "
                         f"| {row['refine_steps']} "
                         f"| {row['whole_file_bpd']:.4f} | {row['net_bpd']:.4f} | {report['elbo_bpd']:.4f} "
                         f"| {report.get('iwae_bpd', report.get('iwae200_bpd')):.4f} | {row['compress_images_per_s']:,.0f} "
                         f"| {row['decompress_images_per_s']:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    parser.add_argument("--images", type=int, help="first N test images (default: all)")
    parser.add_argument("--out", default="levels")
    parser.add_argument("--iwae", type=int, default=200, help="K of the IWAE bound in the table")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    reports = [measure_model(name, args.encoder, levels, args.images, args.iwae) for name in args.model]
    load = os.getloadavg()[0]
    body = (f"{reports[0]['images']:,} test images per model, one archive each, model only; times on one "
            f"core (load average {load:.1f} at the end: compare rows of this table with each other).\n\n"
            + table(reports))
    write_results(args.out, "Compression levels: rate and speed", body,
                  {"reports": reports, "load_average": load})


if __name__ == "__main__":
    main()
