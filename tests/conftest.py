"""Shared fixtures: small seeded models that make the coder's tests fast."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bbcompress.model.checkpoint import Checkpoint
from bbcompress.model.config import VAEConfig
from bbcompress.model.vae import VAE, checkpoint_from_vae


def seeded_vae(likelihood: str, hidden=(64, 64), latent: int = 4, seed: int = 0,
               pixel_floor: float = 0.0) -> VAE:
    """Weights drawn with numpy, so they do not depend on torch's initializer."""
    vae = VAE(VAEConfig(likelihood, 784, hidden, latent, pixel_floor=pixel_floor))
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in vae.parameters():
            fan_in = p.shape[-1] if p.ndim == 2 else 64
            p.copy_(torch.from_numpy(rng.normal(0, 1 / np.sqrt(fan_in), p.shape)).float())
    return vae.eval()


def checkpoint_of(vae: VAE, data: str) -> Checkpoint:
    return checkpoint_from_vae(vae, {"data": data, "epoch": 0},
                               {"method": "amortized", "data": data, "epochs": 0})


@pytest.fixture(scope="session")
def binary_vae() -> VAE:
    return seeded_vae("bernoulli")


@pytest.fixture(scope="session")
def greyscale_vae() -> VAE:
    return seeded_vae("logistic256", seed=1)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, binary_vae, greyscale_vae) -> dict[str, str]:
    """Checkpoint paths of the two small models, by image kind."""
    folder = tmp_path_factory.mktemp("models")
    checkpoint_of(binary_vae, "mnist10k-binary").save(folder / "tiny-binary")
    checkpoint_of(greyscale_vae, "mnist10k").save(folder / "tiny-greyscale")
    return {"binary": str(folder / "tiny-binary"), "greyscale": str(folder / "tiny-greyscale")}
