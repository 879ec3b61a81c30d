"""Which planes a greyscale model should code a colour photo as: R, G and B alike, or
green and the differences from it (what archives of version 7 do), or another of
``kinds.COLOUR_TRANSFORMS`` (version 10: each image its own).

    python -m benchmarks.colour_planes [--model runs/photos64-linear/epoch-0010] [--side 512]

On the held-out colour photos (``training.photos``, centre-cropped to ``--side``), bits
per sub-pixel of each layout under a model-free reference, LOCO-I's median predictor
with a discretized logistic whose scale is fitted to each plane in 16 classes of local
activity (a lower bound of what such a rule costs: its scales see the plane it codes),
and, with ``--model``, the model's estimated rate (its float32 network: ``estimate_bits``)
in the tiles an archive at level 7 would use; beside the best classic encoding at effort 9.
Writes benchmarks/results/colour-planes[-MODEL].{json,md}.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.special import expit

from bbcompress.codec.bits_back import CodingSettings
from bbcompress.io.classic import best_encoding
from bbcompress.colour import median_prediction, with_colour_transform
from bbcompress.io.images import Image, to_tiles
from bbcompress.kinds import COLOUR_TRANSFORMS, Kind, to_planes
from bbcompress.sections import coding_of, tile_side_of, tiled
from bbcompress.training.photos import benchmark_photos
from bbcompress.zoo import resolve_model

from .harness import write_results

ACTIVITY_CLASSES = 16


def layouts(rgb: np.ndarray, transforms: list[int]) -> dict[str, list[np.ndarray]]:
    return {COLOUR_TRANSFORMS[t].name: to_planes(rgb, Kind.RGB, t) for t in transforms}


def median_predictor_bits(plane: np.ndarray) -> float:
    """Bits of ``plane`` under LOCO-I's median predictor and a logistic of 16 scales."""
    p = np.pad(plane.astype(np.float64), ((1, 0), (1, 1)))
    predicted, activity = median_prediction(p[1:, :-2], p[:-1, 1:-1], p[:-1, :-2], p[:-1, 2:])
    classes = np.digitize(activity, np.quantile(activity, np.linspace(0, 1, ACTIVITY_CLASSES + 1)[1:-1]))
    x, error = plane.astype(np.float64), np.abs(plane - predicted)
    best = np.inf
    for factor in (0.5, 0.6, 0.7, 0.8):  # logistic scale ~ factor x mean |error| of the class
        scales = np.array([error[classes == k].mean() if np.any(classes == k) else 1.0
                           for k in range(ACTIVITY_CLASSES)]) * factor + 0.3
        s = scales[classes]
        upper = np.where(x >= 255, 1.0, expit((x + 0.5 - predicted) / s))
        lower = np.where(x <= 0, 0.0, expit((x - 0.5 - predicted) / s))
        best = min(best, float(-np.log2(np.maximum(upper - lower, 1e-12)).sum()))
    return best


def model_bits(coding, plane: np.ndarray) -> float:
    side = tile_side_of(*plane.shape, coding)
    tiles, masks = to_tiles(plane, side)
    coding = tiled(coding, side)
    return float(sum(coding.estimate_bits(tiles[i:i + 4], masks[i:i + 4]).sum() for i in range(0, len(tiles), 4)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--out", help="results name (default: colour-planes[-MODEL])")
    parser.add_argument("--transform", type=int, action="append", choices=range(len(COLOUR_TRANSFORMS)),
                        help="a transform to measure, by its index in kinds.COLOUR_TRANSFORMS (repeat; default: all)")
    args = parser.parse_args()
    coding = coding_of(resolve_model(args.model), CodingSettings()) if args.model else None
    rows, transforms = [], args.transform or list(range(len(COLOUR_TRANSFORMS)))
    for name, rgb in benchmark_photos(args.side):
        chosen = with_colour_transform(Image(name, "RGB", rgb, Kind.RGB)).colour_transform
        row = {"name": name, "subpixels": rgb.size, "chosen": COLOUR_TRANSFORMS[chosen].name,
               "classic_bits": 8 * len(best_encoding(rgb, Kind.RGB, effort=9)[1]), "layouts": {}}
        for layout, planes in layouts(rgb, transforms).items():
            rates = {"median_bits": sum(median_predictor_bits(p) for p in planes)}
            if coding is not None:
                rates["model_bits"] = sum(model_bits(coding, p) for p in planes)
            row["layouts"][layout] = rates
        rows.append(row)
        print(name, {k: {m: round(v / rgb.size, 4) for m, v in r.items()} for k, r in row["layouts"].items()},
              flush=True)
    report = {"model": args.model, "side": args.side, "images": rows, "totals": totals(rows)}
    name = args.out or "colour-planes" + (f"-{Path(args.model).name}" if args.model else "")
    write_results(name, "Colour photos as planes of a greyscale model", markdown(report), report)


def totals(rows: list[dict]) -> dict:
    subpixels = sum(r["subpixels"] for r in rows)
    out = {"classic": sum(r["classic_bits"] for r in rows) / subpixels}
    for layout in rows[0]["layouts"]:
        for measure in rows[0]["layouts"][layout]:
            out[f"{layout}: {measure}"] = sum(r["layouts"][layout][measure] for r in rows) / subpixels
    for measure in next(iter(rows[0]["layouts"].values())):  # each image in the layout its measure finds cheapest
        out[f"each its best: {measure}"] = sum(min(rates[measure] for rates in r["layouts"].values())
                                               for r in rows) / subpixels
        if all(r.get("chosen") in r["layouts"] for r in rows):  # (results from before the choice have none)
            out[f"as chosen: {measure}"] = sum(r["layouts"][r["chosen"]][measure] for r in rows) / subpixels
    return out


def markdown(report: dict) -> str:
    """One row for each layout and measure (and each image's cheapest), one column an image."""
    images, totals = report["images"], report["totals"]
    layouts, measures = list(images[0]["layouts"]), list(images[0]["layouts"][next(iter(images[0]["layouts"]))])
    lines = ["| planes | " + " | ".join(r["name"] for r in images) + " | **total** |",
             "|---" + "|---:" * (len(images) + 1) + "|"]
    for measure in measures:
        for layout in layouts:
            cells = [r["layouts"][layout][measure] / r["subpixels"] for r in images] + [totals[f"{layout}: {measure}"]]
            lines.append(f"| {layout}, {measure.replace('_bits', '')} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")
        cells = [min(v[measure] for v in r["layouts"].values()) / r["subpixels"] for r in images]
        lines.append(f"| each its cheapest, {measure.replace('_bits', '')} | "
                     + " | ".join(f"{c:.4f}" for c in cells + [totals[f"each its best: {measure}"]]) + " |")
        if f"as chosen: {measure}" in totals:
            cells = [r["layouts"][r["chosen"]][measure] / r["subpixels"] for r in images]
            lines.append(f"| as `compress` chooses, {measure.replace('_bits', '')} | "
                         + " | ".join(f"{c:.4f}" for c in cells + [totals[f"as chosen: {measure}"]]) + " |")
    if all("chosen" in r for r in images):
        lines.append("| `compress` chooses | " + " | ".join(r["chosen"] for r in images) + " | |")
    cells = [r["classic_bits"] / r["subpixels"] for r in images] + [totals["classic"]]
    lines.append("| best classic (e9) | " + " | ".join(f"{c:.4f}" for c in cells) + " |")
    model = f"model `{report['model']}` (estimated rate, tiles of level 7)" if report["model"] else "no model"
    return (f"Bits per sub-pixel on the held-out colour photos (centre crops of at most {report['side']}x"
            f"{report['side']}) as the planes of each colour transform (``kinds.COLOUR_TRANSFORMS``); "
            f"median: LOCO-I's predictor with per-plane fitted scales; {model}.\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
