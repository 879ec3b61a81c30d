"""Realized BB-ANS rate vs the -ELBO, and initial bits, for one or more models.

For each model and latent discretization: the 2,000 (or all) test images of its dataset
are coded in one archive; the realized net bits/dim (total minus the initial bits) is set
against the test -ELBO of the same model and encoder; a 1-image archive shows the
one-time cost. Every archive is decoded and checked. (Speed: benchmarks/speed.py.)

Usage:
    python -m benchmarks.coder_rate --model mnist-binary --model mnist-greyscale
Writes benchmarks/results/coder-rate.{json,md} (or --out NAME).
"""
from __future__ import annotations

import argparse

from bbcompress.families.mlp import from_checkpoint
from bbcompress.zoo import resolve_model
from bbcompress.training.evaluate import elbo_bpd

from .harness import add_model_arguments, model_only, test_images, verified_archive, write_results

SCHEMES = (("buckets", 8), ("grid", 7))


def measure_model(name: str, encoder: str | None, elbo_samples: int) -> list[dict]:
    checkpoint = resolve_model(name)
    encoder = encoder or checkpoint.default_encoder
    dataset, images = test_images(checkpoint)
    elbo = elbo_bpd(from_checkpoint(checkpoint, encoder).eval(), dataset.x_test, samples=elbo_samples)
    rows = []
    for scheme, bits in SCHEMES:
        options = model_only(encoder=encoder, latents=scheme, latent_bits=bits)
        whole = verified_archive(images, name, checkpoint, options)
        single = verified_archive(images[:1], name, checkpoint, options)
        rows.append({
            "model": name, "encoder": encoder, "data": dataset.name, "latents": scheme,
            "latent_bits": bits, "images": len(images), "test_elbo_bpd": elbo,
            "elbo_samples": elbo_samples, "realized_net_bpd": whole.rate.net_bits_per_dim,
            "realized_total_bpd": whole.rate.bits_per_dim,
            "net_vs_elbo_percent": 100 * (whole.rate.net_bits_per_dim / elbo - 1),
            "initial_bits": whole.rate.initial_bits, "archive_bytes": len(whole.data),
            "one_image_archive_bytes": len(single.data)})
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
    add_model_arguments(parser)
    parser.add_argument("--elbo-samples", type=int, default=10)
    parser.add_argument("--out", default="coder-rate")
    args = parser.parse_args()
    rows = [row for name in args.model for row in measure_model(name, args.encoder, args.elbo_samples)]
    write_results(args.out, "Realized bits-back rate vs -ELBO", markdown(rows), {"rows": rows})


if __name__ == "__main__":
    main()
