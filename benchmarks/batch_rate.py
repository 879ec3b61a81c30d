"""Does the realized rate depend on the batch size? Realized net bits/dim of the whole
test set for several largest-batch settings, beside the -ELBO the coder can reach and
the noise of a one-sample estimate of it (the coder draws one latent per image).

Usage:
    python benchmarks/batch_rate.py --model runs/seed-mnist10k-binary/epoch-1000 \\
        --model mnist-binary --model mnist-greyscale
Writes benchmarks/results/batch-rate.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from bbcompress.data import load_dataset
from bbcompress.evaluate import EVAL_SEED, as_pixels
from bbcompress.registry import resolve_model
from generalization import CoderClippedDecoder, realized_bpd

RESULTS = Path(__file__).resolve().parent / "results"
BATCHES = (10, 100, 200, 500, 1000)


@torch.no_grad()
def one_sample_costs_bits(vae, images: np.ndarray, samples: int) -> torch.Tensor:
    """(samples, N) bits-back costs -log p(x, z) + log q(z|x) in bits, z ~ q, with the
    coder's probability floor for binary models: the quantity a bits-back coder realizes."""
    if vae.config.likelihood == "bernoulli":
        vae.decoder = CoderClippedDecoder(vae.decoder)
    torch.manual_seed(EVAL_SEED)
    return -vae.double().log_weights(as_pixels(images).double(), samples) / math.log(2)


def measure_model(name: str, encoder: str | None, batches, samples: int) -> dict:
    checkpoint = resolve_model(name)
    encoder = encoder or checkpoint.default_encoder
    images = load_dataset(checkpoint.info["data"]).x_test
    realized = {}
    for max_batch in batches:
        realized[max_batch] = realized_bpd(checkpoint, name, encoder, images, max_batch)
        print(f"{name} ({encoder}) batch {max_batch}: {realized[max_batch]:.4f}", flush=True)
    costs = one_sample_costs_bits(checkpoint.vae(encoder).eval(), images, samples)
    pixels = images[0].size
    return {"model": name, "encoder": encoder, "images": len(images), "realized_bpd": realized,
            "clipped_elbo_bpd": costs.mean().item() / pixels,
            "one_sample_noise_bpd": math.sqrt(costs.var(0).sum().item()) / (pixels * len(images)),
            "samples": samples}


def markdown(rows: list[dict], batches) -> str:
    head = "| model | encoder | " + " | ".join(f"batch {b}" for b in batches) + \
        " | clipped -ELBO | one-sample noise (1 sd) |"
    lines = [head, "|---|---|" + "---:|" * (len(batches) + 2)]
    for r in rows:
        cells = " | ".join(f"{r['realized_bpd'][b]:.4f}" for b in batches)
        lines.append(f"| {r['model']} | {r['encoder']} | {cells} | {r['clipped_elbo_bpd']:.4f} | "
                     f"±{r['one_sample_noise_bpd']:.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="shipped name or checkpoint path")
    parser.add_argument("--encoder", help="default: each model's recommended encoder")
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--samples", type=int, default=20, help="z samples per image for the -ELBO and its noise")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    rows = [measure_model(name, args.encoder, batches, args.samples) for name in args.model]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "batch-rate.json").write_text(json.dumps(rows, indent=2) + "\n")
    command = "python benchmarks/batch_rate.py " + " ".join(f"--model {m}" for m in args.model)
    table = markdown(rows, batches)
    (RESULTS / "batch-rate.md").write_text(
        f"### Realized net bits/dim against the largest batch size\n\nCommand: `{command}`\n\n"
        f"Whole test set in one archive per cell. Clipped -ELBO: mean over {args.samples} z ~ q per image "
        f"of the bits-back cost, binary outcomes floored at 2^-24 as in the coder; the noise is the standard "
        f"deviation of a one-sample (one latent per image) estimate of it over the whole set.\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
