"""bbcompress on 1-bit document pages beside PNG, WebP, CCITT G4 and JPEG-XL.

    python -m benchmarks.pages [FOLDER] [--threads 2] [--name pages]
    python -m benchmarks.pages --model runs/pages64-cone/epoch-0010 --name pages-model
    python -m benchmarks.pages --codecs "bbcompress (defaults),JPEG-XL e7,CCITT" --name pages-default

Every .pbm file under FOLDER is compressed on its own by each codec; without FOLDER,
pages 1-3 of two PDF manuals Debian ships (shared-mime-info's specification and
libtasn1-doc's manual), rendered with ``pdftoppm -mono`` at 150 and 300 dpi (poppler-utils); rates are bits per pixel, times seconds per megapixel, every
decoding checked; ``--model``: also a binary model of yours, offered with ``-m`` (beside
the classic codecs) and alone. Writes ``benchmarks/results/pages`` (or ``--name``). No JBIG2 encoder
is packaged for Debian (only the jbig2dec decoder), so none is measured.
"""
from __future__ import annotations

import argparse
import io
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from benchmarks.harness import write_results
from benchmarks.photos import cjxl_codec, measure, table, totals
from bbcompress.api import DEFAULT_LEVEL, CodingOptions, compress_images, decompress_archive
from bbcompress.io.archive import parse
from bbcompress.io.images import Image, read_image
from bbcompress.kinds import Kind
from bbcompress.zoo import ModelSet


def bbcompress_codec(threads: int, level: int = DEFAULT_LEVEL, models: tuple[str, ...] = (), fallback: bool = True):
    def encode(pixels: np.ndarray) -> bytes:
        image = Image("page.pbm", "1", pixels.astype(np.uint8), Kind.BINARY)
        options = CodingOptions(threads=threads, level=level, fallback=fallback)
        return compress_images([image], ModelSet(models), options).to_bytes()

    def decode(data: bytes) -> np.ndarray:
        image, = decompress_archive(parse(data), ModelSet(models), threads=threads)
        return image.pixels.astype(bool)
    return encode, decode


def pillow_codec(fmt: str, grey: bool = False, **options):
    def encode(pixels: np.ndarray) -> bytes:
        image = PILImage.fromarray(pixels)
        buffer = io.BytesIO()
        (image.convert("L") if grey else image).save(buffer, format=fmt, **options)
        return buffer.getvalue()

    def decode(data: bytes) -> np.ndarray:
        return np.asarray(PILImage.open(io.BytesIO(data)).convert("L")) > 0
    return encode, decode


def grey_jxl(effort: int, threads: int):
    encode, decode = cjxl_codec(effort, threads)
    return (lambda pixels: encode(pixels.astype(np.uint8) * np.uint8(255)),
            lambda data: decode(data) > 0)


def codecs(threads: int, model: str | None = None) -> dict:
    found = {"bbcompress (defaults)": bbcompress_codec(threads), "bbcompress -l 9": bbcompress_codec(threads, 9)}
    if model:
        name = Path(model).name
        found.update({f"bbcompress -m {name}": bbcompress_codec(threads, models=(model,)),
                      f"{name} alone": bbcompress_codec(threads, models=(model,), fallback=False)})
    return found | {
            "PNG (optimize)": pillow_codec("PNG", optimize=True),
            "WebP lossless m6": pillow_codec("WEBP", grey=True, lossless=True, method=6, quality=100),
            "CCITT G4 (TIFF)": pillow_codec("TIFF", compression="group4"),
            **{f"JPEG-XL e{e} (cjxl)": grey_jxl(e, threads) for e in (7, 9)}}


MANUALS = (Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"),
           Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"))


def render_pages(folder: Path) -> Path:
    """Pages 1-3 of each manual at 150 and 300 dpi, as PBM files in ``folder``."""
    for manual in MANUALS:
        if not manual.exists():
            raise SystemExit(f"{manual} is missing: apt-get install shared-mime-info libtasn1-doc poppler-utils")
        for dpi in (150, 300):
            subprocess.run(["pdftoppm", "-mono", "-r", str(dpi), "-f", "1", "-l", "3", str(manual),
                            str(folder / f"{manual.stem}-{dpi}dpi")], check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="pages")
    parser.add_argument("--model", help="also a binary model of yours: with the fallback (-m) and alone")
    parser.add_argument("--codecs", help="only the codecs whose names start with one of these (comma-separated)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or render_pages(Path(scratch))
        run(folder, args)


def run(folder: Path, args) -> None:
    found, rows = codecs(args.threads, args.model), []
    if args.codecs:
        found = {name: codec for name, codec in found.items()
                 if any(name.startswith(prefix.strip()) for prefix in args.codecs.split(","))}
    for path in sorted(folder.rglob("*.pbm")):
        pixels = read_image(path).pixels.astype(bool)
        row = {"name": path.stem, "width": pixels.shape[1], "height": pixels.shape[0], "dims": pixels.size,
               "codecs": {codec: measure(found[codec], pixels) for codec in found}}
        print(path.stem, {c: round(r["bits_per_dim"], 4) for c, r in row["codecs"].items()}, flush=True)
        rows.append(row)
    report = {"folder": str(args.folder or "the manuals' pages"), "threads": args.threads, "codecs": list(found), "images": rows,
              "totals": totals(rows, list(found))}
    write_results(args.name, "1-bit document pages", table(report) + "\n\nRates in bits per pixel; times in "
                  f"seconds per megapixel with {args.threads} thread(s) each.", report)


if __name__ == "__main__":
    main()
