"""The Python API: numpy arrays in, archive bytes out, and back.

    >>> import numpy as np, bbcompress
    >>> digit = np.zeros((28, 28), np.uint8); digit[8:20, 12:16] = 200
    >>> data = bbcompress.compress(digit)
    >>> [(name, np.array_equal(pixels, digit)) for name, pixels in bbcompress.decompress(data)]
    [('00000.png', True)]

An array of dtype ``bool`` is a 1-bit image and comes back as ``bool``; one of ``uint8``
is an 8-bit greyscale image and comes back as ``uint8`` with the same values (one whose
only values are 0 and 255 is coded by a binary model, as a file would be). Images are
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
from .io.images import Image
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
    if isinstance(images, np.ndarray):
        images = [images] if images.ndim == 2 else list(images)
    elif isinstance(images, Mapping):
        images = list(images.items())
    pairs = [item if isinstance(item, tuple) else (None, item) for item in images]
    return [(name if name is not None else f"{i:05d}.png", np.asarray(array)) for i, (name, array) in enumerate(pairs)]


def as_images(images: ImageInput) -> list[Image]:
    result = []
    for name, array in named_arrays(images):
        if array.ndim != 2 or array.size == 0:
            raise BBCError(f"{name}: an image is a non-empty 2-D array, not of shape {array.shape}")
        if array.dtype == bool:
            result.append(Image(name, "1", array.astype(np.uint8), Kind.BINARY))
        elif array.dtype == np.uint8:
            binary = bool(np.isin(array, (0, 255)).all())
            result.append(Image(name, "L", array // 255 if binary else array.copy(),
                                Kind.BINARY if binary else Kind.GREYSCALE))
        else:
            raise BBCError(f"{name}: arrays of dtype {array.dtype} are not images: give bool "
                           f"(1-bit) or uint8 (8-bit greyscale) pixels")
    return result


def as_array(image: Image) -> np.ndarray:
    """The pixels as given: bool for 1-bit images, uint8 (0/255 for binary content) else."""
    if image.mode == "1":
        return image.pixels.astype(bool)
    return image.pixels * np.uint8(255) if image.kind == Kind.BINARY else image.pixels
