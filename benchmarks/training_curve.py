"""Train and test BPD along a training run: -ELBO and IWAE-K at every checkpoint.

Usage:
    python benchmarks/training_curve.py --run runs/seed-mnist10k-binary [--iwae 100]
    (the run folder comes from: bbcompress train --data NAME -o RUN --epochs 1000)
Writes benchmarks/results/training-curve-<data>.{json,md}.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bbcompress.checkpoint import load_checkpoint
from bbcompress.data import load_dataset
from bbcompress.evaluate import elbo_bpd, iwae_bpd

RESULTS = Path(__file__).resolve().parent / "results"


def measure(card_path: Path, dataset, elbo_samples: int, iwae_samples: int) -> dict:
    checkpoint = load_checkpoint(card_path.with_suffix(""))
    vae = checkpoint.vae().eval()
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
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path)
    parser.add_argument("--elbo-samples", type=int, default=5)
    parser.add_argument("--iwae", type=int, default=100)
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
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"training-curve-{data}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    command = f"python benchmarks/training_curve.py --run {args.run} --iwae {args.iwae}"
    stem.with_suffix(".md").write_text(
        f"### Training curve on {data} (bits/dim)\n\nCommand: `{command}`; the run's training wall time "
        f"{report['training_wall_s']:.0f} s. -ELBO with {args.elbo_samples} z samples per image; "
        f"train IWAE on the first {report['train_iwae_images']:,} training images.\n\n{markdown(report)}\n")
    print(markdown(report))


if __name__ == "__main__":
    main()
