"""Rates of a VAE on a set of images: BPD from the ELBO and from the IWAE-K bound."""
from __future__ import annotations

import numpy as np
import torch

from ..codec.bits_back import CodingSettings
from ..errors import BBCError
from ..families.networks import from_checkpoint
from ..families.mlp import VAE, bits_per_dim, gaussian_kl
from .steps import as_pixels, model_device

EVAL_SEED = 0


@torch.no_grad()
def elbo_bpd(vae: VAE, images: np.ndarray, samples: int = 1, encoder=None,
             batch_size: int = 1000) -> float:
    """-ELBO in bits/dim, averaged over images and ``samples`` draws of z per image."""
    x = as_pixels(images)
    total, device = 0.0, model_device(vae)
    with torch.random.fork_rng():
        torch.manual_seed(EVAL_SEED)
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size].to(device)
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


@torch.no_grad()
def kl_bpd(vae, images: np.ndarray, encoder=None) -> float:
    """The mean analytic KL(q(z|x) || N(0, I)) in bits/dim: what the latent carries."""
    x = as_pixels(images)
    mean, log_std = (encoder or vae.encoder)(vae.scale_input(x))
    return bits_per_dim(-gaussian_kl(mean, log_std).sum(-1).mean(), vae.config.pixels)


def evaluate_checkpoint(checkpoint, dataset, split: str = "test", encoder: str = "amortized",
                        samples: int = 1, iwae_samples: int = 0) -> dict:
    """-ELBO (and -IWAE-K when ``iwae_samples``) in bits/dim of one encoder on a split."""
    if dataset.kind != checkpoint.config.kind:
        raise BBCError(f"{dataset.name} holds {dataset.kind} images; this checkpoint codes "
                       f"{checkpoint.config.kind} ones")
    vae = from_checkpoint(checkpoint, encoder).eval()
    images = dataset.split(split)
    result = {"data": dataset.name, "split": split, "images": len(images), "encoder": encoder,
              "elbo_bpd": elbo_bpd(vae, images, samples), "elbo_samples": samples}
    if checkpoint.config.has_latent:
        result["kl_bpd"] = kl_bpd(vae, images)
    if iwae_samples:
        result.update(iwae_bpd=iwae_bpd(vae, images, iwae_samples), iwae_samples=iwae_samples)
    return result


def level_bound_bpd(checkpoint, encoder: str, images: np.ndarray, level: int, seed: int = 0,
                    batch: int = 100) -> float:
    """The rate a compression level tends to, without coding: -log((1/N) sum_k w_k) in
    bits/dim, with the level's N particles drawn from its (refined) posterior and
    discretized latents, from the exact networks the coder runs."""
    x = images.reshape(len(images), -1)
    particles, steps = checkpoint.config.spec.level(level)
    coding = checkpoint.config.spec.coding(checkpoint, CodingSettings(encoder, particles=particles,
                                                                      refine_steps=steps))
    if not checkpoint.config.has_latent:  # every level codes at -log p(x), exactly
        return float(coding.exact_bits(x, np.ones(x.shape, dtype=bool)).sum() / x.size)
    rng, total = np.random.default_rng(seed), 0.0
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        mask = np.ones(chunk.shape, dtype=bool)
        mean, std = coding.encode(chunk, mask)
        z = mean[:, None, :] + std[:, None, :] * rng.standard_normal((len(chunk), particles, mean.shape[1]))
        log_w = coding.log_weights(chunk, mask, coding.latents.nearest(z))
        top = log_w.max(axis=1)
        total += float(np.sum(top + np.log(np.exp(log_w - top[:, None]).mean(axis=1))))
    return -total / (x.size * np.log(2))
