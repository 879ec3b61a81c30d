"""Realized BB-ANS rate vs the -ELBO, and initial bits, for one or more models.

For each model and latent discretization: the 2,000 (or all) test images of its dataset
are coded in one archive; the realized net bits/dim (total minus the initial bits) is set
against the test -ELBO of the same model and encoder; a 1-image archive shows the
one-time cost. Every archive is decoded and checked. (Speed: benchmarks/speed.py.)

Usage:
    python benchmarks/coder_rate.py --model mnist-binary --model mnist-greyscale
Writes benchmarks/results/coder-rate.{json,md}.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bbcompress.archive import parse
from bbcompress.compression import CodingOptions, compress_images, decompress_archive, section_rate
from bbcompress.data import load_dataset
from bbcompress.evaluate import elbo_bpd
from bbcompress.images import Image
from bbcompress.registry import kind_of, resolve_model

RESULTS = Path(__file__).resolve().parent / "results"
SCHEMES = (("buckets", 8), ("grid", 7))


def measure_model(name: str, encoder: str | None, elbo_samples: int) -> list[dict]:
    checkpoint = resolve_model(name)
    encoder = encoder or checkpoint.default_encoder
    dataset = load_dataset(checkpoint.info["data"])
    kind = kind_of(checkpoint)
    images = [Image(f"{i}.png", "L", x, kind) for i, x in enumerate(dataset.x_test)]
    vae = checkpoint.vae(encoder).eval()
    elbo = elbo_bpd(vae, dataset.x_test, samples=elbo_samples)
    rows = []
    for scheme, bits in SCHEMES:
        options = CodingOptions(encoder, scheme, bits)
        data = compress_images(images, {kind: (name, checkpoint)}, options).to_bytes()
        restored = decompress_archive(parse(data), lambda section: checkpoint)
        assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(images, restored))
        rate = section_rate(parse(data).sections[0])
        single = compress_images(images[:1], {kind: (name, checkpoint)}, options).to_bytes()
        rows.append({
            "model": name, "encoder": encoder, "data": dataset.name, "latents": scheme,
            "latent_bits": bits, "images": len(images), "test_elbo_bpd": elbo,
            "elbo_samples": elbo_samples, "realized_net_bpd": rate.net_bits_per_dim,
            "realized_total_bpd": rate.bits_per_dim,
            "net_vs_elbo_percent": 100 * (rate.net_bits_per_dim / elbo - 1),
            "initial_bits": rate.initial_bits, "archive_bytes": len(data),
            "one_image_archive_bytes": len(single)})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| model | encoder | latents | test -ELBO | realized net | diff | initial bits | "
             "2,000-image archive | 1-image archive |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['encoder']} | {r['latents']} {r['latent_bits']} | {r['test_elbo_bpd']:.4f} | "
            f"{r['realized_net_bpd']:.4f} | {r['net_vs_elbo_percent']:+.2f}% | {r['initial_bits']} | "
            f"{r['archive_bytes']:,} B | {r['one_image_archive_bytes']:,} B |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="shipped name or checkpoint path")
    parser.add_argument("--encoder", help="default: each model's recommended encoder")
    parser.add_argument("--elbo-samples", type=int, default=10)
    parser.add_argument("--out", default="coder-rate")
    args = parser.parse_args()
    rows = [row for name in args.model for row in measure_model(name, args.encoder, args.elbo_samples)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(rows, indent=2) + "\n")
    table = markdown(rows)
    (RESULTS / f"{args.out}.md").write_text(
        "### Realized bits-back rate vs -ELBO\n\n"
        f"Command: `python benchmarks/coder_rate.py {' '.join('--model ' + m for m in args.model)}`\n\n"
        + table + "\n")
    print(table)


if __name__ == "__main__":
    main()
