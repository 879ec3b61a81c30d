"""Torch networks of any family from a configuration or a checkpoint, and back
(training only; the coder reads the checkpoint's arrays itself)."""
from __future__ import annotations

from torch import nn

from .checkpoint import Checkpoint
from .config import VAEConfig
from .local import LocalModel, checkpoint_from_local, local_from_checkpoint
from .vae import VAE, checkpoint_from_vae, vae_from_checkpoint


def build(config: VAEConfig) -> nn.Module:
    return VAE(config) if config.family == "mlp" else LocalModel(config)


def from_checkpoint(checkpoint: Checkpoint, encoder: str = "amortized") -> nn.Module:
    if checkpoint.config.family == "mlp":
        return vae_from_checkpoint(checkpoint, encoder)
    return local_from_checkpoint(checkpoint)


def to_checkpoint(model: nn.Module, info: dict, encoder_info: dict) -> Checkpoint:
    if isinstance(model, VAE):
        return checkpoint_from_vae(model, info, encoder_info)
    return checkpoint_from_local(model, info)
