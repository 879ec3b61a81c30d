"""The seed paper's experiment measured in realized bits.

For every checkpoint of a training run: train BPD; test BPD (-ELBO) of the amortized,
self-consistent (prior and posterior samples) and optimal encoders; the realized
bits-back bits/dim of the whole test set compressed with each encoder; and the IWAE-K
test BPD of the model. Refined encoders are stored in the checkpoints (reused when
present). Writes benchmarks/results/generalization-<data>.{json,md,png} (or --out NAME).

Usage:
    python -m benchmarks.generalization --run runs/seed-mnist10k-binary [--epochs 100,500,1000]
    python -m benchmarks.generalization --replot benchmarks/results/generalization-mnist10k.json
    (the run folder comes from: bbcompress train --data NAME -o RUN --epochs 1000)
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import torch

from bbcompress.codec.core import MAX_SYMBOL_BITS
from bbcompress.io.images import images_from_array
from bbcompress.kinds import Kind
from bbcompress.checkpoint import load_checkpoint
from bbcompress.families.networks import from_checkpoint
from bbcompress.families.mlp import VAE
from bbcompress.training.config import RefineConfig
from bbcompress.training.data import load_dataset
from bbcompress.training.evaluate import elbo_bpd, iwae_bpd
from bbcompress.training.refine import attach_encoder, refine_encoder

from .harness import model_only, realized_rate, write_results


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
        attach_encoder(checkpoint, name, encoder, info)
        changed = True
        print(f"  refined {name} in {info['wall_s']} s", flush=True)
    if changed:
        checkpoint.save(path)
    return checkpoint


class CoderClippedDecoder(torch.nn.Module):
    """The decoder with logits clamped where the coder clamps: no binary outcome gets
    less than 2^-24. The -ELBO under it is the rate the coder can actually reach."""

    LIMIT = math.log(2**MAX_SYMBOL_BITS - 1)

    def __init__(self, decoder: torch.nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, z):
        return self.decoder(z).clamp(-self.LIMIT, self.LIMIT)


def coder_clipped(vae: VAE) -> VAE:
    """A copy of ``vae`` whose binary decoder is clamped as the coder clamps (``vae`` itself
    is left as it is). Greyscale copies are unchanged: the model's own pixel floor (or the
    logistic's tails) keeps every decision far above 2^-24."""
    clipped = copy.deepcopy(vae)
    if vae.config.kind == Kind.BINARY:
        clipped.decoder = CoderClippedDecoder(clipped.decoder)
    return clipped


def coder_clipped_bpd(vae: VAE, images) -> float | None:
    """-ELBO with the coder's probability floor; None for greyscale (no floor to add)."""
    if vae.config.kind != Kind.BINARY or not isinstance(vae, VAE):  # the MLP decoder's logits only
        return None
    return elbo_bpd(coder_clipped(vae), images, samples=5)


def add_clipped(report: dict, dataset) -> None:
    """Fill in the coder-clipped -ELBO of every checkpoint and encoder of a saved report."""
    for row in report["rows"]:
        checkpoint = load_checkpoint(Path(report["run"]) / f"epoch-{row['epoch']:04d}")
        for name, entry in row["encoders"].items():
            entry["clipped_test_bpd"] = coder_clipped_bpd(from_checkpoint(checkpoint, name).eval(),
                                                          dataset.x_test)


def measure_checkpoint(path: Path, dataset, recipes, iwae_samples: int) -> dict:
    checkpoint = ensure_encoders(path, dataset, recipes)
    images = images_from_array(dataset.x_test, dataset.kind)
    row = {"epoch": checkpoint.info["epoch"], "train_bpd": checkpoint.info["train_bpd"], "encoders": {}}
    for name in ["amortized", *recipes]:
        vae = from_checkpoint(checkpoint, name).eval()
        rate = realized_rate(images, str(path), checkpoint, model_only(encoder=name))
        row["encoders"][name] = {"test_bpd": elbo_bpd(vae, dataset.x_test, samples=5),
                                 "realized_bpd": rate.net_bits_per_dim,
                                 "clipped_test_bpd": coder_clipped_bpd(vae, dataset.x_test)}
    if iwae_samples:
        row["iwae_test_bpd"] = iwae_bpd(from_checkpoint(checkpoint).eval(), dataset.x_test, iwae_samples)
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


def write_outputs(report: dict, out: str | None) -> None:
    body = (f"Each cell: test -ELBO (5 z samples per image) / realized net bits-back rate of all "
            f"{report['test_images']:,} test images in one archive. optimal-test is fitted on the "
            f"test images themselves: a bound, not a deployable encoder. Wall time "
            f"{report['wall_s']:.0f} s.\n\n{markdown(report)}\n\n"
            + "".join(f"- {line}\n" for line in claims(report)))
    write_results(out or f"generalization-{report['data']}", f"Generalization on {report['data']} (bits/dim)",
                  body, report, lambda path: plot(report, path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="training run folder")
    parser.add_argument("--replot", type=Path, metavar="REPORT_JSON",
                        help="only redraw the table and figures of a saved report (its command is kept)")
    parser.add_argument("--add-clipped", action="store_true",
                        help="with --replot: first compute the coder-clipped -ELBO of each entry")
    parser.add_argument("--epochs", help="comma-separated checkpoint epochs (default: all)")
    parser.add_argument("--refine-epochs", type=int, default=50)
    parser.add_argument("--optimal-epochs", type=int, default=200)
    parser.add_argument("--iwae", type=int, default=200)
    parser.add_argument("--encoders", help=f"refined encoders to measure, of {','.join(encoder_recipes('', 0, 0))} "
                        "(default: all; a model with a local head samples pixel by pixel, so self-consistent "
                        "refinement is slow for it)")
    parser.add_argument("--out", help="results name (default: generalization-DATA)")
    args = parser.parse_args()
    if args.replot:
        report = json.loads(args.replot.read_text())
        if args.add_clipped:
            add_clipped(report, load_dataset(report["data"]))
        write_outputs(report, args.out)
        return
    if not args.run:
        parser.error("--run is required (or --replot)")
    cards = sorted(args.run.glob("epoch-*.json"))
    if args.epochs:
        wanted = {int(e) for e in args.epochs.split(",")}
        cards = [c for c in cards if int(c.stem.split("-")[1]) in wanted]
    if not cards:
        parser.error(f"no checkpoints in {args.run}")
    data = json.loads(cards[0].read_text())["data"]
    dataset = load_dataset(data)
    recipes = encoder_recipes(data, args.refine_epochs, args.optimal_epochs)
    if args.encoders:
        recipes = {name: recipes[name] for name in args.encoders.split(",")}
    started = time.monotonic()
    rows = []
    for card in cards:
        print(f"{card.stem} ...", flush=True)
        rows.append(measure_checkpoint(card.with_suffix(""), dataset, recipes, args.iwae))
    report = {"data": data, "run": str(args.run), "refine_epochs": args.refine_epochs,
              "optimal_epochs": args.optimal_epochs, "iwae_samples": args.iwae, "elbo_samples": 5,
              "test_images": len(dataset.x_test),
              "wall_s": round(time.monotonic() - started, 1), "rows": rows}
    write_outputs(report, args.out)


if __name__ == "__main__":
    main()
