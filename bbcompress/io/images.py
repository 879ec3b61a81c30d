"""Image files in and out, and the 28x28 tiling the models code.

Supported: 1-bit images (mode '1') and 8-bit greyscale (mode 'L'), from any format
Pillow reads losslessly (PNG, PBM, PGM, BMP, TIFF, ...). An 'L' image whose only
values are 0 and 255 is coded as binary and restored as 'L'. Images of any size are
cut into 28x28 tiles; the padding of the last tile row/column is masked and costs
no bits.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
from PIL import Image as PILImage, UnidentifiedImageError

from ..errors import ImageError
from ..kinds import Kind
from .names import LOSSLESS_FORMATS, restored_name

TILE_SIDE = 28
MAX_SIDE = 65535
MAX_PIXELS = 1 << 27  # per image and per archive section: bounds what a decoder allocates


@dataclass(frozen=True)
class Image:
    name: str  # relative path, '/'-separated, as stored in the archive
    mode: str  # the file's Pillow mode, restored on decompression: '1' or 'L'
    pixels: np.ndarray  # (H, W) uint8: 0/1 for binary images, 0..255 for greyscale
    kind: Kind  # which kind of model codes it


def pixels_for_coding(image: PILImage.Image, path: str | Path) -> tuple[str, np.ndarray, Kind]:
    """(mode, pixels, kind); pixels 0/1 for binary content, 0..255 otherwise."""
    if image.mode == "1":
        return "1", (np.asarray(image, dtype=np.uint8) > 0).astype(np.uint8), Kind.BINARY
    if image.mode == "L":
        values = np.asarray(image, dtype=np.uint8)
        if np.isin(values, (0, 255)).all():
            return "L", (values // 255).astype(np.uint8), Kind.BINARY
        return "L", values, Kind.GREYSCALE
    raise ImageError(f"{path}: mode {image.mode} is not supported: bbcompress codes 1-bit and "
                     f"8-bit greyscale images (convert colour or 16-bit images first)")


def read_image(path: str | Path, name: str | None = None) -> Image:
    """Read one file as an Image (binary or greyscale content)."""
    path = Path(path)
    if not path.is_file():  # a FIFO or device would block or never end
        raise ImageError(f"{path}: not a regular file")
    return decode_image(path, path, name or path.name)


def decode_image(source: Path | BinaryIO, label: str | Path, name: str) -> Image:
    """The image in ``source`` (a file, or bytes read from standard input) stored as
    ``name``; errors name it ``label``."""
    try:
        # Pillow's warnings (its 89 MP bomb threshold, corrupt metadata) are not printed:
        # the size is checked here before decoding, and a file is read whole or refused.
        with warnings.catch_warnings(action="ignore"), PILImage.open(source) as image:
            check_size(label, *image.size)
            if getattr(image, "n_frames", 1) > 1:
                raise ImageError(f"{label}: has {image.n_frames} frames; only single images are supported")
            if "transparency" in image.info:
                raise ImageError(f"{label}: has transparency, which bbcompress would not restore: "
                                 f"remove it (or flatten the image) first")
            image.load()
            mode, pixels, kind = pixels_for_coding(image, label)
    except UnidentifiedImageError:  # Pillow's words name the source: a path again, or a BytesIO
        raise ImageError(f"{label}: cannot read image (not in a format Pillow reads)") from None
    except (OSError, ValueError, TypeError, SyntaxError,
            PILImage.DecompressionBombError) as e:  # TypeError: a TIFF frame without dimensions
        raise ImageError(f"{label}: cannot read image ({e})") from None
    return Image(name, mode, pixels, kind)


def check_size(path: str | Path, width: int, height: int) -> None:
    """Refuse a size the archive cannot hold (from a file's header, before decoding it)."""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise ImageError(f"{path}: unsupported size {width}x{height} (at most {MAX_SIDE} pixels a side "
                         f"and {MAX_PIXELS:,} in all)")


def restored(image: Image) -> PILImage.Image:
    """The Pillow image to write back: same mode and pixel values as the original."""
    if image.mode == "1":
        return PILImage.fromarray(image.pixels.astype(bool))
    values = image.pixels * 255 if image.kind == Kind.BINARY else image.pixels
    return PILImage.fromarray(values.astype(np.uint8), mode="L")


def image_writer(image: Image):
    """Writes ``image`` to a file object in the lossless format its restored name says."""
    fmt = LOSSLESS_FORMATS[PurePosixPath(restored_name(image.name)).suffix.lower()]
    return lambda f: restored(image).save(f, format=fmt)


def png_bytes(image: Image) -> bytes:
    """``image`` as a PNG file, whatever its stored name says (``decompress -c``)."""
    buffer = io.BytesIO()
    restored(image).save(buffer, format="PNG")
    return buffer.getvalue()


def tile_count(height: int, width: int) -> int:
    return -(-height // TILE_SIDE) * -(-width // TILE_SIDE)


def to_tiles(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) -> (tiles (T, 784) uint8, mask (T, 784) bool), tiles in row-major order."""
    height, width = pixels.shape
    rows, cols = -(-height // TILE_SIDE), -(-width // TILE_SIDE)
    padded = np.zeros((rows * TILE_SIDE, cols * TILE_SIDE), dtype=np.uint8)
    mask = np.zeros_like(padded, dtype=bool)
    padded[:height, :width] = pixels
    mask[:height, :width] = True

    def cut(a):
        return a.reshape(rows, TILE_SIDE, cols, TILE_SIDE).swapaxes(1, 2).reshape(rows * cols, TILE_SIDE * TILE_SIDE)
    return cut(padded), cut(mask)


def from_tiles(tiles: np.ndarray, height: int, width: int) -> np.ndarray:
    rows, cols = -(-height // TILE_SIDE), -(-width // TILE_SIDE)
    full = tiles.reshape(rows, cols, TILE_SIDE, TILE_SIDE).swapaxes(1, 2).reshape(rows * TILE_SIDE, cols * TILE_SIDE)
    return np.ascontiguousarray(full[:height, :width])


def images_from_array(pixels: np.ndarray, kind: Kind, suffix: str = ".png",
                      mode: str | None = None) -> list[Image]:
    """Images (N, H, W) as named images ``00000.png`` ... (binary pixels 0/1)."""
    mode = mode or ("1" if kind == Kind.BINARY else "L")
    return [Image(f"{i:05d}{suffix}", mode, np.ascontiguousarray(p, dtype=np.uint8), Kind(kind))
            for i, p in enumerate(pixels)]
