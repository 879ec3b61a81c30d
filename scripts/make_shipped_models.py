"""Build a shipped model in models/ from a training run with a validation split.

    python scripts/make_shipped_models.py --run runs/explore-bin-dyn-L32 --name mnist-binary

1. choose the epoch with the lowest validation -ELBO among the run's checkpoints
   (the validation images are the last N training images, N as the run held out: the
   test split is never looked at for any choice);
2. add the self-consistent encoder (decoder frozen, alpha 0.5, prior samples), refined
   on the other training images, keeping the refinement epoch with the lowest
   validation -ELBO; the card's ``default_encoder`` is whichever encoder has the lower
   validation -ELBO;
3. measure on the test split: -ELBO and IWAE-K for both encoders and the realized
   bits/dim of the test images compressed in one archive (level 1);
4. write models/NAME.{safetensors,json}; the card holds all of the above.

A model without a latent (the local family) has no encoder: step 2 is skipped, its
-ELBO is its exact -log p(x). ``--compare-with MODEL`` adds that model's validation
-ELBO to the card beside this one's -ELBO and IWAE-K at each particle count of its
levels (what BB-IS approaches): does a latent pay for itself on these images?
``--refine-epochs 0`` skips step 2 (a conv model with a head samples pixel by pixel,
which makes self-consistent refinement slow).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bbcompress.api import LEVELS, CodingOptions, compress_section
from bbcompress.rates import section_rate
from bbcompress.io.images import images_from_array
from bbcompress.checkpoint import load_checkpoint
from bbcompress.families.networks import from_checkpoint
from bbcompress.zoo import resolve_model
from bbcompress.training.config import RefineConfig
from bbcompress.training.data import load_dataset
from bbcompress.training.evaluate import elbo_bpd, iwae_bpd
from bbcompress.training.refine import attach_encoder, refine_encoder

MODELS = Path(__file__).resolve().parent.parent / "models"


def best_checkpoint(run: Path) -> tuple[Path, dict]:
    cards = [(json.loads(p.read_text()), p) for p in sorted(run.glob("epoch-*.json"))]
    card, path = min(cards, key=lambda pair: pair[0]["valid_bpd"])
    return path.with_suffix(""), card


def test_rates(checkpoint, name: str, dataset, iwae_samples: int) -> dict:
    images = images_from_array(dataset.x_test, dataset.kind)
    rates = {}
    for encoder in checkpoint.encoders or ["none"]:
        vae = from_checkpoint(checkpoint, encoder).eval()
        section = compress_section(images, name, checkpoint, CodingOptions(encoder=encoder, level=1))
        rate = section_rate(section)
        if checkpoint.config.has_latent:
            bounds = {"elbo_bpd": elbo_bpd(vae, dataset.x_test, samples=10),
                      "iwae_bpd": iwae_bpd(vae, dataset.x_test, iwae_samples)}
        else:  # exact -log p(x): no sampling, no bound
            exact = elbo_bpd(vae, dataset.x_test)
            bounds = {"elbo_bpd": exact, "iwae_bpd": exact}
        rates[encoder] = {**bounds, "realized_bits_per_dim": rate.net_bits_per_dim,
                          "realized_total_bits_per_dim": rate.bits_per_dim}
    return rates


def add_self_consistent(checkpoint, card: dict, dataset, fitted, validation, args) -> dict:
    """Step 2; returns the validation -ELBO of each encoder."""
    started = time.monotonic()
    config = RefineConfig("self-consistent", dataset.name, "train", args.refine_epochs)
    encoder, made = refine_encoder(checkpoint, fitted.x_train, config, validation, args.check_every,
                                   keep_best=True)
    made.update(curve_on="validation", wall_s=round(time.monotonic() - started),
                train_images=len(fitted.x_train))
    attach_encoder(checkpoint, "self-consistent", encoder, made)
    return {name: elbo_bpd(from_checkpoint(checkpoint, name).eval(), validation, samples=10)
            for name in checkpoint.encoders}


def comparison(names: list[str], checkpoint, validation, particles: list[int]) -> dict:
    """Validation -ELBO (10 samples) of this model (and its IWAE-K for K in ``particles``,
    with a latent) and of each named model."""
    model = from_checkpoint(checkpoint, checkpoint.default_encoder).eval()
    rows = {"this model": elbo_bpd(model, validation, samples=10 if checkpoint.config.has_latent else 1)}
    if checkpoint.config.has_latent:
        rows.update({f"this model, IWAE-{k}": iwae_bpd(model, validation, k) for k in particles if k > 1})
    for name in names:
        other = resolve_model(name)
        rows[name] = elbo_bpd(from_checkpoint(other, other.default_encoder).eval(), validation, samples=10)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--refine-epochs", type=int, default=200, help="most refinement epochs")
    parser.add_argument("--check-every", type=int, default=5, help="validation check interval")
    parser.add_argument("--iwae", type=int, default=200)
    parser.add_argument("--opt-in", action="store_true",
                        help="compress uses the model only when asked for by name (a slow model)")
    parser.add_argument("--compare-with", action="append", default=[],
                        help="model whose validation -ELBO the card reports beside this one's")
    args = parser.parse_args()
    path, card = best_checkpoint(args.run)
    checkpoint = load_checkpoint(path)
    dataset = load_dataset(card["data"])
    fitted, validation = dataset.holdout(card["train"]["validation"])
    if checkpoint.config.has_latent and args.refine_epochs:
        valid = add_self_consistent(checkpoint, card, dataset, fitted, validation, args)
    elif checkpoint.config.has_latent:
        valid = {"amortized": elbo_bpd(from_checkpoint(checkpoint).eval(), validation, samples=10)}
    else:
        valid = {"none": elbo_bpd(from_checkpoint(checkpoint).eval(), validation)}
    checkpoint.info["default_encoder"] = min(valid, key=valid.get)
    if args.compare_with:
        particles = sorted({checkpoint.config.spec.level(level)[0] for level in LEVELS})
        checkpoint.info["valid_bpd_compared"] = comparison(args.compare_with, checkpoint, validation, particles)
    rates = test_rates(checkpoint, args.name, dataset, args.iwae)
    checkpoint.info.update({
        "chosen_by": f"lowest validation -ELBO ({card['valid_bpd']:.4f} bits/dim on the last "
                     f"{card['train']['validation']} training images) among the checkpoints of {args.run}",
        "valid_bpd_by_encoder": valid, "default_encoder": min(valid, key=valid.get),
        "test": rates, "iwae_samples": args.iwae, "elbo_samples_test": 10,
        **({"opt_in": True} if args.opt_in else {}),
        "realized_on": f"the {len(dataset.x_test):,} {dataset.name} test images in one archive, "
                       f"level 1 (net of initial bits)"})
    written = checkpoint.save(MODELS / args.name)
    print(json.dumps({"model": str(written), "epoch": card["epoch"], "valid": valid, "test": rates,
                      "compared": checkpoint.info.get("valid_bpd_compared")}, indent=2))


if __name__ == "__main__":
    main()
