"""Train and test BPD along a training run: -ELBO and IWAE-K at every checkpoint.

Usage:
    python -m benchmarks.training_curve --run runs/seed-mnist10k-binary [--iwae 100]
    (the run folder comes from: bbcompress train --data NAME -o RUN --epochs 1000)
Writes benchmarks/results/training-curve-<data>.{json,md} (or --out NAME).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bbcompress.checkpoint import load_checkpoint
from bbcompress.families.mlp import from_checkpoint
from bbcompress.training.data import load_dataset
from bbcompress.training.evaluate import elbo_bpd, iwae_bpd

from .harness import write_results


def measure(card_path: Path, dataset, elbo_samples: int, iwae_samples: int) -> dict:
    checkpoint = load_checkpoint(card_path.with_suffix(""))
    vae = from_checkpoint(checkpoint).eval()
    return {"epoch": checkpoint.info["epoch"], "wall_s": checkpoint.info.get("wall_s"),
            "train_elbo_bpd": elbo_bpd(vae, dataset.x_train, elbo_samples),
            "test_elbo_bpd": elbo_bpd(vae, dataset.x_test, elbo_samples),
            "train_iwae_bpd": iwae_bpd(vae, dataset.x_train[:2000], iwae_samples),
            "test_iwae_bpd": iwae_bpd(vae, dataset.x_test, iwae_samples)}


def markdown(report: dict) -> str:
    k = report["iwae_samples"]
    lines = [f"| epoch | train -ELBO | test -ELBO | train -IWAE-{k} | test -IWAE-{k} |",
             "|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        lines.append(f"| {r['epoch']} | {r['train_elbo_bpd']:.4f} | {r['test_elbo_bpd']:.4f} | "
                     f"{r['train_iwae_bpd']:.4f} | {r['test_iwae_bpd']:.4f} |")
    return (f"The run's training wall time {report['training_wall_s']:.0f} s. -ELBO with "
            f"{report['elbo_samples']} z samples per image; train IWAE on the first "
            f"{report['train_iwae_images']:,} training images.\n\n" + "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path)
    parser.add_argument("--elbo-samples", type=int, default=5)
    parser.add_argument("--iwae", type=int, default=100)
    parser.add_argument("--out", help="results name (default: training-curve-DATA)")
    args = parser.parse_args()
    cards = sorted(args.run.glob("epoch-*.json"))
    if not cards:
        parser.error(f"no checkpoints in {args.run}")
    data = json.loads(cards[0].read_text())["data"]
    dataset = load_dataset(data)
    rows = []
    for card in cards:
        rows.append(measure(card, dataset, args.elbo_samples, args.iwae))
        print(f"epoch {rows[-1]['epoch']}: test {rows[-1]['test_elbo_bpd']:.4f}", flush=True)
    report = {"data": data, "run": str(args.run), "elbo_samples": args.elbo_samples,
              "iwae_samples": args.iwae, "train_iwae_images": min(2000, len(dataset.x_train)),
              "training_wall_s": rows[-1]["wall_s"], "rows": rows}
    write_results(args.out or f"training-curve-{data}", f"Training curve on {data} (bits/dim)",
                  markdown(report), report)


if __name__ == "__main__":
    main()
