"""The Python API: numpy arrays in, archive bytes out, and back.

    >>> import numpy as np, bbcompress
    >>> digit = np.zeros((28, 28), np.uint8); digit[8:20, 12:16] = 200
    >>> data = bbcompress.compress(digit)
    >>> [(name, np.array_equal(pixels, digit)) for name, pixels in bbcompress.decompress(data)]
    [('00000.png', True)]

An array of dtype ``bool`` is a 1-bit image and comes back as ``bool``; one of ``uint8``
is an 8-bit greyscale image, (H, W, 2) grey+alpha, (H, W, 3) RGB or (H, W, 4) RGBA, and
comes back as ``uint8`` with the same values and shape; ``uint16`` (H, W) is 16-bit
greyscale. Each is coded as a file of its mode would be (greyscale whose only values are
0 and 255 by a binary model; colour by the classic codecs). A 3-D array is a stack of
(H, W) images: give a colour image in a list, or a stack of them as a 4-D array. Images are
named ``00000.png``, ``00001.png``, ... unless given as ``(name, array)`` pairs or a
dict; a name is what ``bbcompress decompress`` would write the image as.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from . import api
from .errors import BBCError
from .io.archive import Archive
from .io.images import Image, file_pixels, simplest_kind
from .kinds import Kind

ImageInput = np.ndarray | Iterable[np.ndarray] | Iterable[tuple[str, np.ndarray]] | Mapping[str, np.ndarray]


def compress(images: ImageInput, *, level: int = api.DEFAULT_LEVEL, model: str | Iterable[str] = (),
             fallback: bool = True, embed_model: bool = False, threads: int = 1) -> bytes:
    """A .bbc archive (bytes) of ``images``: one 2-D array, a 3-D array (one image per
    first index), arrays, ``(name, array)`` pairs or a dict of them.

    ``level`` 1 (fastest) .. 9 (smallest); ``model``: shipped model names or checkpoint
    paths (one per image kind) instead of the defaults; ``fallback``: let a classic codec
    store an image it stores smaller; ``threads``: chains coded side by side (the bytes
    depend on it; any number decodes them)."""
    options = api.CodingOptions(level=level, fallback=fallback, embed_models=embed_model,
                                threads=max(1, threads))
    models = api.ModelSet([model] if isinstance(model, str) else list(model))
    return api.compress_images(as_images(images), models, options).to_bytes()


def decompress(data: bytes, *, model: str | Iterable[str] = (), threads: int = 1) -> list[tuple[str, np.ndarray]]:
    """Every image of an archive as ``(name, array)``, decoded and verified."""
    return open(data, model=model).read(threads=threads)


def info(source: bytes | str | Path) -> dict:
    """What an archive (bytes or a path) holds, without decoding: its size, image count
    and per section the model, images and bits/dim, with each image's name and size."""
    return open(source).info()


def open(source: bytes | str | Path, *, model: str | Iterable[str] = ()) -> "ArchiveReader":  # noqa: A001
    """An archive from bytes or a file (``-`` is standard input), checked but not decoded."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return ArchiveReader(api.parse(bytes(source)), model)
    return ArchiveReader(api.read_archive(str(source)), model)


class ArchiveReader:
    """An archive's contents: ``names``, ``info()`` without decoding, ``read()`` decoding."""

    def __init__(self, archive: Archive, model: str | Iterable[str] = ()):
        self.archive = archive
        self.models = [model] if isinstance(model, str) else list(model)

    @property
    def names(self) -> list[str]:
        return [entry.name for section in self.archive.sections for entry in section.images]

    def info(self) -> dict:
        size = self.archive.stored_bytes  # what parse read: the file's size, stdin's too
        return {"bytes": size, "images": self.archive.image_count,
                "bits_per_dim": api.file_bits_per_dim(self.archive, size),
                "sections": api.archive_info(self.archive),
                "embedded_models": [{"name": m.name, "bytes": len(m.weights)} for m in self.archive.models]}

    def read(self, threads: int = 1) -> list[tuple[str, np.ndarray]]:
        images = api.decompress_archive(self.archive, api.ModelSet(self.models), threads=max(1, threads))
        return [(image.name, as_array(image)) for image in images]

    def __enter__(self) -> "ArchiveReader":
        return self

    def __exit__(self, *exc) -> None:
        return None


def named_arrays(images: ImageInput) -> list[tuple[str, np.ndarray]]:
    if isinstance(images, np.ndarray):  # one (H, W) image, or a stack of them or of (H, W, C)
        images = [images] if images.ndim == 2 else list(images)
    elif isinstance(images, Mapping):
        images = list(images.items())
    pairs = [item if isinstance(item, tuple) else (None, item) for item in images]
    return [(name if name is not None else f"{i:05d}.png", np.asarray(array)) for i, (name, array) in enumerate(pairs)]


def as_images(images: ImageInput) -> list[Image]:
    return [array_image(name, array) for name, array in named_arrays(images)]


MODE_OF_CHANNELS = {2: "LA", 3: "RGB", 4: "RGBA"}


def array_image(name: str, array: np.ndarray) -> Image:
    """One array as the image a file of its mode would be."""
    if array.size == 0 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in MODE_OF_CHANNELS)):
        raise BBCError(f"{name}: an image is a non-empty (H, W) array, or (H, W, 2|3|4) for grey+alpha, "
                       f"RGB and RGBA, not of shape {array.shape}")
    if array.dtype == bool and array.ndim == 2:
        return Image(name, "1", array.astype(np.uint8), Kind.BINARY)
    if array.dtype == np.uint16 and array.ndim == 2:
        return Image(name, "I;16", array.astype(Kind.GREY16.dtype), Kind.GREY16)
    if array.dtype == np.uint8:
        return Image(name, MODE_OF_CHANNELS.get(array.shape[-1], "L") if array.ndim == 3 else "L",
                     *simplest_kind(array))
    raise BBCError(f"{name}: arrays of dtype {array.dtype} and shape {array.shape} are not images: give "
                   f"bool (1-bit) or uint16 (16-bit grey) (H, W) arrays, or uint8 (H, W) or (H, W, 2|3|4)")


def as_array(image: Image) -> np.ndarray:
    """The pixels as given: bool for 1-bit images, uint8 (0/255 for binary content) for
    8-bit ones, uint16 for 16-bit greyscale, channels last."""
    return file_pixels(image)
