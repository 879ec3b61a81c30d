"""Torch networks of any family from a configuration or a checkpoint, and back
(training only; the coder reads the checkpoint's arrays itself)."""
from __future__ import annotations

from torch import nn

from ..errors import BBCError
from .checkpoint import Checkpoint
from .config import VAEConfig
from .conv import ConvVAE
from .local import LocalModel, checkpoint_from_local, local_from_checkpoint
from .vae import VAE, checkpoint_from_vae, load_arrays, vae_from_checkpoint, with_weights


def build(config: VAEConfig, free_bits: float = 0.0) -> nn.Module:
    if config.family == "conv":
        return ConvVAE(config, free_bits)
    return VAE(config) if config.family == "mlp" else LocalModel(config)


def from_checkpoint(checkpoint: Checkpoint, encoder: str = "amortized") -> nn.Module:
    if checkpoint.config.family == "conv":
        return with_weights(ConvVAE(checkpoint.config), checkpoint, encoder)
    if checkpoint.config.family == "mlp":
        return vae_from_checkpoint(checkpoint, encoder)
    return local_from_checkpoint(checkpoint)


def to_checkpoint(model: nn.Module, info: dict, encoder_info: dict) -> Checkpoint:
    if isinstance(model, (VAE, ConvVAE)):
        return checkpoint_from_vae(model, info, encoder_info)
    return checkpoint_from_local(model, info)


def start_head_from(model: nn.Module, local: Checkpoint) -> None:
    """A conv VAE's head (and its learned maps) from a trained local-family model: the VAE
    starts at the head alone's rate, and its latent has only to add what the head lacks."""
    head = getattr(getattr(model, "decoder", None), "head", None)
    if head is None or local.config.family != "local":
        raise BBCError("a head can only start from a local-family model, for a conv VAE with a head")
    if (local.config.hidden, local.config.features, local.config.mixture, local.config.kind) != \
            (model.config.hidden, model.config.features, model.config.mixture, model.config.kind):
        raise BBCError(f"the local model's head (hidden {list(local.config.hidden)}, features "
                       f"{local.config.features}, mixture {local.config.mixture}) differs from this one")
    load_arrays(head, local.decoder)
