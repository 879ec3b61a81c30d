"""Does the realized rate depend on the batch size? Realized net bits/dim of the whole
test set for several largest-batch settings, beside the -ELBO the coder can reach and
the noise of a one-sample estimate of it (the coder draws one latent per image).

Usage:
    python -m benchmarks.batch_rate --model runs/seed-mnist10k-binary/epoch-1000 \\
        --model mnist-binary --model mnist-greyscale
Writes benchmarks/results/batch-rate.{json,md} (or --out NAME).
"""
from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from bbcompress.families.mlp import VAE, from_checkpoint
from bbcompress.zoo import resolve_model
from bbcompress.training.evaluate import EVAL_SEED
from bbcompress.training.steps import as_pixels

from .generalization import coder_clipped
from .harness import add_model_arguments, model_only, realized_rate, test_images, write_results

# Up to the most a decoder takes of the MLP family (1.5x its 100: codec.bits_back.
# batch_limit); batch-rate.md was measured with 200, 500 and 1000 before that bound.
BATCHES = (10, 50, 100, 150)


@torch.no_grad()
def one_sample_costs_bits(vae: VAE, images: np.ndarray, samples: int) -> torch.Tensor:
    """(samples, N) bits-back costs -log p(x, z) + log q(z|x) in bits, z ~ q, with the
    coder's probability floor for binary models: the quantity a bits-back coder realizes."""
    torch.manual_seed(EVAL_SEED)
    return -coder_clipped(vae).double().log_weights(as_pixels(images).double(), samples) / math.log(2)


def measure_model(name: str, encoder: str | None, batches, samples: int) -> dict:
    checkpoint = resolve_model(name)
    encoder = encoder or checkpoint.default_encoder
    dataset, images = test_images(checkpoint)
    realized = {}
    for max_batch in batches:
        options = model_only(encoder=encoder, max_batch=max_batch)
        realized[max_batch] = realized_rate(images, name, checkpoint, options).net_bits_per_dim
        print(f"{name} ({encoder}) batch {max_batch}: {realized[max_batch]:.4f}", flush=True)
    costs = one_sample_costs_bits(from_checkpoint(checkpoint, encoder).eval(), dataset.x_test, samples)
    pixels = dataset.x_test[0].size
    return {"model": name, "encoder": encoder, "images": len(images), "realized_bpd": realized,
            "clipped_elbo_bpd": costs.mean().item() / pixels,
            "one_sample_noise_bpd": math.sqrt(costs.var(0).sum().item()) / (pixels * len(images)),
            "samples": samples}


def markdown(rows: list[dict], batches, samples: int) -> str:
    head = "| model | encoder | " + " | ".join(f"batch {b}" for b in batches) + \
        " | clipped -ELBO | one-sample noise (1 sd) |"
    lines = [head, "|---|---|" + "---:|" * (len(batches) + 2)]
    for r in rows:
        cells = " | ".join(f"{r['realized_bpd'][b]:.4f}" for b in batches)
        lines.append(f"| {r['model']} | {r['encoder']} | {cells} | {r['clipped_elbo_bpd']:.4f} | "
                     f"±{r['one_sample_noise_bpd']:.4f} |")
    return (f"Whole test set in one archive per cell. Clipped -ELBO: mean over {samples} z ~ q per image "
            f"of the bits-back cost, binary outcomes floored at 2^-24 as in the coder; the noise is the "
            f"standard deviation of a one-sample (one latent per image) estimate of it over the whole "
            f"set.\n\n" + "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--samples", type=int, default=20, help="z samples per image for the -ELBO and its noise")
    parser.add_argument("--out", default="batch-rate")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    rows = [measure_model(name, args.encoder, batches, args.samples) for name in args.model]
    write_results(args.out, "Realized net bits/dim against the largest batch size",
                  markdown(rows, batches, args.samples), {"rows": rows})


if __name__ == "__main__":
    main()
