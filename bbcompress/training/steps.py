"""What training and refinement share: pixels as tensors, and a step that skips
non-finite losses or gradients."""
from __future__ import annotations

import numpy as np
import torch

from .distributed import all_finite


def as_pixels(x: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W) to a float tensor (N, H*W) of pixel values."""
    return torch.from_numpy(np.ascontiguousarray(x).reshape(len(x), -1).astype(np.float32))


def model_device(model: torch.nn.Module) -> torch.device:
    """Where a model's weights live (what its inputs must be moved to)."""
    return next(model.parameters()).device


def guarded_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> bool:
    """Backpropagate ``loss`` and step, unless the loss or a gradient is not finite.

    A greyscale decoder that over-fits becomes so sure of its training pixels that one
    minibatch can overflow a gradient; one such step turns every weight into NaN for
    good. Skipping it (and counting the skips) keeps the run going. Returns whether
    the step was taken."""
    optimizer.zero_grad(set_to_none=True)
    if not all_finite(loss):  # under torchrun: in every process, or no step anywhere
        return False
    loss.backward()
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not all(torch.isfinite(g).all() for g in grads):
        optimizer.zero_grad(set_to_none=True)
        return False
    optimizer.step()
    return True
