"""Images no model was made for, each compressed alone with the defaults, against PNG
(Pillow, optimize=True) and lossless WebP: real photos of several sizes, noise, flat
and all-white images. The fallback promises no image costs more than its best classic
encoding plus the archive's own bytes (header, checksums, CRC).

Usage:
    python -m benchmarks.fallback
    python -m benchmarks.fallback --png     # PNG settings: bytes against encoding time
Writes benchmarks/results/fallback.{json,md} (with --png: fallback-png.{json,md}). The
photos are matplotlib's sample data (Grace Hopper, 512x600, converted to 8-bit grey,
and crops of it) and an MRI slice; --png adds numpy-made images and the shipped samples.
"""
from __future__ import annotations

import argparse
import gzip
import io
import time
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image as PILImage

from bbcompress.api import CodingOptions, archive_rates, roundtrip
from bbcompress.io.archive import parse
from bbcompress.io.images import Image
from bbcompress.io.paths import read_inputs
from bbcompress.kinds import Kind
from bbcompress.zoo import ModelSet

from .harness import write_results

SAMPLES = Path(matplotlib.get_data_path()) / "sample_data"


def test_images() -> dict[str, tuple[np.ndarray, Kind]]:
    photo = np.asarray(PILImage.open(SAMPLES / "grace_hopper.jpg").convert("L"))
    mri = np.frombuffer(gzip.open(SAMPLES / "s1045.ima.gz").read(), dtype=">u2").reshape(256, 256)
    rng = np.random.default_rng(0)
    return {
        "photo 600x512 (Grace Hopper)": (photo, Kind.GREYSCALE),
        "photo crop 217x333": (photo[100:317, 50:383], Kind.GREYSCALE),
        "photo crop 64x64": (photo[200:264, 200:264], Kind.GREYSCALE),
        "MRI slice 256x256": ((mri.astype(np.float64) * 255 / mri.max()).round().astype(np.uint8), Kind.GREYSCALE),
        "noise 256x256": (rng.integers(0, 256, (256, 256), dtype=np.uint8), Kind.GREYSCALE),
        "flat grey 256x256": (np.full((256, 256), 128, np.uint8), Kind.GREYSCALE),
        "all-white binary 256x256": (np.ones((256, 256), np.uint8), Kind.BINARY),
        "digit 28x28 (mnist10k test 0)": (None, Kind.GREYSCALE),
    }


def classic_bytes(pixels: np.ndarray, kind: Kind, format: str, **options) -> int:
    image = PILImage.fromarray(pixels.astype(bool) if kind == Kind.BINARY else pixels)
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return len(buffer.getvalue())


# Pillow's PNG writer: zlib level and strategy (compress_type 1 = Z_FILTERED, its
# default for PNG rows; 3 = Z_RLE) and optimize=True ("extra processing to find optimal
# encoder settings", in Pillow's words).
PNG_SETTINGS = {
    "level 1": {"compress_level": 1},
    "level 6": {"compress_level": 6},
    "level 9": {"compress_level": 9},
    "level 9, RLE": {"compress_level": 9, "compress_type": 3},
    "optimize": {"optimize": True},
    "optimize, RLE": {"optimize": True, "compress_type": 3},
}
# Per image the smallest of several settings (each one decodes as any PNG does); its
# time is all its encodings'.
BEST_OF = {
    "min(level 9, level 9 RLE)": ("level 9", "level 9, RLE"),
    "min(optimize, optimize RLE)": ("optimize", "optimize, RLE"),
    "min(optimize, optimize RLE, level 9)": ("optimize", "optimize, RLE", "level 9"),
    "min(all four)": ("optimize", "optimize, RLE", "level 9", "level 9, RLE"),
}


def text_like(height: int, width: int, seed: int = 0, box: bool = True) -> np.ndarray:
    """Dark strokes in lines of glyphs on a light, slightly noisy page, edges blurred
    (anti-aliased; ``box``: a 3x3 box, else each pixel with the ones above and left of
    it): a scan of printed text."""
    rng = np.random.default_rng(seed)
    ink = np.zeros((height, width))
    for top in range(8, height - 16, 20):
        for left in range(6, width - 10, 9):
            for _ in range(rng.integers(1, 4)):
                y, x = top + rng.integers(0, 10), left + rng.integers(0, 6)
                tall = rng.random() < 0.5
                ink[y:y + (10 if tall else 2), x:x + (2 if tall else 7)] = 1
    taps = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)] if box else [(0, 0), (1, 0), (0, 1)]
    blurred = sum(np.roll(np.roll(ink, dy, 0), dx, 1) for dy, dx in taps) / len(taps)
    page = 225 - 180 * blurred + rng.normal(0, 3, (height, width))
    return np.clip(page, 0, 255).round().astype(np.uint8)


def tuning_images() -> dict[str, tuple[np.ndarray, Kind]]:
    """Photos, numpy-made images and the shipped sample digits (summed per kind)."""
    images = {name: case for name, case in test_images().items() if case[0] is not None}
    rng = np.random.default_rng(1)
    ramp = np.add.outer(np.arange(256), np.arange(384)) // 3
    images.update({
        "text-like 180x450": (text_like(180, 450), Kind.GREYSCALE),
        "text-like 180x450, sharper": (text_like(180, 450, 1, box=False), Kind.GREYSCALE),
        "gradient 256x384": (ramp.astype(np.uint8), Kind.GREYSCALE),
        "binary noise 256x256": (rng.integers(0, 2, (256, 256), dtype=np.uint8), Kind.BINARY),
        "binary strokes 180x450": ((text_like(180, 450, 2) < 128).astype(np.uint8), Kind.BINARY),
    })
    samples = Path(__file__).resolve().parents[1] / "bbcompress" / "assets" / "samples"
    for kind in Kind:
        found = read_inputs([str(samples / str(kind))])
        images[f"{len(found)} sample {kind} digits (each alone, summed)"] = ([i.pixels for i in found], kind)
    return images


def png_size_and_seconds(pixels: np.ndarray, kind: Kind, settings: dict, repeats: int = 3) -> tuple[int, float]:
    """Bytes of one PNG and the fastest of ``repeats`` encodings, in seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        size = classic_bytes(pixels, kind, "PNG", **settings)
        times.append(time.perf_counter() - started)
    return size, min(times)


def png_settings() -> None:
    rows = []
    for name, (pixels, kind) in tuning_images().items():
        group = pixels if isinstance(pixels, list) else [pixels]
        measured = {label: [png_size_and_seconds(p, kind, settings) for p in group]
                    for label, settings in PNG_SETTINGS.items()}
        for label, parts in BEST_OF.items():
            measured[label] = [(min(measured[part][i][0] for part in parts),
                                sum(measured[part][i][1] for part in parts)) for i in range(len(group))]
        row = {"image": name, "pixels": int(sum(p.size for p in group))}
        row.update({label: {"bytes": sum(b for b, _ in found), "ms": 1000 * sum(s for _, s in found)}
                    for label, found in measured.items()})
        rows.append(row)
        print(row, flush=True)
    labels = [*PNG_SETTINGS, *BEST_OF]
    lines = ["| image | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for r in rows:
        lines.append(f"| {r['image']} | " + " | ".join(f"{r[k]['bytes']:,} B {r[k]['ms']:.1f} ms" for k in labels) + " |")
    totals = [(sum(r[k]["bytes"] for r in rows), sum(r[k]["ms"] for r in rows)) for k in labels]
    lines.append("| **total** | " + " | ".join(f"**{b:,} B {ms:.1f} ms**" for b, ms in totals) + " |")
    lines.append("\nBytes of Pillow's PNG of each image and its encoding time (the fastest of 3, one "
                 "core, on a machine shared with other work: times are rough); min(...) is per image the "
                 "smallest of those settings, its time all their encodings'. Binary images are 1-bit "
                 "PNGs, as the fallback stores them. The fallback keeps min(optimize, optimize RLE): "
                 "never above optimize=True's PNG, and within 0.03% of the smallest total (all four "
                 "settings) at half its time.")
    write_results("fallback-png", "PNG settings for the classic fallback: bytes against time", "\n".join(lines),
                  {"settings": PNG_SETTINGS, "best_of": BEST_OF, "rows": rows})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", action="store_true", help="measure PNG settings instead (fallback-png.md)")
    if parser.parse_args().png:
        png_settings()
        return
    from bbcompress.training.data import load_dataset
    rows = []
    for name, (pixels, kind) in test_images().items():
        if pixels is None:
            pixels = load_dataset("mnist10k").x_test[0]
        image = Image("image.png", "1" if kind == Kind.BINARY else "L", pixels, kind)
        data, decoded = roundtrip([image], ModelSet(), CodingOptions())
        assert np.array_equal(decoded[0].pixels, pixels), name
        png = classic_bytes(pixels, kind, "PNG", optimize=True)
        webp = classic_bytes(pixels, kind, "WEBP", lossless=True, method=6)
        coder = archive_rates(parse(data))[0]
        rows.append({"image": name, "pixels": int(pixels.size), "png": png, "webp": webp,
                     "bbcompress": len(data), "coded_by": f"{coder['model']} ({coder['encoder']})",
                     "over_png": len(data) - png, "raw": int(pixels.size) // (8 if kind == Kind.BINARY else 1)})
        print(rows[-1], flush=True)
    lines = ["| image | PNG bytes | WebP bytes | bbcompress archive bytes | coded by | archive − PNG |",
             "|---|---:|---:|---:|---|---:|"]
    for r in rows:
        lines.append(f"| {r['image']} | {r['png']:,} | {r['webp']:,} | {r['bbcompress']:,} | {r['coded_by']} | "
                     f"{r['over_png']:+,} |")
    lines.append("\nEach image alone in one archive with the defaults (every installed model a candidate, "
                 "classic fallback on, default level).")
    write_results("fallback", "Images no model was made for: one archive each, against PNG", "\n".join(lines),
                  {"rows": rows})


if __name__ == "__main__":
    main()
