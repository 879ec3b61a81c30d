"""Torch networks of any family from a configuration or a checkpoint, and back
(training only; the coder reads the checkpoint's arrays itself). Each family's torch
module does the work (see the registry in ``families/__init__.py``)."""
from __future__ import annotations

from torch import nn

from ..checkpoint import Checkpoint
from .config import ModelConfig


def build(config: ModelConfig, free_bits: float = 0.0) -> nn.Module:
    return config.spec.torch().build(config, free_bits)


def from_checkpoint(checkpoint: Checkpoint, encoder: str = "amortized") -> nn.Module:
    return checkpoint.config.spec.torch().from_checkpoint(checkpoint, encoder)


def to_checkpoint(model: nn.Module, info: dict, encoder_info: dict) -> Checkpoint:
    return model.config.spec.torch().to_checkpoint(model, info, encoder_info)
