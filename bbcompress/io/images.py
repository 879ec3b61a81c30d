"""Image files in and out, and the 28x28 tiling the models code.

Supported, from any format Pillow reads losslessly (PNG, PNM, BMP, TIFF, WebP, ...):
1-bit ('1'), 8-bit greyscale ('L'), grey with alpha ('LA'), colour ('RGB', 'RGBA'),
palette images ('P', 'PA': stored and restored as the RGB or RGBA image of their
colours, with a note) and 16-bit greyscale ('I;16', and 'I' holding 0..65535). Each is
coded as the simplest kind that holds it exactly and restored in its own mode: an alpha
channel that is all opaque is not stored, an RGB image whose channels are equal is coded
as greyscale, and an 'L' image whose only values are 0 and 255 as binary. Images of any
size are cut into 28x28 tiles for the models; the padding of the last tile row/column is
masked and costs no bits.
"""
from __future__ import annotations

import functools
import io
import warnings
from dataclasses import dataclass, field
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
# The file modes each kind is restored to (the coded channels widened: grey repeated
# into R, G and B, an opaque alpha added). Format versions before 5 hold only "1" and "L".
RESTORED_MODES = {Kind.BINARY: ("1", "L", "LA", "RGB", "RGBA"), Kind.GREYSCALE: ("L", "LA", "RGB", "RGBA"),
                  Kind.GREY_ALPHA: ("LA", "RGBA"), Kind.RGB: ("RGB", "RGBA"), Kind.RGBA: ("RGBA",),
                  Kind.GREY16: ("I;16", "I")}
EIGHT_BIT_MODES = ("L", "LA", "RGB", "RGBA")
SUPPORTED = "1-bit, greyscale, grey+alpha, RGB and RGBA (8 bits a channel) and 16-bit greyscale"


@dataclass(frozen=True)
class Image:
    name: str  # relative path, '/'-separated, as stored in the archive
    mode: str  # the file's Pillow mode, restored on decompression (RESTORED_MODES)
    pixels: np.ndarray  # (H, W) or (H, W, channels) as its kind says; binary pixels 0/1
    kind: Kind  # which kind of model or codec codes it
    note: str = field(default="", compare=False)  # what the reader changed, said to the user
    # a colour image coded as planes: the writer's choice of ``kinds.COLOUR_TRANSFORMS``
    colour_transform: int = field(default=0, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return self.pixels.shape[0], self.pixels.shape[1]


def pixels_for_coding(image: PILImage.Image, path: str | Path) -> tuple[str, np.ndarray, Kind, str]:
    """(mode restored, pixels, kind, note) of a loaded Pillow image."""
    if image.mode == "1":
        return "1", (np.asarray(image, dtype=np.uint8) > 0).astype(np.uint8), Kind.BINARY, ""
    if image.mode in ("P", "PA"):
        target = "RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB"
        mode, pixels, kind, _ = pixels_for_coding(image.convert(target), path)
        return mode, pixels, kind, f"a palette image: stored and restored as {mode}, with the same colours"
    if image.mode in ("I;16", "I"):
        values = np.asarray(image)
        if values.min() < 0 or values.max() > 0xFFFF:
            raise ImageError(f"{path}: 32-bit values outside 0..65535 are not supported")
        return image.mode, values.astype(Kind.GREY16.dtype), Kind.GREY16, ""
    if image.mode not in EIGHT_BIT_MODES:
        raise ImageError(f"{path}: mode {image.mode} is not supported: bbcompress codes {SUPPORTED} "
                         f"images (convert it to one of these first)")
    return (image.mode, *simplest_kind(np.asarray(image, dtype=np.uint8)), "")


def simplest_kind(values: np.ndarray) -> tuple[np.ndarray, Kind]:
    """The fewest channels that hold ``values`` (8-bit, (H, W) or (H, W, C)) exactly:
    an all-opaque alpha dropped, equal R, G and B as one grey, 0/255 grey as binary."""
    if values.ndim == 3 and values.shape[2] in (2, 4) and (values[..., -1] == 255).all():
        values = values[..., :-1]
    if values.ndim == 3 and values.shape[2] >= 3 and is_grey(values[..., :3]):
        values = np.concatenate([values[..., :1], values[..., 3:]], axis=2)
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[..., 0]
    if values.ndim == 2:
        if np.isin(values, (0, 255)).all():
            return (values // 255).astype(np.uint8), Kind.BINARY
        return np.ascontiguousarray(values), Kind.GREYSCALE
    kind = {2: Kind.GREY_ALPHA, 3: Kind.RGB, 4: Kind.RGBA}[values.shape[2]]
    return np.ascontiguousarray(values), kind


def is_grey(rgb: np.ndarray) -> bool:
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


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
            if "transparency" in image.info and image.mode not in ("P", "PA"):
                raise ImageError(f"{label}: has a transparent colour key, which bbcompress would not "
                                 f"restore: give it an alpha channel (RGBA or LA) or remove it first")
            if image.mode not in ("I;16", "I") and any(";16" in str(tile.args) for tile in image.tile):
                # Pillow reads 16-bit colour as 8 bits a channel: coding that would lose bits
                raise ImageError(f"{label}: 16-bit {image.mode} is not supported (only 16-bit greyscale "
                                 f"is); Pillow would read it as 8 bits a channel")
            image.load()
            mode, pixels, kind, note = pixels_for_coding(image, label)
    except UnidentifiedImageError:  # Pillow's words name the source: a path again, or a BytesIO
        raise ImageError(f"{label}: cannot read image (not in a format Pillow reads)") from None
    except (OSError, ValueError, TypeError, SyntaxError,
            PILImage.DecompressionBombError) as e:  # TypeError: a TIFF frame without dimensions
        raise ImageError(f"{label}: cannot read image ({e})") from None
    check_restorable(label, name, mode, kind)
    return Image(name, mode, pixels, kind, note)


def check_restorable(label: str | Path, name: str, mode: str, kind: Kind) -> None:
    """Refuse an image its restored file format cannot hold exactly (BMP and PNM drop an
    alpha channel): found now, not when decompressing."""
    fmt = restored_format(name)
    if not format_keeps(fmt, mode, kind):
        raise ImageError(f"{label}: {fmt} cannot restore a {mode} image exactly: convert it to PNG first")


def restored_format(name: str) -> str:
    return LOSSLESS_FORMATS[PurePosixPath(restored_name(name)).suffix.lower()]


@functools.cache
def format_keeps(fmt: str, mode: str, kind: Kind) -> bool:
    """Whether ``fmt`` writes a ``mode`` image and reads it back the same (a 2x2 probe)."""
    values = np.array([0, 1, 254, 255] if kind != Kind.GREY16 else [0, 1, 0x1234, 0xFFFF], kind.dtype)
    pixels = np.stack([np.roll(values, c) for c in range(kind.channels)], axis=-1).reshape(2, 2, -1)
    if kind == Kind.BINARY:
        pixels = pixels % 2
    probe = Image("probe", mode, pixels[..., 0] if kind.channels == 1 else pixels, kind)
    buffer = io.BytesIO()
    try:
        restored(probe).save(buffer, format=fmt)
        with PILImage.open(io.BytesIO(buffer.getvalue())) as back:
            return back.mode == mode and np.array_equal(np.asarray(back), file_pixels(probe))
    except (OSError, ValueError, KeyError):
        return False


def check_size(path: str | Path, width: int, height: int) -> None:
    """Refuse a size the archive cannot hold (from a file's header, before decoding it)."""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise ImageError(f"{path}: unsupported size {width}x{height} (at most {MAX_SIDE} pixels a side "
                         f"and {MAX_PIXELS:,} in all)")


def file_pixels(image: Image) -> np.ndarray:
    """The pixels of the file ``image`` restores: its coded channels widened to its mode
    (grey repeated as R, G and B; an opaque alpha added), bool for mode '1'."""
    if image.mode == "1":
        return image.pixels.astype(bool)
    values = image.pixels * np.uint8(255) if image.kind == Kind.BINARY else image.pixels
    if image.kind == Kind.GREY16:
        return values.astype(np.int32 if image.mode == "I" else np.uint16)
    channels = values[..., None] if values.ndim == 2 else values
    grey, alpha = channels[..., :1], channels[..., 1:] if image.kind == Kind.GREY_ALPHA else channels[..., 3:]
    colour = channels[..., :3] if image.kind in (Kind.RGB, Kind.RGBA) else np.repeat(grey, 3, axis=2)
    if image.mode.endswith("A") and alpha.shape[2] == 0:
        alpha = np.full_like(grey, 255)
    wanted = {"L": grey, "LA": np.concatenate([grey, alpha], axis=2), "RGB": colour,
              "RGBA": np.concatenate([colour, alpha], axis=2)}[image.mode]
    return np.ascontiguousarray(wanted[..., 0] if wanted.shape[2] == 1 else wanted, dtype=np.uint8)


def restored(image: Image) -> PILImage.Image:
    """The Pillow image to write back: same mode and pixel values as the original."""
    restored_image = PILImage.fromarray(file_pixels(image))
    if restored_image.mode != image.mode:  # an internal error: never write another mode
        raise ValueError(f"{image.name}: restored as {restored_image.mode}, not {image.mode}")
    return restored_image


def image_writer(image: Image):
    """Writes ``image`` to a file object in the lossless format its restored name says."""
    fmt = restored_format(image.name)
    return lambda f: restored(image).save(f, format=fmt)


def png_bytes(image: Image) -> bytes:
    """``image`` as a PNG file, whatever its stored name says (``decompress -c``)."""
    buffer = io.BytesIO()
    restored(image).save(buffer, format="PNG")
    return buffer.getvalue()


def tile_count(height: int, width: int, side: int = TILE_SIDE) -> int:
    return -(-height // side) * -(-width // side)


def to_tiles(pixels: np.ndarray, side: int = TILE_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) -> (tiles (T, side**2) uint8, mask (T, side**2) bool), tiles in row-major
    order; the padding of edge tiles is zero and outside the mask."""
    height, width = pixels.shape[:2]
    rows, cols = -(-height // side), -(-width // side)
    padded = np.zeros((rows * side, cols * side), dtype=np.uint8)
    mask = np.zeros_like(padded, dtype=bool)
    padded[:height, :width] = pixels
    mask[:height, :width] = True

    def cut(a):
        return a.reshape(rows, side, cols, side).swapaxes(1, 2).reshape(rows * cols, side * side)
    return cut(padded), cut(mask)


def from_tiles(tiles: np.ndarray, height: int, width: int, side: int = TILE_SIDE) -> np.ndarray:
    rows, cols = -(-height // side), -(-width // side)
    full = tiles.reshape(rows, cols, side, side).swapaxes(1, 2).reshape(rows * side, cols * side)
    return np.ascontiguousarray(full[:height, :width])


def images_from_array(pixels: np.ndarray, kind: Kind, suffix: str = ".png",
                      mode: str | None = None) -> list[Image]:
    """Images (N, H, W) as named images ``00000.png`` ... (binary pixels 0/1)."""
    mode = mode or ("1" if kind == Kind.BINARY else "L")
    return [Image(f"{i:05d}{suffix}", mode, np.ascontiguousarray(p, dtype=np.uint8), Kind(kind))
            for i, p in enumerate(pixels)]
