"""Test -ELBO against refinement epochs for one checkpoint: how long to refine.

For the self-consistent encoder (prior and posterior model samples, alpha 0.5) and the
optimal encoder (fitted on the test split), refine the checkpoint's amortized encoder
for --epochs epochs, recording the test -ELBO every --every epochs. The refined
checkpoints go to --work (reused when they hold a curve of the same length).

Usage:
    python -m benchmarks.refine_curve --checkpoint runs/seed-mnist10k-binary/epoch-1000 --epochs 300
Writes benchmarks/results/refine-curve-<data>-epoch-<N>.{json,md,png} (or --out NAME).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bbcompress.checkpoint import load_checkpoint
from bbcompress.families.mlp import from_checkpoint
from bbcompress.training.config import RefineConfig
from bbcompress.training.data import load_dataset
from bbcompress.training.evaluate import elbo_bpd
from bbcompress.training.refine import attach_encoder, default_encoder_name, refine_encoder

from .harness import write_results


def recipes(data: str, epochs: int) -> list[RefineConfig]:
    return [RefineConfig("self-consistent", data, "train", epochs, 0.5, "prior"),
            RefineConfig("self-consistent", data, "train", epochs, 0.5, "posterior"),
            RefineConfig("optimal", data, "test", epochs)]


def curve_for(checkpoint_path: Path, config: RefineConfig, dataset, every: int, work: Path) -> list:
    name = default_encoder_name(config)
    out = work / f"{checkpoint_path.parent.name}-{checkpoint_path.name}-{name}"
    if out.with_suffix(".json").exists():
        made = load_checkpoint(out).encoder_info.get(name, {})
        if made.get("epochs") == config.epochs and made.get("curve_bpd"):
            return made["curve_bpd"]
    checkpoint = load_checkpoint(checkpoint_path)
    encoder, made = refine_encoder(checkpoint, dataset.split(config.split), config, dataset.x_test, every)
    made["curve_on"] = "test"
    attach_encoder(checkpoint, name, encoder, made)
    checkpoint.save(out)
    return made["curve_bpd"]


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.axhline(report["amortized_test_bpd"], color="k", ls="--", label="amortized (epoch 0)")
    for name, curve in report["curves"].items():
        ax.plot([e for e, _ in curve], [b for _, b in curve], marker=".", label=name)
    ax.set(xlabel="refinement epochs (decoder frozen)", ylabel="test -ELBO bits/dim",
           title=f"{report['data']}, checkpoint epoch {report['epoch']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(report: dict, every: int) -> str:
    curves = report["curves"]
    marks = sorted({e for curve in curves.values() for e, _ in curve if e % 50 == 0 or e == every})
    lines = ["| refinement epochs | " + " | ".join(curves) + " |", "|---:|" + "---:|" * len(curves)]
    lines.append("| 0 (amortized) | " + " | ".join(f"{report['amortized_test_bpd']:.4f}" for _ in curves) + " |")
    for mark in marks:
        lines.append(f"| {mark} | " + " | ".join(f"{dict(map(tuple, c)).get(mark, float('nan')):.4f}"
                                                 for c in curves.values()) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--work", type=Path, default=Path("runs/curves"))
    parser.add_argument("--out", help="results name (default: refine-curve-DATA-epoch-N)")
    args = parser.parse_args()
    checkpoint = load_checkpoint(args.checkpoint)
    dataset = load_dataset(checkpoint.info["data"])
    curves = {default_encoder_name(config): curve_for(args.checkpoint, config, dataset, args.every, args.work)
              for config in recipes(dataset.name, args.epochs)}
    amortized = elbo_bpd(from_checkpoint(checkpoint).eval(), dataset.x_test)
    report = {"data": dataset.name, "checkpoint": str(args.checkpoint), "epoch": checkpoint.info["epoch"],
              "amortized_test_bpd": amortized, "curves": curves}
    write_results(args.out or f"refine-curve-{dataset.name}-epoch-{report['epoch']}",
                  f"Test -ELBO against refinement epochs ({dataset.name}, checkpoint epoch {report['epoch']})",
                  markdown(report, args.every), report, lambda path: plot(report, path))


if __name__ == "__main__":
    main()
