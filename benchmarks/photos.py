"""bbcompress on held-out photographs beside PNG, lossless WebP and JPEG-XL, grey and colour.

    python -m benchmarks.photos [--side 1024] [--kinds grey,colour] [--threads 2]
    python -m benchmarks.photos --kinds grey --model runs/photos64-wide/epoch-0010 --out photos-grey-wide
    python -m benchmarks.photos --kinds grey --model photos-greyscale-wide-v1 --out photos-streams

The photos are the held-out quarter of the Debian wallpapers (``bbcompress.training.photos``:
downsampled by a factor in [2, 4) with an area filter, centre-cropped to at most
SIDE x SIDE); grey is Pillow's L conversion of the same crop. Each codec compresses each
image on its own; rates are bits per sub-pixel (per pixel for grey), times are seconds
per megapixel on ``--threads`` threads (a model alone also on one: what streams give one
photo), and every decoding is checked against the source. Writes ``benchmarks/results/photos-grey`` and ``photos-colour``.
"""
from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from benchmarks.harness import write_results
from bbcompress.api import CodingOptions, compress_images, decompress_archive
from bbcompress.io.archive import parse
from bbcompress.io.images import Image
from bbcompress.io.images import simplest_kind
from bbcompress.training.photos import benchmark_photos
from bbcompress.zoo import ModelSet


def bbcompress_codec(threads: int, models: tuple[str, ...] = (), fallback: bool = True):
    """bbcompress with its defaults, or with ``-m`` models (``fallback``: or without the
    classic codecs: the model's own rate)."""
    def encode(pixels: np.ndarray) -> bytes:
        mode = "RGB" if pixels.ndim == 3 else "L"
        image = Image("photo.png", mode, *simplest_kind(pixels))
        return compress_images([image], ModelSet(models), CodingOptions(threads=threads, fallback=fallback)).to_bytes()

    def decode(data: bytes) -> np.ndarray:
        image, = decompress_archive(parse(data), ModelSet(models), threads=threads)
        return image.pixels if image.mode == "L" or image.pixels.ndim == 3 else np.repeat(image.pixels[..., None], 3, 2)
    return encode, decode


def pillow_codec(fmt: str, **options):
    def encode(pixels: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        PILImage.fromarray(pixels).save(buffer, format=fmt, **options)
        return buffer.getvalue()

    def decode(data: bytes) -> np.ndarray:
        return np.asarray(PILImage.open(io.BytesIO(data)))
    return encode, decode


def cjxl_codec(effort: int, threads: int):
    def encode(pixels: np.ndarray) -> bytes:
        with tempfile.TemporaryDirectory() as folder:
            source, packed = Path(folder) / "in.png", Path(folder) / "out.jxl"
            PILImage.fromarray(pixels).save(source, compress_level=1)
            subprocess.run(["cjxl", str(source), str(packed), "-d", "0", "-e", str(effort),
                            f"--num_threads={threads}"], check=True, capture_output=True)
            return packed.read_bytes()

    def decode(data: bytes) -> np.ndarray:
        with tempfile.TemporaryDirectory() as folder:
            packed, restored = Path(folder) / "in.jxl", Path(folder) / "out.png"
            packed.write_bytes(data)
            subprocess.run(["djxl", str(packed), str(restored), f"--num_threads={threads}"],
                           check=True, capture_output=True)
            return np.asarray(PILImage.open(restored))
    return encode, decode


def codecs(threads: int, model: str | None = None) -> dict:
    found = {"bbcompress (defaults)": bbcompress_codec(threads)}
    if model:  # a greyscale model codes colour as three planes (green, red and blue less green)
        found.update({f"bbcompress -m {Path(model).name}": bbcompress_codec(threads, (model,)),
                      f"{Path(model).name} alone": bbcompress_codec(threads, (model,), fallback=False)})
        if threads > 1:  # what streams (format 8) give one photo: the same with one thread
            found[f"{Path(model).name} alone, 1 thread"] = bbcompress_codec(1, (model,), fallback=False)
    found.update({"PNG (optimize)": pillow_codec("PNG", optimize=True),
                  "WebP lossless m6": pillow_codec("WEBP", lossless=True, method=6, quality=100)})
    if shutil.which("cjxl") and shutil.which("djxl"):
        found.update({f"JPEG-XL e{e} (cjxl)": cjxl_codec(e, threads) for e in (7, 9)})
    return found


def measure(codec, pixels: np.ndarray) -> dict:
    encode, decode = codec
    started = time.perf_counter()
    data = encode(pixels)
    middle = time.perf_counter()
    back = decode(data)
    ended = time.perf_counter()
    if pixels.ndim == 2 and back.ndim == 3 and (back == back[..., :1]).all():
        back = back[..., 0]  # WebP gives a grey image back as RGB
    if not np.array_equal(back, pixels):
        raise AssertionError("a codec did not restore the image exactly")
    megapixels = pixels.shape[0] * pixels.shape[1] / 1e6
    return {"bytes": len(data), "bits_per_dim": 8 * len(data) / pixels.size,
            "compress_s_per_mp": (middle - started) / megapixels, "decompress_s_per_mp": (ended - middle) / megapixels}


def table(report: dict) -> str:
    names = list(report["codecs"])
    lines = ["| image | pixels | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for row in report["images"]:
        lines.append(f"| {row['name']} | {row['width']}×{row['height']} | "
                     + " | ".join(f"{row['codecs'][n]['bits_per_dim']:.4f}" for n in names) + " |")
    totals = report["totals"]
    lines.append("| **total** | | " + " | ".join(f"**{totals[n]['bits_per_dim']:.4f}**" for n in names) + " |")
    lines.append("| ÷ best JPEG-XL | | " + " | ".join(f"{totals[n]['vs_best_jxl']:.3f}" for n in names) + " |"
                 if all("vs_best_jxl" in totals[n] for n in names) else "")
    lines.append("| compress s/MP | | " + " | ".join(f"{totals[n]['compress_s_per_mp']:.2f}" for n in names) + " |")
    lines.append("| decompress s/MP | | " + " | ".join(f"{totals[n]['decompress_s_per_mp']:.2f}" for n in names) + " |")
    return "\n".join(line for line in lines if line)


def totals(rows: list[dict], names: list[str]) -> dict:
    found = {}
    for name in names:
        bits = sum(8 * r["codecs"][name]["bytes"] for r in rows)
        dims = sum(r["dims"] for r in rows)
        megapixels = sum(r["width"] * r["height"] for r in rows) / 1e6
        found[name] = {"bytes": bits // 8, "bits_per_dim": bits / dims,
                       **{key: sum(r["codecs"][name][key] * r["width"] * r["height"] / 1e6 for r in rows) / megapixels
                          for key in ("compress_s_per_mp", "decompress_s_per_mp")}}
    jxl = [found[n]["bits_per_dim"] for n in names if n.startswith("JPEG-XL")]
    for name in names if jxl else []:
        found[name]["vs_best_jxl"] = found[name]["bits_per_dim"] / min(jxl)
    return found


def run(kind: str, photos: list, threads: int, model: str | None = None, out: str | None = None) -> None:
    found = codecs(threads, model)
    rows = []
    for name, rgb in photos:
        pixels = rgb if kind == "colour" else np.asarray(PILImage.fromarray(rgb).convert("L"))
        row = {"name": name, "width": pixels.shape[1], "height": pixels.shape[0], "dims": pixels.size,
               "codecs": {codec: measure(found[codec], pixels) for codec in found}}
        print(name, {c: round(r["bits_per_dim"], 4) for c, r in row["codecs"].items()}, flush=True)
        rows.append(row)
    report = {"kind": kind, "threads": threads, "codecs": list(found), "images": rows,
              "totals": totals(rows, list(found))}
    note = (f"\n\nRates in bits per {'sub-pixel' if kind == 'colour' else 'pixel'}; times are seconds "
            f"per megapixel with {threads} thread(s) each, on the machine that ran the command "
            f"(shared with other work: compare within a row, not across runs).")
    write_results(f"{out or 'photos'}-{kind}", f"Held-out photographs, {kind}", table(report) + note, report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--kinds", default="grey,colour")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", help="also a model of yours: with the fallback (-m) and alone")
    parser.add_argument("--out", help="results name prefix (default: photos)")
    parser.add_argument("--images", type=int, help="only the first N photos (a quick look)")
    args = parser.parse_args()
    photos = benchmark_photos(args.side)[:args.images]
    for kind in args.kinds.split(","):
        run(kind, photos, args.threads, args.model, args.out)


if __name__ == "__main__":
    main()
