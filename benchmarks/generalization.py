"""The seed paper's experiment measured in realized bits.

For every checkpoint of a training run: train BPD; test BPD (-ELBO) of the amortized,
self-consistent (prior and posterior samples) and optimal encoders; the realized
bits-back bits/dim of the whole test set compressed with each encoder; and the IWAE-K
test BPD of the model. Refined encoders are stored in the checkpoints (reused when
present). Writes benchmarks/results/generalization-<data>.{json,md,png}.

Usage:
    python benchmarks/generalization.py --run runs/seed-mnist10k-binary [--epochs 100,500,1000]
    (the run folder comes from: bbcompress train --data NAME -o RUN --epochs 1000)
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from bbcompress.checkpoint import load_checkpoint
from bbcompress.coder import DEFAULT_MAX_BATCH, MAX_SYMBOL_BITS
from bbcompress.compression import CodingOptions, compress_section, section_rate
from bbcompress.data import load_dataset
from bbcompress.evaluate import elbo_bpd, iwae_bpd
from bbcompress.images import Image
from bbcompress.refine import RefineConfig, refine_encoder
from bbcompress.registry import kind_of

RESULTS = Path(__file__).resolve().parent / "results"


def encoder_recipes(data: str, epochs: int, optimal_epochs: int) -> dict[str, RefineConfig]:
    return {
        "self-consistent": RefineConfig("self-consistent", data, "train", epochs, 0.5, "prior"),
        "self-consistent-posterior": RefineConfig("self-consistent", data, "train", epochs, 0.5, "posterior"),
        "optimal-test": RefineConfig("optimal", data, "test", optimal_epochs),
    }


def ensure_encoders(path: Path, dataset, recipes: dict[str, RefineConfig]):
    checkpoint = load_checkpoint(path)
    changed = False
    for name, config in recipes.items():
        made = checkpoint.encoder_info.get(name, {})
        if name in checkpoint.encoders and made.get("epochs") == config.epochs:
            continue
        started = time.monotonic()
        encoder, info = refine_encoder(checkpoint, dataset.split(config.split), config)
        info["wall_s"] = round(time.monotonic() - started, 1)
        checkpoint.add_encoder(name, encoder, info, checkpoint.decoder_sha256)
        changed = True
        print(f"  refined {name} in {info['wall_s']} s", flush=True)
    if changed:
        checkpoint.save(path)
    return checkpoint


def realized_bpd(checkpoint, name: str, encoder: str, images: np.ndarray,
                 max_batch: int = DEFAULT_MAX_BATCH) -> float:
    """Net bits/dim of all ``images`` in one archive section (initial bits excluded)."""
    kind = kind_of(checkpoint)
    entries = [Image(f"{i}", "L", x, kind) for i, x in enumerate(images)]
    section = compress_section(kind, entries, name, checkpoint, CodingOptions(encoder, max_batch=max_batch))
    return section_rate(section).net_bits_per_dim


class CoderClippedDecoder(torch.nn.Module):
    """The decoder with logits clamped where the coder clamps: no binary outcome gets
    less than 2^-24. The -ELBO under it is the rate the coder can actually reach."""

    LIMIT = math.log(2**MAX_SYMBOL_BITS - 1)

    def __init__(self, decoder: torch.nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, z):
        return self.decoder(z).clamp(-self.LIMIT, self.LIMIT)


def coder_clipped_bpd(vae, images: np.ndarray) -> float | None:
    """-ELBO with the coder's probability floor; None for greyscale, where the model's
    own pixel floor (or the logistic's tails) keeps every decision far above 2^-24."""
    if vae.config.likelihood != "bernoulli":
        return None
    vae.decoder = CoderClippedDecoder(vae.decoder)
    return elbo_bpd(vae, images, samples=5)


def add_clipped(report: dict, dataset) -> None:
    """Fill in the coder-clipped -ELBO of every checkpoint and encoder of a saved report."""
    for row in report["rows"]:
        checkpoint = load_checkpoint(Path(report["run"]) / f"epoch-{row['epoch']:04d}")
        for name, entry in row["encoders"].items():
            entry["clipped_test_bpd"] = coder_clipped_bpd(checkpoint.vae(name).eval(), dataset.x_test)


def measure_checkpoint(path: Path, dataset, recipes, iwae_samples: int) -> dict:
    checkpoint = ensure_encoders(path, dataset, recipes)
    row = {"epoch": checkpoint.info["epoch"], "train_bpd": checkpoint.info["train_bpd"], "encoders": {}}
    for name in ["amortized", *recipes]:
        vae = checkpoint.vae(name).eval()
        row["encoders"][name] = {
            "test_bpd": elbo_bpd(vae, dataset.x_test, samples=5),
            "realized_bpd": realized_bpd(checkpoint, str(path), name, dataset.x_test),
            "clipped_test_bpd": coder_clipped_bpd(checkpoint.vae(name).eval(), dataset.x_test)}
    if iwae_samples:
        row["iwae_test_bpd"] = iwae_bpd(checkpoint.vae().eval(), dataset.x_test, iwae_samples)
    return row


def markdown(report: dict) -> str:
    names = list(report["rows"][0]["encoders"])
    with_clipped = any(e.get("clipped_test_bpd") for r in report["rows"] for e in r["encoders"].values())
    columns = "-ELBO / clipped / realized" if with_clipped else "-ELBO / realized"
    head = "| epoch | train | " + " | ".join(f"{n} {columns}" for n in names) + " | IWAE |"
    lines = [head, "|" + "---:|" * (len(names) + 3)]
    for row in report["rows"]:
        cells = [" / ".join(f"{v:.4f}" for v in cell_values(row["encoders"][n], with_clipped)) for n in names]
        iwae = f"{row['iwae_test_bpd']:.4f}" if "iwae_test_bpd" in row else "-"
        lines.append(f"| {row['epoch']} | {row['train_bpd']:.4f} | " + " | ".join(cells) + f" | {iwae} |")
    return "\n".join(lines)


def cell_values(entry: dict, with_clipped: bool) -> list[float]:
    middle = [entry["clipped_test_bpd"]] if with_clipped else []
    return [entry["test_bpd"], *middle, entry["realized_bpd"]]


def claims(report: dict) -> list[str]:
    """The seed's claims, checked on these numbers (each line says holds / does not hold)."""
    rows = report["rows"]
    test = {name: [r["encoders"][name]["test_bpd"] for r in rows] for name in rows[0]["encoders"]}
    train = [r["train_bpd"] for r in rows]
    rising = lambda v: all(b > a for a, b in zip(v, v[1:]))
    falling = lambda v: all(b < a for a, b in zip(v, v[1:]))
    verdict = lambda ok: "holds" if ok else "does NOT hold"
    sc = [n for n in test if n.startswith("self-consistent")]
    gaps = [abs(e["realized_bpd"] / e["test_bpd"] - 1) for r in rows for e in r["encoders"].values()]
    lines = [f"(a) amortized test -ELBO rises with epochs while train falls: "
             f"{verdict(rising(test['amortized']) and falling(train))}",
             f"(b) optimal below amortized at every checkpoint: "
             f"{verdict(all(o < a for o, a in zip(test['optimal-test'], test['amortized'])))}; "
             f"optimal spread {max(test['optimal-test']) - min(test['optimal-test']):.4f} vs amortized "
             f"{max(test['amortized']) - min(test['amortized']):.4f} bits/dim"]
    for name in sc:
        between = all(o <= s_ < a for o, s_, a in zip(test["optimal-test"], test[name], test["amortized"]))
        lines.append(f"(c) {name} between optimal and amortized at every checkpoint: {verdict(between)}")
    lines.append(f"realized within 0.5% of -ELBO for every checkpoint and encoder: {verdict(max(gaps) < 0.005)} "
                 f"(largest gap {100 * max(gaps):.2f}%)")
    clipped = [abs(e["realized_bpd"] / e["clipped_test_bpd"] - 1)
               for r in rows for e in r["encoders"].values() if e.get("clipped_test_bpd")]
    if clipped:
        lines.append(f"realized within 0.5% of the coder-clipped -ELBO (no outcome below 2^-24) for every "
                     f"checkpoint and encoder: {verdict(max(clipped) < 0.005)} "
                     f"(largest gap {100 * max(clipped):.2f}%)")
    return lines


ENCODER_COLOURS = {"amortized": "tab:blue", "self-consistent": "tab:green",
                   "self-consistent-posterior": "tab:olive", "optimal-test": "tab:red"}


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    panels = [("train vs test (amortized)", ["amortized"], True),
              ("amortized vs optimal", ["amortized", "optimal-test"], False),
              ("amortized, optimal, self-consistent", list(rows[0]["encoders"]), False)]
    for ax, (title, names, with_train) in zip(axes, panels):
        if with_train:
            ax.plot(epochs, [r["train_bpd"] for r in rows], "k--", label="train -ELBO")
        for name in names:
            # one colour per encoder in every panel, so the panels read together
            colour = ENCODER_COLOURS.get(name)
            ax.plot(epochs, [r["encoders"][name]["test_bpd"] for r in rows], color=colour,
                    label=f"{name}: test -ELBO (line), realized (x)")
            ax.scatter(epochs, [r["encoders"][name]["realized_bpd"] for r in rows], color=colour,
                       marker="x", s=40)
        ax.set(title=title, xlabel="training epoch", ylabel="bits/dim")
    handles = {h.get_label(): h for ax in axes for h in ax.get_legend_handles_labels()[0]}
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"{report['data']}: -ELBO curves with realized bits-back rates (x)")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)


def write_outputs(report: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"generalization-{report['data']}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    stem.with_suffix(".md").write_text(
        f"### Generalization on {report['data']} (bits/dim)\n\nCommand: `{report['command']}` "
        f"(wall time {report['wall_s']:.0f} s)\n\n"
        f"Each cell: test -ELBO (5 z samples per image) / realized net bits-back rate of all "
        f"{report['test_images']:,} test images in one archive. optimal-test is fitted on the "
        f"test images themselves: a bound, not a deployable encoder.\n\n{table}\n\n"
        + "".join(f"- {line}\n" for line in claims(report)))
    plot(report, stem.with_suffix(".png"))
    print(table)
    print("\n".join(claims(report)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="training run folder")
    parser.add_argument("--replot", type=Path, metavar="REPORT_JSON",
                        help="only redraw the table and figures of a saved report")
    parser.add_argument("--add-clipped", action="store_true",
                        help="with --replot: first compute the coder-clipped -ELBO of each entry")
    parser.add_argument("--epochs", help="comma-separated checkpoint epochs (default: all)")
    parser.add_argument("--refine-epochs", type=int, default=50)
    parser.add_argument("--optimal-epochs", type=int, default=200)
    parser.add_argument("--iwae", type=int, default=200)
    args = parser.parse_args()
    if args.replot:
        report = json.loads(args.replot.read_text())
        if args.add_clipped:
            add_clipped(report, load_dataset(report["data"]))
        report.setdefault("command", f"python benchmarks/generalization.py --run {report['run']}")
        write_outputs(report)
        return
    if not args.run:
        parser.error("--run is required (or --replot)")
    cards = sorted(args.run.glob("epoch-*.json"))
    if args.epochs:
        wanted = {int(e) for e in args.epochs.split(",")}
        cards = [c for c in cards if int(c.stem.split("-")[1]) in wanted]
    data = json.loads(cards[0].read_text())["data"]
    dataset = load_dataset(data)
    recipes = encoder_recipes(data, args.refine_epochs, args.optimal_epochs)
    started = time.monotonic()
    rows = []
    for card in cards:
        print(f"{card.stem} ...", flush=True)
        rows.append(measure_checkpoint(card.with_suffix(""), dataset, recipes, args.iwae))
    report = {"data": data, "run": str(args.run), "refine_epochs": args.refine_epochs,
              "optimal_epochs": args.optimal_epochs, "iwae_samples": args.iwae, "elbo_samples": 5,
              "test_images": len(dataset.x_test),
              "wall_s": round(time.monotonic() - started, 1), "rows": rows}
    report["command"] = (f"python benchmarks/generalization.py --run {args.run}"
                         f"{' --epochs ' + args.epochs if args.epochs else ''} --refine-epochs {args.refine_epochs} "
                         f"--optimal-epochs {args.optimal_epochs} --iwae {args.iwae}")
    write_outputs(report)


if __name__ == "__main__":
    main()
