"""The checksums an archive section carries of its decoded images (format versions 1-5).

``pixel_sha256`` covers the pixels alone (every version); ``content_sha256`` (written
since 0.2) covers everything a restored file depends on, so no header field can change
it unnoticed. Both are computed the same way by the writer and by every reader.
"""
from __future__ import annotations

import hashlib

import numpy as np

from ..kinds import Kind
from .images import Image


def pixel_sha256(images: list[Image]) -> str:
    digest = hashlib.sha256()
    for image in images:
        digest.update(pixel_bytes(image))
    return digest.hexdigest()


def pixel_bytes(image: Image) -> bytes:
    """The pixels as their kind holds them: one byte a channel (two, little-endian, for
    16-bit greyscale), channels interleaved; for 1- and 8-bit greyscale the bytes every
    version has hashed."""
    return np.ascontiguousarray(image.pixels, dtype=image.kind.dtype).tobytes()


def content_sha256(kind: Kind, images: list[Image]) -> str:
    """The kind, and each image's name, mode, size and pixels."""
    digest = hashlib.sha256(f"{kind}\n".encode())
    for image in images:
        height, width = image.size
        digest.update(f"{len(image.name)}:{image.name}|{image.mode}|{width}x{height}|".encode())
        digest.update(pixel_bytes(image))
    return digest.hexdigest()
