"""Compression levels on the seed runs: how much of the amortized -> optimal gap each
level closes, at several checkpoints of a training run.

For each checkpoint: the realized net bits/dim of the whole test set in one archive with
the amortized, self-consistent and optimal (fitted on the test images: a bound, not
deployable) encoders at level 1, and with the amortized encoder at every level (BB-IS
particles and per-image refinement, bbcompress.families.mlp_coding.LEVELS), plus the top level from the
self-consistent encoder. Gap closed = (amortized - rate) / (amortized - optimal).
Refined encoders are stored in the checkpoints (reused when present), as in
benchmarks.generalization.

Usage:
    python -m benchmarks.seed_levels --run runs/seed-mnist10k-binary --epochs 100,500,1000
    python -m benchmarks.seed_levels --replot benchmarks/results/levels-seed-mnist10k-binary.json
    (--replot A.json B.json: one report of the checkpoints of both, measured apart)
Writes benchmarks/results/levels-seed-DATA.{json,md,png} (or --out NAME).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bbcompress.api import LEVELS
from bbcompress.io.images import images_from_array
from bbcompress.training.data import load_dataset

from .generalization import ENCODER_COLOURS, encoder_recipes, ensure_encoders
from .harness import model_only, realized_rate, write_results

DEPLOYABLE = "self-consistent"
BOUND = "optimal-test"


def measure_checkpoint(path: Path, dataset, recipes, levels: list[int]) -> dict:
    checkpoint = ensure_encoders(path, dataset, {k: v for k, v in recipes.items() if k in (DEPLOYABLE, BOUND)})
    images = images_from_array(dataset.x_test, dataset.kind)

    def rate(encoder: str, level: int) -> float:
        started = time.monotonic()
        net = realized_rate(images, str(path), checkpoint, model_only(encoder=encoder, level=level)).net_bits_per_dim
        print(f"  {encoder} level {level}: {net:.4f} ({time.monotonic() - started:.0f} s)", flush=True)
        return net

    row = {"epoch": checkpoint.info["epoch"], "train_bpd": checkpoint.info["train_bpd"],
           "encoders": {name: rate(name, 1) for name in ("amortized", DEPLOYABLE, BOUND)}}
    row["levels"] = {str(level): row["encoders"]["amortized"] if level == 1 else rate("amortized", level)
                     for level in levels}
    top = max(levels)
    row["top_from_self_consistent"] = rate(DEPLOYABLE, top)
    return row


def gap_closed(row: dict, rate: float) -> float:
    amortized, optimal = row["encoders"]["amortized"], row["encoders"][BOUND]
    return (amortized - rate) / (amortized - optimal)


def markdown(report: dict) -> str:
    levels = list(report["rows"][0]["levels"])
    top = levels[-1]
    head = ("| epoch | amortized | self-consistent | optimal (bound) | "
            + " | ".join(f"level {lv}" for lv in levels[1:]) + f" | level {top} from self-consistent |")
    lines = [head, "|" + "---:|" * (len(levels) + 4)]
    for row in report["rows"]:
        enc = row["encoders"]
        cells = [f"{enc['amortized']:.4f}", f"{enc[DEPLOYABLE]:.4f} ({gap_closed(row, enc[DEPLOYABLE]):.0%})",
                 f"{enc[BOUND]:.4f}"]
        cells += [f"{row['levels'][lv]:.4f} ({gap_closed(row, row['levels'][lv]):.0%})" for lv in levels[1:]]
        cells.append(f"{row['top_from_self_consistent']:.4f} ({gap_closed(row, row['top_from_self_consistent']):.0%})")
        lines.append(f"| {row['epoch']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def claims(report: dict) -> list[str]:
    lines = []
    for row in report["rows"]:
        top = list(row["levels"])[-1]
        best = min(row["levels"][top], row["top_from_self_consistent"])
        lines.append(f"epoch {row['epoch']}: the top level realizes {best:.4f} against the optimal encoder's "
                     f"{row['encoders'][BOUND]:.4f}: it closes {gap_closed(row, best):.0%} of the gap "
                     f"(self-consistent: {gap_closed(row, row['encoders'][DEPLOYABLE]):.0%})")
    return lines


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    epochs = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ax.plot(epochs, [r["train_bpd"] for r in rows], "k--", label="train -ELBO")
    for name in ("amortized", DEPLOYABLE, BOUND):
        ax.plot(epochs, [r["encoders"][name] for r in rows], "o-", color=ENCODER_COLOURS[name],
                label=f"{name}, level 1")
    levels = list(rows[0]["levels"])[1:]
    shades = plt.cm.Purples([0.35 + 0.65 * i / max(1, len(levels) - 1) for i in range(len(levels))])
    for level, shade in zip(levels, shades):
        ax.plot(epochs, [r["levels"][level] for r in rows], "x:", color=shade, label=f"amortized, level {level}")
    ax.set(xlabel="training epoch", ylabel="realized bits/dim (test set, one archive)",
           title=f"{report['data']}: compression levels against the seed's encoders")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_outputs(report: dict, out: str | None) -> None:
    body = (f"Realized net bits/dim of all {report['test_images']:,} test images in one archive per cell "
            f"(model only); in brackets the fraction of the amortized -> optimal gap closed. Levels start "
            f"from the amortized encoder (the column on the right: the top level from the self-consistent "
            f"one). Self-consistent: {report['refine_epochs']} refinement epochs; optimal: "
            f"{report['optimal_epochs']} epochs on the test images. Wall time {report['wall_s']:.0f} s.\n\n"
            f"{markdown(report)}\n\n" + "".join(f"- {line}\n" for line in claims(report)))
    write_results(out or f"levels-seed-{report['data']}", f"Levels on the seed run, {report['data']} (bits/dim)",
                  body, report, lambda path: plot(report, path))


def merged(reports: list[dict]) -> dict:
    """One report of the checkpoints of several runs of this benchmark on the same run."""
    first = reports[0]
    if any(r["run"] != first["run"] or r["refine_epochs"] != first["refine_epochs"] for r in reports):
        raise SystemExit("the reports were made on other runs or with other settings")
    rows = sorted((row for r in reports for row in r["rows"]), key=lambda row: row["epoch"])
    commands = [r["command"] for r in reports]
    return {**first, "rows": rows, "wall_s": sum(r["wall_s"] for r in reports),
            "command": commands[0] if len(commands) == 1 else " && ".join(commands)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="training run folder")
    parser.add_argument("--replot", type=Path, nargs="+", metavar="REPORT_JSON",
                        help="only redraw saved reports (several: their checkpoints in one report)")
    parser.add_argument("--epochs", default="100,500,1000", help="comma-separated checkpoint epochs")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    parser.add_argument("--refine-epochs", type=int, default=100)
    parser.add_argument("--optimal-epochs", type=int, default=200)
    parser.add_argument("--out", help="results name (default: levels-seed-DATA)")
    args = parser.parse_args()
    if args.replot:
        write_outputs(merged([json.loads(path.read_text()) for path in args.replot]), args.out)
        return
    if not args.run:
        parser.error("--run is required (or --replot)")
    wanted = [int(e) for e in args.epochs.split(",")]
    cards = [args.run / f"epoch-{e:04d}.json" for e in wanted]
    missing = [str(c) for c in cards if not c.exists()]
    if missing:
        parser.error(f"no checkpoint {', '.join(missing)}")
    levels = sorted({1, *(int(level) for level in args.levels.split(","))})
    data = json.loads(cards[0].read_text())["data"]
    dataset = load_dataset(data)
    recipes = encoder_recipes(data, args.refine_epochs, args.optimal_epochs)
    started, rows = time.monotonic(), []
    for card in cards:
        print(f"{card.stem} ...", flush=True)
        rows.append(measure_checkpoint(card.with_suffix(""), dataset, recipes, levels))
    report = {"data": data, "run": str(args.run), "refine_epochs": args.refine_epochs,
              "optimal_epochs": args.optimal_epochs, "test_images": len(dataset.x_test),
              "wall_s": round(time.monotonic() - started, 1), "rows": rows}
    write_outputs(report, args.out)


if __name__ == "__main__":
    main()
