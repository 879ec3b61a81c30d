"""Realized BB-ANS rate vs the -ELBO, initial bits, and speed, for one or more models.

For each model and latent discretization: the 2,000 (or all) test images of its dataset
are coded in one archive; the realized net bits/dim (total minus the initial bits) is set
against the test -ELBO of the same model and encoder; a 1-image archive shows the
one-time cost; compress and decompress speed is split into network and coding time.

Usage:
    python benchmarks/coder_rate.py --model mnist-binary --model mnist-greyscale
Writes benchmarks/results/coder-rate.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from bbcompress.archive import parse
from bbcompress.compression import CodingOptions, compress_images, decompress_archive, section_rate
from bbcompress.data import load_dataset
from bbcompress.evaluate import elbo_bpd
from bbcompress.images import BINARY, GREYSCALE, Image
from bbcompress.registry import kind_of, resolve_model

RESULTS = Path(__file__).resolve().parent / "results"
SCHEMES = (("buckets", 8), ("grid", 7))


class NetworkTimer:
    """Wraps the coder's network callables to split network time from coding time."""

    def __init__(self):
        self.seconds = 0.0

    def wrap(self, function):
        def timed(*args):
            started = time.perf_counter()
            try:
                return function(*args)
            finally:
                self.seconds += time.perf_counter() - started
        return timed


def timed_roundtrip(images, name, checkpoint, options):
    """(archive bytes, compress s, decompress s, network s each way) with verification."""
    import bbcompress.compression as compression
    original = compression.bits_back_for
    timer = NetworkTimer()

    def instrumented(*args, **kwargs):
        bits_back = original(*args, **kwargs)
        bits_back.encode, bits_back.decode = timer.wrap(bits_back.encode), timer.wrap(bits_back.decode)
        return bits_back
    compression.bits_back_for = instrumented
    try:
        models = {images[0].kind: (name, checkpoint)}
        started = time.perf_counter()
        data = compress_images(images, models, options).to_bytes()
        compress_s, compress_net = time.perf_counter() - started, timer.seconds
        timer.seconds = 0.0
        started = time.perf_counter()
        restored = decompress_archive(parse(data), lambda section: checkpoint)
        decompress_s, decompress_net = time.perf_counter() - started, timer.seconds
    finally:
        compression.bits_back_for = original
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(images, restored))
    return data, compress_s, decompress_s, compress_net, decompress_net


def measure_model(name: str, encoder: str, elbo_samples: int) -> list[dict]:
    checkpoint = resolve_model(name)
    dataset = load_dataset(checkpoint.info["data"])
    kind = kind_of(checkpoint)
    images = [Image(f"{i}.png", "L", x, kind) for i, x in enumerate(dataset.x_test)]
    vae = checkpoint.vae(encoder).eval()
    elbo = elbo_bpd(vae, dataset.x_test, samples=elbo_samples)
    rows = []
    for scheme, bits in SCHEMES:
        options = CodingOptions(encoder, scheme, bits)
        data, c_s, d_s, c_net, d_net = timed_roundtrip(images, name, checkpoint, options)
        rate = section_rate(parse(data).sections[0])
        single = compress_images(images[:1], {kind: (name, checkpoint)}, options).to_bytes()
        rows.append({
            "model": name, "encoder": encoder, "data": dataset.name, "latents": scheme,
            "latent_bits": bits, "images": len(images), "test_elbo_bpd": elbo,
            "elbo_samples": elbo_samples, "realized_net_bpd": rate.net_bits_per_dim,
            "realized_total_bpd": rate.bits_per_dim,
            "net_vs_elbo_percent": 100 * (rate.net_bits_per_dim / elbo - 1),
            "initial_bits": rate.initial_bits, "archive_bytes": len(data),
            "one_image_archive_bytes": len(single),
            "compress_images_per_s": len(images) / c_s, "decompress_images_per_s": len(images) / d_s,
            "compress_network_share": c_net / c_s, "decompress_network_share": d_net / d_s,
            "torch_threads": torch.get_num_threads()})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| model | encoder | latents | test -ELBO | realized net | diff | initial bits | "
             "2,000-image archive | 1-image archive | compress img/s (net %) | decompress img/s (net %) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['encoder']} | {r['latents']} {r['latent_bits']} | {r['test_elbo_bpd']:.4f} | "
            f"{r['realized_net_bpd']:.4f} | {r['net_vs_elbo_percent']:+.2f}% | {r['initial_bits']} | "
            f"{r['archive_bytes']:,} B | {r['one_image_archive_bytes']:,} B | "
            f"{r['compress_images_per_s']:,.0f} ({100 * r['compress_network_share']:.0f}%) | "
            f"{r['decompress_images_per_s']:,.0f} ({100 * r['decompress_network_share']:.0f}%) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="shipped name or checkpoint path")
    parser.add_argument("--encoder", default="amortized")
    parser.add_argument("--elbo-samples", type=int, default=10)
    parser.add_argument("--out", default="coder-rate")
    args = parser.parse_args()
    rows = [row for name in args.model for row in measure_model(name, args.encoder, args.elbo_samples)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(rows, indent=2) + "\n")
    table = markdown(rows)
    (RESULTS / f"{args.out}.md").write_text(
        "### Realized bits-back rate vs -ELBO, and speed\n\n"
        f"Command: `python benchmarks/coder_rate.py {' '.join('--model ' + m for m in args.model)}`\n\n"
        + table + "\n")
    print(table)


if __name__ == "__main__":
    main()
