"""Classic lossless codecs for images no model codes well (photos, scans, noise, flat
images) and for the kinds no model codes (alpha, 16-bit; colour without a whole-image
greyscale model): PNG and lossless WebP
through Pillow, lossless JPEG-XL through imagecodecs (libjxl), and raw pixels (packed
bits for binary images) as the floor no image is ever coded above.

Each codec maps an image's pixels (as its kind holds them: 0/1 for binary) to bytes and
back exactly; ``best_encoding`` picks the smallest.
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings

import numpy as np
from PIL import Image as PILImage

from ..kinds import Kind
from .images import is_grey

# jxl1: a 1-bit JPEG-XL codestream (binary); jxl1b: a large binary image as 1-bit
# JPEG-XL blocks (``jxl_blocks``). Append only: one-image headers (format 8) store a
# codec as its index here.
CODECS = ("raw", "png", "webp", "jxl", "g4", "jxl1", "jxl1b")
NEW_CODECS = {"jxl": 5, "g4": 5, "jxl1": 7, "jxl1b": 9}  # the format version whose readers first know a codec
PILLOW_FORMATS = {"png": "PNG", "webp": "WEBP", "g4": "TIFF"}  # g4: CCITT Group 4 in a TIFF
CODEC_MAX_SIDE = {"webp": 16383}  # raw and PNG store any side the archive allows
WEBP_KINDS = (Kind.BINARY, Kind.GREYSCALE, Kind.GREY_ALPHA, Kind.RGB, Kind.RGBA)  # 8 bits a channel
# libjxl's effort by compress --level: 1-3 fast, 4-6 libjxl's default, 7-9 its best. On
# a held-out photo (Wood, 835x626) effort 5/7/9 gave 148,757/144,171/141,387 bytes grey
# at 0.6/1.0/4.8 s per MP on one core, and 471,850/456,418/449,710 colour at
# 2.5/5.6/22 s; a 150 dpi page 8,243/8,179/8,142 at 1.1/1.1/3.0 s (effort 3 drops the
# glyph patches: 31,908).
JXL_EFFORT = 7
JXL_EFFORT_OF_LEVEL = {1: 5, 2: 5, 3: 5, 4: 7, 5: 7, 6: 7, 7: 9, 8: 9, 9: 9}
# Binary images go to JPEG-XL as 1 bit a sample (jxl1): 1.4% under 0/255 grey at effort 7
# on 12 pages of two manuals. At effort 9 and below libjxl 0.11 codes a large image in
# streaming mode, which finds no glyph patches: 300 dpi pages (8.4 MP) took 0.0272 bits
# a pixel at effort 7, 0.0112 at effort 10 (2.4x smaller; Debian's cjxl 0.7 at effort 9:
# 0.0107), at 0.27 against 3.5 s per MP on two loaded cores. So the levels that take
# effort 9 take 10 for binary images.
BINARY_TOP_EFFORT = 10
# Streaming mode starts above 2048 pixels a side: a 300 dpi page (2541x3288) took 44,317
# bytes at effort 7, its top-left 2048x2048 alone 8,514 and with one row and column more
# 26,493. So below effort 10 a binary image larger than that is also tried as an even
# grid of blocks of at most JXL1B_BLOCK a side, each coded alone (jxl1b): six 300 dpi pages
# took 74,192 bytes against 182,411 whole (a 2x2 grid; cjxl 0.7 at effort 9, whole:
# 53,975 in benchmarks/results/pages.json), in 36 s against 11 (one machine, loaded).
# Photos gain nothing from it (two of 2560x1600 and 1920x1200: +0.9% and +0%), so only
# binary images are tried.
JXL1B_BLOCK = 2048  # fixed by the format (docs/format.md): every jxl1b blob's grid depends on it
BLOCK_LENGTH = 4  # bytes of each block's length, before the blocks


def jxl_blocks(height: int, width: int) -> list[tuple[slice, slice]]:
    """The blocks of a jxl1b image, row-major: an even grid of at most JXL1B_BLOCK a side."""
    rows, columns = -(-height // JXL1B_BLOCK), -(-width // JXL1B_BLOCK)
    tall, wide = -(-height // rows), -(-width // columns)
    return [(slice(top, min(top + tall, height)), slice(left, min(left + wide, width)))
            for top in range(0, height, tall) for left in range(0, width, wide)]


def holds(codec: str, height: int, width: int, kind: Kind = Kind.GREYSCALE) -> bool:
    """Whether ``codec`` can store an image of this size and kind."""
    limit = CODEC_MAX_SIDE.get(codec)
    return ((limit is None or max(height, width) <= limit) and (codec != "webp" or kind in WEBP_KINDS)
            and (codec not in ("g4", "jxl1", "jxl1b") or kind == Kind.BINARY)
            and (codec != "jxl1b" or max(height, width) > JXL1B_BLOCK))


def as_file_image(pixels: np.ndarray, kind: Kind, codec: str) -> PILImage.Image:
    if kind == Kind.BINARY and codec in ("png", "g4"):
        return PILImage.fromarray(pixels.astype(bool))  # 1-bit PNG
    if kind == Kind.GREY_ALPHA and codec == "webp":  # WebP holds RGBA, not LA
        return PILImage.fromarray(np.ascontiguousarray(pixels[..., [0, 0, 0, 1]]))
    return PILImage.fromarray(np.ascontiguousarray(pixels * np.uint8(255) if kind == Kind.BINARY else pixels,
                                                   dtype=kind.dtype))


# PNG as Pillow writes it with optimize=True, and the same with zlib's RLE strategy
# (compress_type 3), the smaller kept: never above optimize=True's PNG, and on photos,
# numpy-made images and the sample digits 1,883 bytes (0.43%) under level 9 alone (the
# setting before) for 1.25-1.65x its encoding time (three runs on a shared machine);
# level 9 as a third setting saved 65 bytes more for 1.6-1.8x that
# (benchmarks/results/fallback-png.md).
PNG_SETTINGS = ({"optimize": True}, {"optimize": True, "compress_type": 3})


def encode(codec: str, pixels: np.ndarray, kind: Kind, effort: int = JXL_EFFORT) -> bytes:
    """``pixels`` as a blob of ``codec`` (``effort``: JPEG-XL's)."""
    if not holds(codec, pixels.shape[0], pixels.shape[1], kind):
        raise ValueError(f"{codec} cannot store a {pixels.shape[1]}x{pixels.shape[0]} {kind} image")
    if codec in ("jxl", "jxl1"):
        return jxl_encode(pixels, kind, effort, one_bit=codec == "jxl1")
    if codec == "jxl1b":
        blocks = [jxl_encode(pixels[rows, columns], kind, effort, one_bit=True)
                  for rows, columns in jxl_blocks(*pixels.shape[:2])]
        return b"".join(len(block).to_bytes(BLOCK_LENGTH, "little") for block in blocks) + b"".join(blocks)
    if codec == "raw":
        return (np.packbits(pixels.astype(bool)) if kind == Kind.BINARY else pixels.astype(kind.dtype)).tobytes()
    image = as_file_image(pixels, kind, codec)
    if codec == "png":
        return min((saved(image, "PNG", **settings) for settings in PNG_SETTINGS), key=len)
    if codec == "g4":  # fax coding: on 300 dpi pages 14% under WebP (benchmarks/results/pages.md)
        return saved(image, "TIFF", compression="group4")
    if codec == "webp":  # method 4: 18x faster than 6 on 28x28 digits, 1% larger
        alpha = {"exact": True} if image.mode == "RGBA" else {}  # keep the colour under alpha 0
        return saved(image, "WEBP", lossless=True, method=4, **alpha)
    raise ValueError(f"unknown classic codec {codec!r}")


def jxl():
    """imagecodecs' JPEG-XL functions, imported on first use (most images never need it)."""
    import imagecodecs
    if not imagecodecs.JPEGXL.available:
        raise ImportError("imagecodecs was built without JPEG-XL")
    return imagecodecs


def jxl_available() -> bool:
    try:
        jxl()
    except ImportError:
        return False
    return True


def jxl_encode(pixels: np.ndarray, kind: Kind, effort: int = JXL_EFFORT, one_bit: bool = False) -> bytes:
    """``one_bit``: binary pixels as 1 bit a sample (jxl1), else binary as 0/255 grey."""
    if one_bit:
        values, depth = pixels.astype(np.uint8), {"bitspersample": 1}
    else:
        values, depth = (pixels * np.uint8(255) if kind == Kind.BINARY
                         else pixels.astype(kind.dtype.newbyteorder("="))), {}
    # every core this process may use: a large image alone in an archive is the slow
    # case (a flat 50 MP RGB image took 65 s on one core at effort 7)
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return bytes(jxl().jpegxl_encode(np.ascontiguousarray(values), lossless=True, effort=effort,
                                     numthreads=threads, **depth))


def jxl_decode(data: bytes, kind: Kind, width: int, height: int, one_bit: bool = False) -> np.ndarray:
    """Decoded into an array of the header's size: libjxl refuses a blob of another size
    before decoding it, so a blob never allocates more than its archive declares."""
    try:
        codecs = jxl()
    except ImportError as e:
        raise ValueError(f"a JPEG-XL image, and no JPEG-XL decoder here ({e}): pip install imagecodecs") from None
    channels = kind.channels
    out = np.empty((height, width) if channels == 1 else (height, width, channels), kind.dtype.newbyteorder("="))
    try:
        codecs.jpegxl_decode(data, out=out, numthreads=1)
    except (codecs.JpegxlError, ValueError, TypeError, RuntimeError) as e:  # RuntimeError: junk codestreams
        raise ValueError(f"a jxl image that does not decode to {width}x{height} {kind} ({e})") from None
    if one_bit:  # decoded as 0/1 already
        if out.max(initial=0) > 1:
            raise ValueError("a 1-bit jxl image with grey levels")
        return out
    return as_coded(out, kind)


def jxl_blocks_decode(data: bytes, kind: Kind, width: int, height: int) -> np.ndarray:
    """A jxl1b blob: its blocks' lengths, then each block's 1-bit codestream."""
    if not holds("jxl1b", height, width, kind):
        raise ValueError(f"a jxl1b image of {width}x{height}, which is coded whole")
    blocks = jxl_blocks(height, width)
    starts = BLOCK_LENGTH * len(blocks)
    lengths = [int.from_bytes(data[i:i + BLOCK_LENGTH], "little") for i in range(0, starts, BLOCK_LENGTH)]
    if len(data) < starts or starts + sum(lengths) != len(data):
        raise ValueError("jxl1b blocks whose lengths do not add up to the blob")
    out = np.empty((height, width), np.uint8)
    for (rows, columns), length in zip(blocks, lengths):
        out[rows, columns] = jxl_decode(data[starts:starts + length], kind, columns.stop - columns.start,
                                        rows.stop - rows.start, one_bit=True)
        starts += length
    return out


def as_coded(values: np.ndarray, kind: Kind) -> np.ndarray:
    """A decoded file's values as its kind codes them: binary 0/255 as 0/1."""
    if kind == Kind.BINARY:
        if not np.isin(values, (0, 255)).all():
            raise ValueError("a binary image with grey levels")
        return values // 255
    return values


def saved(image: PILImage.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


@contextlib.contextmanager
def pillow_pixel_limit(pixels: int):
    """Pillow's decompression-bomb limit set to ``pixels`` while it runs, every excess an
    error: a blob is decoded under the bounds of its archive's header (checked against
    MAX_PIXELS), never Pillow's own (89 MP, which refused images the archive allows).
    Pillow's limit is a global: decoding jobs run in processes, not threads."""
    previous = PILImage.MAX_IMAGE_PIXELS
    PILImage.MAX_IMAGE_PIXELS = pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            yield
    finally:
        PILImage.MAX_IMAGE_PIXELS = previous


def decode(codec: str, data: bytes, kind: Kind, width: int, height: int) -> np.ndarray:
    """The pixels of ``data``; ValueError if they are not a ``width`` x ``height`` image."""
    if codec == "raw":
        return raw_pixels(data, kind, width, height)
    if codec in ("jxl", "jxl1", "jxl1b"):
        if codec != "jxl" and kind != Kind.BINARY:
            raise ValueError(f"a 1-bit jxl image in a {kind} section")
        if codec == "jxl1b":
            return jxl_blocks_decode(data, kind, width, height)
        return jxl_decode(data, kind, width, height, one_bit=codec == "jxl1")
    if codec not in CODECS:
        raise ValueError(f"unknown classic codec {codec!r}")
    try:
        with pillow_pixel_limit(width * height), PILImage.open(io.BytesIO(data), formats=[PILLOW_FORMATS[codec]]) as image:
            if image.size != (width, height) or getattr(image, "n_frames", 1) != 1:
                raise ValueError(f"a {codec} image of size {image.size} or several frames, not one "
                                 f"{width}x{height} image")
            values = file_values(image, kind, codec)
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as e:
        raise ValueError(f"a {codec} image larger than {width}x{height} ({e})") from None
    return as_coded(values, kind)


def raw_pixels(data: bytes, kind: Kind, width: int, height: int) -> np.ndarray:
    count = width * height
    if kind == Kind.BINARY:
        bits = np.unpackbits(np.frombuffer(data, np.uint8))
        if len(data) != -(-count // 8) or bits[count:].any():
            raise ValueError("raw binary pixels of the wrong length")
        return bits[:count].reshape(height, width)
    if len(data) != count * kind.channels * kind.dtype.itemsize:
        raise ValueError("raw pixels of the wrong length")
    shape = (height, width) if kind.channels == 1 else (height, width, kind.channels)
    return np.frombuffer(data, kind.dtype).reshape(shape).astype(kind.dtype.newbyteorder("="))


def file_values(image: PILImage.Image, kind: Kind, codec: str) -> np.ndarray:
    """A decoded blob's pixels in its kind's layout (binary as 0/255); ValueError where
    the file holds anything else."""
    if kind in (Kind.BINARY, Kind.GREYSCALE):  # as every version has decoded them (WebP gives RGB)
        if image.mode not in ("1", "L") and not is_grey_file(np.asarray(image.convert("RGBA"))):
            raise ValueError(f"a {codec} image of colours in a {kind} section")
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if codec == "webp":
        values = np.asarray(image.convert("RGBA" if kind != Kind.RGB else "RGB"), dtype=np.uint8)
        if kind == Kind.GREY_ALPHA:
            if not is_grey(values[..., :3]):
                raise ValueError("a grey+alpha image with colours")
            values = values[..., [0, 3]]
        return np.ascontiguousarray(values)
    if image.mode != kind.pillow_mode:
        raise ValueError(f"a {codec} image of mode {image.mode}, not {kind.pillow_mode}")
    return np.asarray(image).astype(kind.dtype.newbyteorder("="))


def is_grey_file(rgba: np.ndarray) -> bool:
    """Equal R, G and B and an opaque alpha: a grey image WebP gave back as colour."""
    return is_grey(rgba[..., :3]) and bool((rgba[..., 3] == 255).all())


# From this many pixels (256x256) WebP and JPEG-XL are always tried: on a rendered page
# JPEG-XL is a third of PNG, far under twice a model's estimate, and for an image this
# large its encoding takes little beside a model's.
ALWAYS_TRY_PIXELS = 1 << 16


# JPEG-XL is skipped where another codec already stores the image in under 1/512 of its
# raw size (nearly flat): it could save no more than that, and libjxl is slow on large
# images (a flat 50 MP RGB image: 45-65 s at effort 7, where WebP took 1.7 s for 1,972 B).
NEARLY_FLAT = 512


def best_encoding(pixels: np.ndarray, kind: Kind, to_beat_bits: float = np.inf,
                  effort: int = JXL_EFFORT) -> tuple[str, bytes]:
    """(codec, bytes) of the smallest classic encoding. For images under ALWAYS_TRY_PIXELS,
    WebP and JPEG-XL (the slowest: ~3,000 digits/s for WebP) are tried only when PNG
    comes within 2x of ``to_beat_bits`` (a model's estimate for the image): where PNG is
    worse than that, the model costs at most half of PNG, which on digits neither beats.
    A codec that cannot hold the image (WebP: sides over 16,383, 16-bit) or is not
    installed (JPEG-XL without imagecodecs) is skipped."""
    found = [(codec, encode(codec, pixels, kind)) for codec in ("raw", "png")]
    height, width = pixels.shape[:2]
    if 8 * len(found[1][1]) < 2 * to_beat_bits or height * width >= ALWAYS_TRY_PIXELS:
        found += [(codec, encode(codec, pixels, kind)) for codec in ("webp", "g4") if holds(codec, height, width, kind)]
        if min(len(data) for _, data in found) * NEARLY_FLAT > len(found[0][1]) and jxl_available():
            if kind == Kind.BINARY:
                one_bit_effort = BINARY_TOP_EFFORT if effort >= 9 else effort
                found.append(("jxl1", encode("jxl1", pixels, kind, one_bit_effort)))
                if one_bit_effort < BINARY_TOP_EFFORT and holds("jxl1b", height, width, kind):  # it streams
                    found.append(("jxl1b", encode("jxl1b", pixels, kind, one_bit_effort)))
            else:
                found.append(("jxl", encode("jxl", pixels, kind, effort)))
    return min(found, key=lambda c: len(c[1]))
