"""The coding of a checkpoint, whatever its family: bits-back over the MLP VAE, or the
local family's autoregressive codec (which has no latent, so no encoder, particles or
refinement to set)."""
from __future__ import annotations

from .checkpoint import Checkpoint
from .coding import VAECoding
from .conv_coding import ConvCoding
from .local_coding import LocalCoding

Coding = VAECoding | LocalCoding | ConvCoding


def coding_of(checkpoint: Checkpoint, encoder: str, latents: str = "buckets", latent_bits: int = 8,
              particles: int = 1, refine_steps: int = 0) -> Coding:
    if checkpoint.config.family == "local":
        return LocalCoding(checkpoint)
    if checkpoint.config.family == "conv":
        return ConvCoding(checkpoint, encoder, latents, latent_bits, particles, refine_steps)
    return VAECoding(checkpoint, encoder, latents, latent_bits, particles, refine_steps)
