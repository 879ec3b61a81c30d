"""Data-parallel training under ``torchrun`` (torch.distributed, the gloo backend: CPUs).

    torchrun --nproc_per_node 2 -m bbcompress train --data mnist10k -o runs/x ...

Every process holds the whole model and draws the same shuffled order of the training
set; each takes its share of every minibatch (the minibatch size stays the global
one, so the learning rate means the same), and DistributedDataParallel averages the
gradients. Process 0 alone evaluates, writes checkpoints and reports. Without torchrun
(no WORLD_SIZE in the environment) nothing here does anything.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def world() -> tuple[int, int]:
    """(rank, world size), joining the process group the first time under torchrun."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return dist.get_rank(), size


def is_leader() -> bool:
    return world()[0] == 0


def barrier() -> None:
    if world()[1] > 1:
        dist.barrier()


def share(batch: torch.Tensor) -> torch.Tensor:
    """This process's share of a global minibatch."""
    rank, size = world()
    return batch[rank::size]


def all_finite(loss: torch.Tensor) -> bool:
    """Whether the loss is finite in every process: all skip a step, or none does (a
    process that skipped alone would leave the others waiting for its gradients)."""
    finite = torch.tensor(float(torch.isfinite(loss)))
    if world()[1] > 1:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return bool(finite.item())


def data_parallel(model: torch.nn.Module) -> torch.nn.Module:
    """The model to call in training steps: wrapped for gradient averaging under torchrun."""
    return DistributedDataParallel(model) if world()[1] > 1 else model
