"""Photographs that installed Debian packages ship, as training and benchmark data.

``lomiri-wallpapers-16.04`` (15 photos, CC-BY/CC0) and ``mate-backgrounds``' nature set
(11) are JPEG sources: every use downsamples them by a factor of at least 2 with an area
filter, so that what is learned or measured is a photograph, not JPEG's 8x8 artefacts (a
finding of L3C's authors). A fixed quarter of them is held out for benchmarks and never
trained on. scikit-image's and scikit-learn's sample images are not used here at all:
they are reserved for an independent check.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError
from ..kinds import Kind, to_planes

SOURCES = (("lomiri-wallpapers-16.04", Path("/usr/share/backgrounds"), "*.jpg"),
           ("mate-backgrounds", Path("/usr/share/backgrounds/mate/nature"), "*.jpg"))
HELD_OUT_EVERY = 4  # sorted by name, every 4th photo is held out (index % 4 == 3)
MIN_FACTOR, MAX_FACTOR = 2.0, 4.0


def photo_paths() -> list[Path]:
    """Every source photo, sorted by name; DataError saying what to install if none."""
    paths = sorted((p for _, folder, pattern in SOURCES for p in folder.glob(pattern)), key=lambda p: p.name)
    if not paths:
        packages = " ".join(package for package, _, _ in SOURCES)
        raise DataError(f"no photographs found: apt-get install {packages}")
    return paths


def split() -> tuple[list[Path], list[Path]]:
    """(training photos, held-out photos)."""
    paths = photo_paths()
    held = [p for i, p in enumerate(paths) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    return [p for p in paths if p not in held], held


def seed_of(path: Path) -> int:
    return zlib.crc32(path.name.encode())


def downsampled(path: Path, factor: float | None = None) -> Image.Image:
    """The photo in RGB, shrunk by ``factor`` (default: one drawn in [2, 4) from its
    name, the same on every machine) with an area (box) filter."""
    if factor is None:
        factor = np.random.default_rng(seed_of(path)).uniform(MIN_FACTOR, MAX_FACTOR)
    if factor < MIN_FACTOR:
        raise ValueError(f"a factor of {factor} keeps JPEG artefacts: at least {MIN_FACTOR}")
    with Image.open(path) as photo:
        photo = photo.convert("RGB")
        size = (max(1, round(photo.width / factor)), max(1, round(photo.height / factor)))
        return photo.resize(size, Image.Resampling.BOX)


def centre_crop(image: Image.Image, width: int, height: int) -> Image.Image:
    left, top = max(0, (image.width - width) // 2), max(0, (image.height - height) // 2)
    return image.crop((left, top, min(image.width, left + width), min(image.height, top + height)))


def benchmark_photos(side: int = 1024) -> list[tuple[str, np.ndarray]]:
    """The held-out photos, downsampled and centre-cropped to at most ``side`` square:
    (name, RGB uint8 array) each."""
    return [(path.stem, np.asarray(centre_crop(downsampled(path), side, side)))
            for path in split()[1]]


def grey_tiles(images: list[np.ndarray], side: int) -> np.ndarray:
    """The whole ``side`` x ``side`` tiles of greyscale images, row-major per image."""
    tiles = []
    for pixels in images:
        rows, cols = pixels.shape[0] // side, pixels.shape[1] // side
        grid = pixels[:rows * side, :cols * side].reshape(rows, side, cols, side)
        tiles.append(grid.transpose(0, 2, 1, 3).reshape(rows * cols, side, side))
    return np.concatenate(tiles)


def load_photos(side: int, seed: int, planes: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The ``photos`` dataset in greyscale: (training tiles, shuffled with ``seed``; test
    tiles, from the held-out photos as the benchmark crops them). ``planes``: the tiles
    of each photo's colour planes instead (green, red less green, blue less green:
    ``kinds.to_planes``, what an archive codes a colour image as), a photo's three planes'
    tiles in turn."""
    def greys(rgb: np.ndarray) -> list[np.ndarray]:
        return to_planes(rgb, Kind.RGB) if planes else [np.asarray(Image.fromarray(rgb).convert("L"))]
    train = [grey for path in split()[0] for grey in greys(np.asarray(downsampled(path)))]
    test = [grey for _, rgb in benchmark_photos() for grey in greys(rgb)]
    x_train = grey_tiles(train, side)
    return x_train[np.random.default_rng(seed).permutation(len(x_train))], grey_tiles(test, side)
