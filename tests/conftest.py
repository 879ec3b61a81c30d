"""Shared fixtures: small seeded models that make the coder's tests fast. Plain helpers
live in helpers.py; test files import those, never this file."""
from __future__ import annotations

import pytest

from helpers import checkpoint_of, seeded_vae


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
