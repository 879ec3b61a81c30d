"""Images no model was made for, each compressed alone with the defaults, against PNG
(Pillow, optimize=True) and lossless WebP: real photos of several sizes, noise, flat
and all-white images. The fallback promises no image costs more than its best classic
encoding plus the archive's own bytes (header, checksums, CRC).

Usage:
    python -m benchmarks.fallback
Writes benchmarks/results/fallback.{json,md}. The photos are matplotlib's sample data
(Grace Hopper, 512x600, converted to 8-bit grey, and crops of it) and an MRI slice.
"""
from __future__ import annotations

import gzip
import io
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image as PILImage

from bbcompress.api import CodingOptions, archive_rates, roundtrip
from bbcompress.io.archive import parse
from bbcompress.io.images import Image
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


def main() -> None:
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
