"""Shared fixtures: small seeded models that make the coder's tests fast. Plain helpers
live in helpers.py; test files import those, never this file."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

# The suite trains on the CPU even where torch sees a GPU (train --device defaults to auto).
os.environ["BBCOMPRESS_TRAIN_DEVICE"] = "cpu"

from helpers import (MODEL_ONLY, Base, binary_pixels, checkpoint_of, grey_pixels, run_compress, seeded_vae,
                     unpack_archive)


@pytest.fixture(scope="session")
def binary_vae():
    return seeded_vae("bernoulli")


@pytest.fixture(scope="session")
def greyscale_vae():
    return seeded_vae("logistic256", seed=1)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, binary_vae, greyscale_vae) -> dict[str, str]:
    """Checkpoint paths of the two small models, by image kind."""
    folder = tmp_path_factory.mktemp("models")
    checkpoint_of(binary_vae, "mnist10k-binary").save(folder / "tiny-binary")
    checkpoint_of(greyscale_vae, "mnist10k").save(folder / "tiny-greyscale")
    return {"binary": str(folder / "tiny-binary"), "greyscale": str(folder / "tiny-greyscale")}


@pytest.fixture(scope="module")
def base(tmp_path_factory, tiny_models) -> Base:
    folder = tmp_path_factory.mktemp("base")
    Image.fromarray(binary_pixels(28, 28, 0)).save(folder / "b0.pbm")  # mode 1
    Image.fromarray((binary_pixels(20, 35, 1) * 255).astype(np.uint8)).save(folder / "b1.png")  # L 0/255
    Image.fromarray(grey_pixels(28, 28, 2)).save(folder / "g0.png")
    Image.fromarray(grey_pixels(10, 40, 3)).save(folder / "g1.png")
    files = [folder / n for n in ("b0.pbm", "b1.png", "g0.png", "g1.png")]
    archive = folder / "base.bbc"
    result = run_compress(files, archive, tiny_models, *MODEL_ONLY)
    assert result.exit_code == 0, result.output
    data = archive.read_bytes()
    header, payload = unpack_archive(data)
    assert [s["kind"] for s in header["sections"]] == ["binary", "greyscale"]
    assert all("coder" in s for s in header["sections"]), "not model-coded sections"
    return Base(data, header, payload, {f.name: f for f in files})
