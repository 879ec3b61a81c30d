"""Amortized training of the VAE (encoder and decoder jointly), with checkpoints; under
``torchrun``, data-parallel over processes (``distributed``).

The run folder holds ``epoch-NNNN.{safetensors,json}`` checkpoints and
``resume.{safetensors,json}``: the latest weights, Adam state and random state,
from which an interrupted run continues exactly where it stopped.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save

from ..errors import BBCError
from ..io.atomic import atomic_write_bytes
from ..families.config import ModelConfig
from ..families.conv import start_head_from
from ..families.networks import build, from_checkpoint, to_checkpoint
from ..zoo import resolve_model
from ..families.mlp import bits_per_dim
from .config import COSINE_END, TrainConfig
from .data import Dataset
from .evaluate import elbo_bpd
from .distributed import barrier, data_parallel, share, world
from .steps import as_pixels, guarded_step, model_device

RESUME = "resume"


def checkpoint_name(epoch: int) -> str:
    return f"epoch-{epoch:04d}"


@dataclass
class TrainState:
    vae: torch.nn.Module  # a VAE, or a model of another family (model.networks)
    optimizer: torch.optim.Adam
    shuffle: torch.Generator
    epoch: int = 0
    skipped_steps: int = 0  # minibatches whose loss or gradients were not finite

    def save(self, folder: Path, vae_config: ModelConfig, train_config: TrainConfig) -> None:
        tensors = {f"model.{k}": v for k, v in self.vae.state_dict().items()}
        for index, state in self.optimizer.state_dict()["state"].items():
            tensors.update({f"adam.{index}.{k}": v for k, v in state.items()})
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.shuffle"] = self.shuffle.get_state()
        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        atomic_write_bytes(folder / f"{RESUME}.safetensors", save(tensors))
        meta = {"epoch": self.epoch, "skipped_steps": self.skipped_steps, "vae": vae_config.to_json(), "train": asdict(train_config)}
        atomic_write_bytes(folder / f"{RESUME}.json", json.dumps(meta, indent=2).encode())

    def restore(self, folder: Path) -> None:
        tensors = load_file(str(folder / f"{RESUME}.safetensors"))
        self.vae.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        state = self.optimizer.state_dict()
        for index in range(len(list(self.vae.parameters()))):
            prefix = f"adam.{index}."
            entry = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            if entry:
                state["state"][index] = entry
        self.optimizer.load_state_dict(state)
        torch.set_rng_state(tensors["rng.torch"])
        self.shuffle.set_state(tensors["rng.shuffle"])
        meta = json.loads((folder / f"{RESUME}.json").read_text())
        self.epoch, self.skipped_steps = meta["epoch"], meta.get("skipped_steps", 0)


def resolve_device(name: str) -> torch.device:
    """``auto``: a CUDA device when torch sees one, else the CPU; ``cuda`` where torch
    sees none is refused."""
    if name not in ("auto", "cpu", "cuda"):
        raise BBCError(f"unknown device {name!r}: auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise BBCError("--device cuda: torch sees no CUDA device here (use cpu or auto)")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def new_state(vae_config: ModelConfig, train_config: TrainConfig, device: torch.device) -> TrainState:
    torch.manual_seed(train_config.seed)
    vae = build(vae_config, train_config.free_bits).to(device)
    optimizer = torch.optim.Adam(vae.parameters(), lr=train_config.lr)
    shuffle = torch.Generator().manual_seed(train_config.seed + 1)
    return TrainState(vae, optimizer, shuffle)


def prepare_folder(folder: Path, vae_config: ModelConfig, train_config: TrainConfig,
                   resume: bool, device: torch.device = torch.device("cpu")) -> TrainState:
    state = new_state(vae_config, train_config, device)
    resume_card = folder / f"{RESUME}.json"
    if resume:
        if not resume_card.exists():
            raise BBCError(f"{folder}: nothing to resume (no {RESUME}.json)")
        meta = json.loads(resume_card.read_text())
        # settings added since the run began count at their defaults
        began = {**asdict(TrainConfig(train_config.data)), **meta["train"], "epochs": train_config.epochs}
        given = {**vae_config.to_json(), **asdict(train_config)}
        differs = {k: v for k, v in {**meta["vae"], **began}.items() if given.get(k) != v}
        differs.update({k: None for k in vae_config.to_json() if k not in meta["vae"]})
        if began.get("schedule") == "cosine" and meta["train"]["epochs"] != train_config.epochs:
            raise BBCError(f"{folder}: a cosine run's rates are fixed by its --epochs "
                           f"({meta['train']['epochs']}); to train on, start a new run with "
                           f"--start-from {folder / checkpoint_name(meta['epoch'])}")
        if differs:
            said = ", ".join(f"{k.replace('_', '-')} {v!r} (now {given.get(k)!r})" for k, v in differs.items())
            raise BBCError(f"{folder}: the run there was started with other settings: {said}")
        state.restore(folder)
    elif folder.exists() and any(folder.iterdir()):
        raise BBCError(f"{folder} is not empty: resume the run there, "
                       f"or choose another output folder")
    elif train_config.start_from:  # a resumed run restores its weights with the rest
        start_weights_from(state.vae, vae_config, train_config.start_from)
    elif train_config.head_from:
        start_head_from(state.vae, resolve_model(train_config.head_from))
    folder.mkdir(parents=True, exist_ok=True)
    return state


def start_weights_from(model: torch.nn.Module, config: ModelConfig, name_or_path: str) -> None:
    """Every weight from a trained model of the same configuration (fine-tuning, or a new
    schedule after a run that flattened): the optimizer's state starts afresh."""
    start = resolve_model(name_or_path)
    if start.config.to_json() != config.to_json():
        raise BBCError(f"--start-from {name_or_path}: that model's configuration "
                       f"{start.config.to_json()} differs from this run's {config.to_json()}")
    model.load_state_dict(from_checkpoint(start).state_dict())


def epoch_lr(config: TrainConfig, epoch: int) -> float:
    """The learning rate of the epoch after ``epoch`` done: constant, or a half cosine
    from ``lr`` at the first epoch to ``lr * COSINE_END`` at the last."""
    if config.schedule == "constant" or config.epochs <= 1:
        return config.lr
    done = epoch / (config.epochs - 1)
    return config.lr * (COSINE_END + (1 - COSINE_END) * 0.5 * (1 + math.cos(math.pi * done)))


def epoch_images(state: TrainState, x_train: torch.Tensor, grey: torch.Tensor | None) -> torch.Tensor:
    """The training images of one epoch: fixed, or freshly binarized from greyscale."""
    if grey is None:
        return x_train
    return torch.bernoulli(grey / 255.0, generator=state.shuffle)


def train_one_epoch(state: TrainState, model: torch.nn.Module, x_train: torch.Tensor, batch_size: int) -> float:
    """One pass over the shuffled training set; returns the mean -ELBO in nats (of this
    process's shares, under torchrun). ``model`` is ``state.vae``, or it wrapped by DDP."""
    state.vae.train()
    order = torch.randperm(len(x_train), generator=state.shuffle)
    device, total = model_device(state.vae), 0.0
    for start in range(0, len(x_train), batch_size):
        batch = share(x_train[order[start:start + batch_size]]).to(device)
        loss = -model(batch).mean()
        if guarded_step(state.optimizer, loss):
            total += loss.item() * len(batch)
        else:
            state.skipped_steps += 1
    return total / len(x_train)


def save_checkpoint(state: TrainState, folder: Path, dataset: Dataset, validation, config: TrainConfig,
                    wall_s: float, processes: int = 1, command: str | None = None) -> dict:
    state.vae.eval()
    rates = {"train_bpd": elbo_bpd(state.vae, dataset.x_train),
             "test_bpd": elbo_bpd(state.vae, dataset.x_test)}
    if validation is not None:
        rates["valid_bpd"] = elbo_bpd(state.vae, validation)
    info = {"data": dataset.name, "epoch": state.epoch, **rates, "elbo_samples": 1,
            "skipped_steps": state.skipped_steps,
            "train": asdict(config), "wall_s": round(wall_s, 1), "processes": processes,
            "device": model_device(state.vae).type, "stopped_at": {"epoch": state.epoch, "of": config.epochs}}
    if command:
        info["command"] = command
    made = {"method": "amortized", "data": dataset.name, "split": "train", "epochs": state.epoch}
    to_checkpoint(state.vae, info, made).save(folder / checkpoint_name(state.epoch))
    return rates


def train(vae_config: ModelConfig, config: TrainConfig, dataset: Dataset, folder: str | Path,
          resume: bool = False, report: Callable[[dict], None] = print, device: str = "cpu",
          command: str | None = None) -> TrainState:
    """Train for ``config.epochs`` epochs, checkpointing every ``checkpoint_every``.

    ``report`` receives a dict after every epoch (epoch, train_bpd_running, and the
    checkpoint rates when one was written) so the caller can draw progress. ``device``:
    auto, cpu or cuda (not part of the run: a run resumes on any device). ``command``:
    what started the run, written on every checkpoint's card.
    """
    folder, (rank, size) = Path(folder), world()
    if size > 1 and device != "cpu":
        raise BBCError("data-parallel runs (torchrun) train on the CPU: leave --device out")
    state = prepare_folder(folder, vae_config, config, resume, resolve_device(device))
    if rank:  # the same weights and data order everywhere, other sampling noise
        torch.manual_seed(config.seed + 7919 * rank + state.epoch)
    model = data_parallel(state.vae)
    validation = None
    if config.validation:
        dataset, validation = dataset.holdout(config.validation)
    if config.dynamic_binarization and dataset.x_train_grey is None:
        raise BBCError(f"dynamic binarization needs a binary dataset with greyscale sources, "
                       f"not {dataset.name}")
    x_train = as_pixels(dataset.x_train)
    grey = as_pixels(dataset.x_train_grey) if config.dynamic_binarization else None
    started = time.monotonic()
    while state.epoch < config.epochs:
        for group in state.optimizer.param_groups:
            group["lr"] = epoch_lr(config, state.epoch)
        nats = train_one_epoch(state, model, epoch_images(state, x_train, grey), config.batch_size)
        state.epoch += 1
        event = {"epoch": state.epoch, "running_bpd": bits_per_dim(-nats, vae_config.pixels)}
        if state.epoch % config.checkpoint_every == 0 or state.epoch == config.epochs:
            if rank == 0:
                event.update(save_checkpoint(state, folder, dataset, validation, config,
                                             time.monotonic() - started, size, command))
                state.save(folder, vae_config, config)
            barrier()
        if rank == 0:
            report(event)
    return state
