"""Rates of a VAE on a set of images: BPD from the ELBO and from the IWAE-K bound."""
from __future__ import annotations

import numpy as np
import torch

from .model import VAE, bits_per_dim

EVAL_SEED = 0


def as_pixels(x: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W) to a float tensor (N, H*W) of pixel values."""
    return torch.from_numpy(np.ascontiguousarray(x).reshape(len(x), -1).astype(np.float32))


@torch.no_grad()
def elbo_bpd(vae: VAE, images: np.ndarray, samples: int = 1, encoder=None,
             batch_size: int = 1000) -> float:
    """-ELBO in bits/dim, averaged over images and ``samples`` draws of z per image."""
    x = as_pixels(images)
    total = 0.0
    with torch.random.fork_rng():
        torch.manual_seed(EVAL_SEED)
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size]
            total += sum(vae.elbo(batch, encoder).sum().item() for _ in range(samples))
    return bits_per_dim(total / (len(x) * samples), vae.config.pixels)


@torch.no_grad()
def iwae_bpd(vae: VAE, images: np.ndarray, samples: int = 1000, encoder=None,
             batch_size: int | None = None) -> float:
    """-IWAE_K in bits/dim: an upper bound on -log p(x) that tightens as K grows."""
    x = as_pixels(images)
    batch_size = batch_size or max(1, 200_000 // samples)
    total = 0.0
    with torch.random.fork_rng():
        torch.manual_seed(EVAL_SEED)
        for start in range(0, len(x), batch_size):
            total += vae.iwae(x[start:start + batch_size], samples, encoder).sum().item()
    return bits_per_dim(total / len(x), vae.config.pixels)
