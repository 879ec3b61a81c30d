"""Pixel-model architectures side by side at an equal training budget: each variant is
trained for the same epochs under the same cosine schedule on the same split, and its
validation rate, size and training time are reported. This chooses what to train long;
the short budget favours models that learn fast, so the time per epoch is in the table.

Usage:
    python -m benchmarks.architectures --data mnist10k --epochs 4 \\
        --variant local:hidden=64,64 --variant wide --variant wide:width=64 --variant wide:hidden=48x6

A variant is FAMILY[:OPTION=VALUE;...] with the options of ``bbcompress train``
(``hidden=48x6`` is six blocks of 48). Each run is a normal training run in
``--runs/NAME`` (continue one with ``bbcompress train --start-from``).
Writes benchmarks/results/architectures-DATA.{json,md} (or --out NAME).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from bbcompress.api import FAMILIES
from bbcompress.families.networks import build
from bbcompress.training.config import TrainConfig
from bbcompress.training.data import load_dataset
from bbcompress.training.train import train

from .harness import write_results


def parse_variant(text: str) -> tuple[str, dict]:
    """``wide:hidden=48x6;width=64;context=cone`` -> ("wide", {"hidden": (48,)*6, "width": 64,
    "context": "cone"})."""
    family, _, rest = text.partition(":")
    options = {}
    for item in filter(None, rest.split(";")):
        key, _, value = item.partition("=")
        if key == "hidden":
            width, _, times = value.partition("x")
            options[key] = (int(width),) * int(times) if times else tuple(int(w) for w in value.split(","))
        else:
            options[key] = int(value) if value.lstrip("-").isdigit() else value
    return family, options


def run_variant(text: str, dataset, args) -> dict:
    family, options = parse_variant(text)
    config = FAMILIES[family].config_from_options(dataset.likelihood, dataset.x_train[0].size,
                                                  pixel_floor=args.pixel_floor, **options)
    name = text.replace(":", "-").replace(";", "-").replace("=", "").replace(",", "-")
    schedule = TrainConfig(dataset.name, args.epochs, args.epochs, args.batch_size, args.lr,
                           validation=args.validation, schedule="cosine")
    events = []
    started = time.monotonic()
    train(config, schedule, dataset, args.runs / name, report=events.append, device="cpu",
          command=f"benchmarks.architectures --variant {text}")
    wall = time.monotonic() - started
    final = events[-1]
    row = {"variant": text, "config": config.to_json(), "parameters": parameters(config),
           "epochs": args.epochs, "valid_bpd": final["valid_bpd"], "test_bpd": final["test_bpd"],
           "train_bpd": final["train_bpd"], "running_bpd": [e["running_bpd"] for e in events],
           "s_per_epoch": wall / args.epochs, "run": str(args.runs / name)}
    print(f"{text}: valid {row['valid_bpd']:.4f} ({row['s_per_epoch']:.0f} s/epoch)", flush=True)
    return row


def parameters(config) -> int:
    return sum(p.numel() for p in build(config).parameters())


def markdown(report: dict) -> str:
    lines = ["| variant | parameters | valid bits/dim | test | train | s/epoch |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in sorted(report["rows"], key=lambda r: r["valid_bpd"]):
        lines.append(f"| `{r['variant']}` | {r['parameters']:,} | {r['valid_bpd']:.4f} | {r['test_bpd']:.4f} | "
                     f"{r['train_bpd']:.4f} | {r['s_per_epoch']:.0f} |")
    return (f"{report['data']}: {report['epochs']} epochs each, cosine from lr {report['lr']:g}, "
            f"batch {report['batch_size']}, the last {report['validation']:,} training images held out "
            f"for validation, pixel floor {report['pixel_floor']:g}; {report['threads']} torch threads "
            f"on a shared machine (times are relative).\n\n" + "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist10k")
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--validation", type=int, default=1000)
    parser.add_argument("--pixel-floor", type=float, default=0.001)
    parser.add_argument("--images", type=int, help="train on the first N training images only "
                        "(validation included; a quick look), test on a tenth as many")
    parser.add_argument("--runs", type=Path, default=Path("runs/architectures"))
    parser.add_argument("--out", help="results name (default: architectures-DATA)")
    args = parser.parse_args()
    dataset = load_dataset(args.data)
    if args.images:
        dataset = dataset.first(args.images, max(1, args.images // 10))
    rows = [run_variant(text, dataset, args) for text in args.variant]
    report = {"data": args.data, "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
              "validation": args.validation, "images": args.images, "pixel_floor": args.pixel_floor,
              "threads": torch.get_num_threads(), "rows": rows}
    write_results(args.out or f"architectures-{args.data}", f"Architectures at an equal budget on {args.data}",
                  markdown(report), report)


if __name__ == "__main__":
    main()
