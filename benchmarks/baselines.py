"""Classic lossless codecs on our datasets' test images, in bits per pixel (bits/dim).

Baselines for the bits-back coder: general-purpose stream compressors (gzip, bz2, xz,
zstd) on the concatenated raw bytes, and image codecs (PNG, WebP lossless, JPEG-XL,
JPEG-LS, CCITT G4) per image and on one mosaic of all test images, and bbcompress itself:
one .bbc archive of all test images, each encoder of the shipped model for the data
kind, or of --model, with the classic fallback off so the rate is the model's own; and
its defaults on the mosaic as one image (a contact sheet, as a user would hand it over).
Every result is total compressed bits / total pixels measured, and every codec is
checked to be lossless by decoding and comparing arrays.

Usage:
    python -m benchmarks.baselines                         # mnist10k-binary and mnist10k
    python -m benchmarks.baselines --data fashion-mnist --limit-per-image 500

Writes benchmarks/results/codecs-<dataset>.{json,md} (or --out PREFIX) and prints the
Markdown table. ``measure(images, binary, limit_per_image)`` is importable for other
benchmarks.
"""
from __future__ import annotations

import argparse
import bz2
import gzip
import io
import lzma
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bbcompress.api import CodingOptions, compress_images, decompress_archive
from bbcompress.io.archive import parse
from bbcompress.io.images import images_from_array
from bbcompress.kinds import Kind
from bbcompress.zoo import DEFAULT_MODELS, ModelSet, resolve_model, shipped_cards
from bbcompress.training.data import load_dataset

from .harness import model_only, verified_archive, write_results

# Optional dependencies: a codec whose library is missing is skipped with a note
# rather than failing the whole benchmark.
try:
    from PIL import Image, features as pil_features
except ImportError:  # pragma: no cover
    Image = pil_features = None
try:
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None
try:
    import imagecodecs
except ImportError:  # pragma: no cover
    imagecodecs = None

DEFAULT_DATA = ("mnist10k-binary", "mnist10k")
# Per-image codecs on 10k images (JPEG-XL effort 9 especially) are slow on a small
# machine, so by default sets larger than this are measured on their first images only.
DEFAULT_PER_IMAGE_CAP = 2000


class LossyError(AssertionError):
    """A codec did not reproduce its input exactly: the benchmark must not go on."""


def check_equal(name: str, decoded: np.ndarray | bytes, original: np.ndarray | bytes) -> None:
    if isinstance(original, bytes):
        same = decoded == original
    else:
        decoded = np.asarray(decoded)
        same = decoded.shape == original.shape and np.array_equal(decoded, original)
    if not same:
        raise LossyError(f"{name}: decoded data differ from the input")


# ---------------------------------------------------------------------------
# Layout helpers


def mosaic_grid(n: int) -> tuple[int, int]:
    """Rows x columns of tiles: the most square exact factorisation of n (2,000 -> 40x50,
    10,000 -> 100x100); if n has no factor near its square root, a square grid padded
    with blank tiles (padding is never counted in the pixel total)."""
    rows = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    if rows * 2 >= math.isqrt(n):
        return rows, n // rows
    side = math.ceil(math.sqrt(n))
    return math.ceil(n / side), side


def to_mosaic(images: np.ndarray) -> np.ndarray:
    n, h, w = images.shape
    rows, cols = mosaic_grid(n)
    padded = np.zeros((rows * cols, h, w), dtype=images.dtype)
    padded[:n] = images
    return padded.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


def from_mosaic(mosaic: np.ndarray, n: int, h: int, w: int) -> np.ndarray:
    rows, cols = mosaic.shape[0] // h, mosaic.shape[1] // w
    return mosaic.reshape(rows, h, cols, w).transpose(0, 2, 1, 3).reshape(rows * cols, h, w)[:n]


def as_grey8(images: np.ndarray, binary: bool) -> np.ndarray:
    """8-bit greyscale view: binary 0/1 becomes 0/255 (lossless either way, and the
    natural input for image codecs that expect full-range 8-bit pixels)."""
    return (images * 255).astype(np.uint8) if binary else images


# ---------------------------------------------------------------------------
# Codec families. Each encoder takes a 2-D uint8 array (grey 0..255, or 0/1 for
# binary data) and returns (encoded bytes, decode function back to that array).

ImageCodec = Callable[[np.ndarray, bool], tuple[bytes, Callable[[bytes], np.ndarray]]]


def pil_encode(img: "Image.Image", fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def png_codec(arr: np.ndarray, binary: bool):
    # Binary as 1-bit PNG (mode '1'), greyscale as 8-bit 'L'; optimize=True lets
    # Pillow/zlib search filter and compression settings.
    img = Image.fromarray(arr.astype(bool)) if binary else Image.fromarray(arr, "L")

    def decode(data: bytes) -> np.ndarray:
        out = np.asarray(Image.open(io.BytesIO(data)))
        return out.astype(np.uint8)

    return pil_encode(img, "PNG", optimize=True), decode


def webp_codec(arr: np.ndarray, binary: bool):
    # WebP has no greyscale mode: Pillow stores 'L' as RGB with equal channels, which
    # the lossless coder's subtract-green transform makes nearly free.
    grey = as_grey8(arr, binary)
    data = pil_encode(Image.fromarray(grey, "L"), "WEBP", lossless=True, method=6, quality=100)

    def decode(data: bytes) -> np.ndarray:
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
            raise LossyError("WebP: decoded channels differ")
        g = rgb[..., 0]
        return (g // 255).astype(np.uint8) if binary else g

    return data, decode


def jxl_codec(arr: np.ndarray, binary: bool):
    # Lossless modular JPEG-XL at effort 9 (slowest, best). numthreads=1 keeps the
    # benchmark from competing with training jobs and makes timings comparable.
    grey = as_grey8(arr, binary)
    data = imagecodecs.jpegxl_encode(grey, lossless=True, effort=9, numthreads=1)

    def decode(data: bytes) -> np.ndarray:
        g = imagecodecs.jpegxl_decode(data, numthreads=1)
        return (g // 255).astype(np.uint8) if binary else g

    return bytes(data), decode


# Debian's cjxl (libjxl-tools, `apt-get install libjxl-tools`) is up to 20% smaller than
# imagecodecs' libjxl at effort 9 on our mosaics: an anchor is reported at its strongest.
CJXL_SETTINGS = {"cjxl -e 9": ["-e", "9"], "cjxl -e 9 -E 3 -I 100 -g 3": ["-e", "9", "-E", "3", "-I", "100", "-g", "3"]}


def cjxl_codec(options: list[str]):
    """Lossless JPEG-XL through the cjxl and djxl tools, from and to PGM files."""
    def codec(arr: np.ndarray, binary: bool):
        grey = as_grey8(arr, binary)
        with tempfile.TemporaryDirectory() as folder:
            source, packed = Path(folder) / "in.pgm", Path(folder) / "out.jxl"
            Image.fromarray(grey, mode="L").save(source)
            subprocess.run(["cjxl", str(source), str(packed), "-d", "0", "--num_threads=1", *options],
                           check=True, capture_output=True)
            data = packed.read_bytes()

        def decode(data: bytes) -> np.ndarray:
            with tempfile.TemporaryDirectory() as folder:
                packed, restored = Path(folder) / "in.jxl", Path(folder) / "out.pgm"
                packed.write_bytes(data)
                subprocess.run(["djxl", str(packed), str(restored), "--num_threads=1"], check=True,
                               capture_output=True)
                g = np.asarray(Image.open(restored).convert("L"))
            return (g // 255).astype(np.uint8) if binary else g
        return data, decode
    return codec


def bbcompress_mosaic_codec(arr: np.ndarray, binary: bool):
    """bbcompress with its defaults on the mosaic as one image (one thread, as the classic
    codecs): the whole-image path, against the same images coded apart (the archive rows)."""
    image, = images_from_array(arr[None], Kind.BINARY if binary else Kind.GREYSCALE)
    data = compress_images([image], ModelSet(), CodingOptions()).to_bytes()

    def decode(data: bytes) -> np.ndarray:
        decoded, = decompress_archive(parse(data), ModelSet())
        return decoded.pixels
    return data, decode


def has_cjxl() -> bool:
    return Image is not None and bool(shutil.which("cjxl") and shutil.which("djxl"))


def jpegls_codec(arr: np.ndarray, binary: bool):
    # JPEG-LS (CharLS, near=0 i.e. lossless). Binary data stay 0/1: on the binary
    # mnist10k mosaic that measured 0.436 bits/dim against 0.451 for 0/255.
    data = imagecodecs.jpegls_encode(arr)
    return bytes(data), lambda d: np.asarray(imagecodecs.jpegls_decode(d))


def g4_codec(arr: np.ndarray, binary: bool):
    # CCITT Group 4 fax coding in a TIFF container (libtiff via Pillow): the classic
    # bilevel codec available here, standing in for JBIG/JBIG2 which imagecodecs lacks.
    data = pil_encode(Image.fromarray(arr.astype(bool)), "TIFF", compression="group4")
    return data, lambda d: np.asarray(Image.open(io.BytesIO(d))).astype(np.uint8)


# Stream compressors: bytes -> bytes, with their decompressors. Levels are each
# tool's strongest standard setting.
def zstd_pair():
    return (lambda b: zstandard.ZstdCompressor(level=19).compress(b),
            lambda b: zstandard.ZstdDecompressor().decompress(b))


STREAM_CODECS: dict[str, Callable[[], tuple[Callable, Callable] | None]] = {
    # mtime=0: no timestamp in the header, so output is reproducible.
    "gzip -9": lambda: (lambda b: gzip.compress(b, 9, mtime=0), gzip.decompress),
    "bz2 -9": lambda: (lambda b: bz2.compress(b, 9), bz2.decompress),
    "xz -9e": lambda: (lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME), lzma.decompress),
    "zstd -19": lambda: zstd_pair() if zstandard else None,
}


@dataclass(frozen=True)
class ImageCodecSpec:
    name: str
    codec: ImageCodec
    modes: tuple[str, ...]          # "per-image" and/or "mosaic"
    available: Callable[[], bool]
    binary_only: bool = False
    missing: str = ""


def has_imagecodecs(attr: str) -> Callable[[], bool]:
    return lambda: imagecodecs is not None and bool(getattr(getattr(imagecodecs, attr, None), "available", False))


IMAGE_CODECS: list[ImageCodecSpec] = [
    ImageCodecSpec("PNG", png_codec, ("per-image", "mosaic"), lambda: Image is not None,
                   missing="Pillow not installed"),
    ImageCodecSpec("WebP lossless m6", webp_codec, ("per-image", "mosaic"),
                   lambda: Image is not None and pil_features.check("webp"),
                   missing="Pillow without WebP support"),
    ImageCodecSpec("JPEG-XL e9 (imagecodecs)", jxl_codec, ("per-image", "mosaic"), has_imagecodecs("JPEGXL"),
                   missing="imagecodecs without JPEG-XL"),
    *(ImageCodecSpec(f"JPEG-XL {name}", cjxl_codec(options), ("mosaic",), has_cjxl,
                     missing="cjxl/djxl not installed (apt-get install libjxl-tools)")
      for name, options in CJXL_SETTINGS.items()),
    ImageCodecSpec("bbcompress (defaults)", bbcompress_mosaic_codec, ("mosaic",), lambda: True),
    # JPEG-LS per image would mostly measure its ~40-byte headers; mosaic only.
    ImageCodecSpec("JPEG-LS", jpegls_codec, ("mosaic",), has_imagecodecs("JPEGLS"),
                   missing="imagecodecs without JPEG-LS"),
    # Same reasoning for G4: a TIFF header per 28x28 image would swamp the data.
    ImageCodecSpec("CCITT G4 (TIFF)", g4_codec, ("mosaic",), binary_only=True,
                   available=lambda: Image is not None and pil_features.check("libtiff"),
                   missing="Pillow without libtiff"),
]

# Bilevel codecs we would like but cannot run here; reported as notes.
UNAVAILABLE_NOTES = {
    True: ["JBIG/JBIG2: not in imagecodecs (no encoder available here); skipped"],
    False: [],
}


# ---------------------------------------------------------------------------
# Measurement


def result(name: str, mode: str, bits: int, pixels: int, seconds: float, images: int,
           **extra) -> dict:
    return {"name": name, "mode": mode, "bits": int(bits), "bits_per_dim": bits / pixels,
            "seconds": round(seconds, 3), "images_measured": int(images), **extra}


def measure_stream(name: str, images: np.ndarray, binary: bool) -> dict | None:
    pair = STREAM_CODECS[name]()
    if pair is None:
        return None
    compress, decompress = pair
    # Binary data: try both one byte per pixel (0/1) and 8 pixels per byte; 784 bits is
    # exactly 98 bytes, so packing the whole stream keeps images byte-aligned.
    variants = {"bytes": images.tobytes()}
    if binary:
        variants["packbits"] = np.packbits(images.reshape(-1)).tobytes()
    sizes, times = {}, {}
    for variant, raw in variants.items():
        t0 = time.perf_counter()
        data = compress(raw)
        times[variant] = time.perf_counter() - t0
        check_equal(f"{name} ({variant})", decompress(data), raw)
        sizes[variant] = 8 * len(data)
    best = min(sizes, key=sizes.get)
    return result(name, "stream", sizes[best], images.size, times[best], len(images),
                  variant=best, variants_bits=sizes)


def measure_per_image(spec: ImageCodecSpec, images: np.ndarray, binary: bool) -> dict:
    bits, seconds = 0, 0.0
    for i, img in enumerate(images):
        t0 = time.perf_counter()
        data, decode = spec.codec(img, binary)
        seconds += time.perf_counter() - t0
        check_equal(f"{spec.name} per-image #{i}", decode(data), img)
        bits += 8 * len(data)
    return result(spec.name, "per-image", bits, images.size, seconds, len(images))


def measure_mosaic(spec: ImageCodecSpec, images: np.ndarray, binary: bool) -> dict:
    n, h, w = images.shape
    mosaic = to_mosaic(images)
    t0 = time.perf_counter()
    data, decode = spec.codec(mosaic, binary)
    seconds = time.perf_counter() - t0
    check_equal(f"{spec.name} mosaic", from_mosaic(decode(data), n, h, w), images)
    rows, cols = mosaic_grid(n)
    return result(spec.name, "mosaic", 8 * len(data), images.size, seconds, n,
                  grid=f"{rows}x{cols} tiles, {mosaic.shape[0]}x{mosaic.shape[1]} px")


def measure(images: np.ndarray, binary: bool, limit_per_image: int | None = None,
            log: Callable[[str], None] | None = None, notes: list[str] | None = None) -> list[dict]:
    """Measure every available codec on ``images`` (uint8, (N, H, W), 0/1 if ``binary``).

    Stream and mosaic codecs always see all N images; per-image codecs see the first
    ``limit_per_image`` (None: all). Returns one dict per codec and mode, as in the JSON.
    Unavailable codecs are skipped, with a line appended to ``notes`` when given.
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if images.ndim != 3:
        raise ValueError(f"images must be (N, H, W), got shape {images.shape}")
    if binary and images.max(initial=0) > 1:
        raise ValueError("binary images must hold 0/1 values")
    notes = notes if notes is not None else []
    log = log or (lambda s: None)
    per_image = images[:limit_per_image] if limit_per_image else images
    results = []
    for name in STREAM_CODECS:
        r = measure_stream(name, images, binary)
        if r is None:
            notes.append(f"{name}: library not installed; skipped")
            continue
        log(f"{name}: {r['bits_per_dim']:.4f} bits/dim ({r['seconds']:.1f}s)")
        results.append(r)
    for spec in IMAGE_CODECS:
        if spec.binary_only and not binary:
            continue
        if not spec.available():
            notes.append(f"{spec.name}: {spec.missing}; skipped")
            continue
        for mode in spec.modes:
            r = (measure_per_image(spec, per_image, binary) if mode == "per-image"
                 else measure_mosaic(spec, images, binary))
            log(f"{spec.name} {mode}: {r['bits_per_dim']:.4f} bits/dim ({r['seconds']:.1f}s)")
            results.append(r)
    notes.extend(UNAVAILABLE_NOTES[binary])
    return results


def measure_bbcompress(images: np.ndarray, kind: Kind, model: str) -> list[dict]:
    """One archive of all images per encoder of ``model``; sizes are whole .bbc files."""
    checkpoint = resolve_model(model)
    entries = images_from_array(images, kind)
    results = []
    for encoder in checkpoint.encoders or [checkpoint.default_encoder]:  # a local model: "none"
        coded = verified_archive(entries, model, checkpoint, model_only(encoder=encoder))
        payload = coded.rate.total_bits
        results.append(result(f"bbcompress {model} ({encoder})", "archive", 8 * len(coded.data), images.size,
                              coded.roundtrip_s, len(images), payload_bits=payload,
                              grid=f"whole .bbc file, no classic fallback; its ANS payload alone {payload / images.size:.4f}; "
                                   f"seconds: compress and decompress"))
    return results


# ---------------------------------------------------------------------------
# Reporting


def markdown_table(report: dict) -> str:
    lines = [
        f"{report['images']:,} images, {report['pixels']:,} pixels "
        f"({'binary 0/1' if report['binary'] else 'greyscale 0..255'}). "
        f"bits/dim = compressed bits / pixels measured; seconds = encode wall time.",
        "",
        "| codec | mode | bits/dim | images measured | seconds | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in sorted(report["codecs"], key=lambda r: r["bits_per_dim"]):
        note = ""
        if "variant" in r and len(r.get("variants_bits", {})) > 1:
            other = {k: v / r["bits"] * r["bits_per_dim"] for k, v in r["variants_bits"].items()}
            note = f"best of bytes/packbits: {r['variant']} " + "(" + ", ".join(
                f"{k} {v:.4f}" for k, v in other.items()) + ")"
        elif "grid" in r:
            note = r["grid"]
        elif r["images_measured"] < report["images"]:
            note = f"first {r['images_measured']:,} of {report['images']:,} images"
        lines.append(f"| {r['name']} | {r['mode']} | {r['bits_per_dim']:.4f} | "
                     f"{r['images_measured']:,} | {r['seconds']:.2f} | {note} |")
    for note in report["notes"]:
        lines.append(f"\nNote: {note}")
    lines.append(f"\nTotal wall time: {report['seconds']:.1f} s.")
    return "\n".join(lines)


def shipped_model_for(name: str, kind: Kind) -> str | None:
    """The shipped default model when the data are what it was trained for."""
    model = DEFAULT_MODELS[kind]
    card = shipped_cards().get(model)
    return model if card and card.get("data") == name else None


def run_dataset(name: str, out: str, limit_per_image: int | None, models: list[str] | None = None) -> dict:
    ds = load_dataset(name)
    binary = ds.kind == Kind.BINARY
    images = ds.x_test
    n = len(images)
    limit = limit_per_image if limit_per_image is not None else (
        None if n <= DEFAULT_PER_IMAGE_CAP else DEFAULT_PER_IMAGE_CAP)
    if limit is not None and limit >= n:
        limit = None
    notes: list[str] = []
    if limit is not None:
        notes.append(f"per-image codecs measured on the first {limit:,} of {n:,} test images; "
                     f"stream and mosaic codecs on all {n:,}")
    print(f"== {name}: {n} test images, {ds.kind}", file=sys.stderr)
    t0 = time.perf_counter()
    codecs = measure(images, binary, limit,
                     log=lambda s: print(f"  {s}", file=sys.stderr, flush=True), notes=notes)
    models = models or [m for m in [shipped_model_for(name, ds.kind)] if m]
    for model in models:
        codecs.extend(measure_bbcompress(images, ds.kind, model))
    if not models:
        notes.append("bbcompress: no shipped model for these data (pass --model)")
    report = {"data": name, "binary": binary, "images": n, "pixels": int(images.size),
              "codecs": codecs, "notes": notes, "seconds": round(time.perf_counter() - t0, 1)}
    write_results(f"{out}-{name}", f"Classic lossless codecs on `{name}` test images",
                  markdown_table(report), report)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", action="append", metavar="NAME",
                   help=f"dataset (repeatable; default: {' and '.join(DEFAULT_DATA)})")
    p.add_argument("--out", default="codecs", metavar="PREFIX", help="results names: PREFIX-DATA")
    p.add_argument("--limit-per-image", type=int, default=None, metavar="N",
                   help=f"per-image codecs on the first N images only (default: all, or "
                        f"{DEFAULT_PER_IMAGE_CAP} for sets larger than that)")
    p.add_argument("--model", action="append",
                   help="bbcompress model for the data, repeatable (default: the shipped one, if any)")
    args = p.parse_args(argv)
    if args.limit_per_image is not None and args.limit_per_image <= 0:
        p.error("--limit-per-image must be positive")
    for name in args.data or DEFAULT_DATA:
        run_dataset(name, args.out, args.limit_per_image, args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
