"""Encoder refinement with the decoder frozen (the seed paper's contribution).

- ``self-consistent``: each minibatch mixes fresh model samples (fraction alpha) with
  training images (1 - alpha); the model samples come from the prior
  (z ~ N(0, I), x ~ p(x|z), as in the paper) or from the current posterior of other
  training images (z ~ q(z|x_train), x ~ p(x|z), as in the authors' code). Deployable.
- ``optimal``: the encoder is fitted on the evaluation images themselves: a bound on
  what any encoder could reach, not a deployable encoder.

Both minimize -ELBO over the encoder's parameters only, with Adam, starting from the
checkpoint's amortized encoder. An epoch is ceil(N / batch) steps, as in training.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import BBCError, OutputExists
from ..checkpoint import Checkpoint, load_checkpoint
from ..families.networks import from_checkpoint
from ..families.mlp import VAE, state_arrays
from .config import RefineConfig
from .evaluate import elbo_bpd
from .steps import as_pixels, guarded_step

def model_sample_count(config: RefineConfig) -> int:
    if config.method == "optimal":
        return 0
    return int(round(config.alpha * config.batch_size))


@torch.no_grad()
def draw_model_samples(vae: VAE, encoder, count: int, source: str, x_train: torch.Tensor,
                       generator: torch.Generator) -> torch.Tensor:
    if count == 0:
        return x_train[:0]
    if source == "prior":
        return vae.sample(count, generator)
    picks = x_train[torch.randint(len(x_train), (count,), generator=generator)]
    mean, log_std = encoder(vae.scale_input(picks))
    z = mean + torch.exp(log_std) * torch.randn(mean.shape, generator=generator)
    return vae.sample(count, generator, z=z)


def mixture_batches(vae: VAE, encoder, x_train: torch.Tensor, config: RefineConfig,
                    generator: torch.Generator):
    """Yield the minibatches of one epoch: training images, then model samples."""
    n_model = model_sample_count(config)
    n_data = config.batch_size - n_model
    steps = math.ceil(len(x_train) / config.batch_size)
    order = torch.randperm(len(x_train), generator=generator)
    cursor = 0
    for _ in range(steps):
        index = order[torch.arange(cursor, cursor + n_data) % len(order)]
        cursor += n_data
        samples = draw_model_samples(vae, encoder, n_model, config.model_samples, x_train, generator)
        yield torch.cat([x_train[index], samples])


def refine_encoder(checkpoint: Checkpoint, images: np.ndarray, config: RefineConfig,
                   curve_images: np.ndarray | None = None, curve_every: int = 0,
                   report: Callable[[dict], None] | None = None,
                   keep_best: bool = False) -> tuple[torch.nn.Module, dict]:
    """Train a copy of the ``config.start`` encoder; returns it and how it was made.

    With ``curve_images`` the -ELBO on them is recorded every ``curve_every`` epochs;
    ``keep_best`` then returns the encoder of the lowest point (early stopping on a
    validation set: the curve images must not be the images it is judged on later)."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed + 1)
    vae = from_checkpoint(checkpoint, config.start)
    for p in vae.decoder.parameters():
        p.requires_grad_(False)
    encoder = copy.deepcopy(vae.encoder)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr)
    x = as_pixels(images)
    curve, best, skipped = [], (math.inf, 0, copy.deepcopy(encoder.state_dict())), 0
    for epoch in range(1, config.epochs + 1):
        encoder.train()
        for batch in mixture_batches(vae, encoder, x, config, generator):
            loss = -vae.elbo(batch, encoder).mean()
            skipped += not guarded_step(optimizer, loss)
        event = {"epoch": epoch, "loss_bpd": loss.item() / (x.shape[1] * math.log(2))}
        if curve_every and curve_images is not None and epoch % curve_every == 0:
            event["curve_bpd"] = elbo_bpd(vae, curve_images, encoder=encoder.eval())
            curve.append([epoch, event["curve_bpd"]])
            if keep_best and event["curve_bpd"] < best[0]:
                best = (event["curve_bpd"], epoch, copy.deepcopy(encoder.state_dict()))
        if report:
            report(event)
    info = {**asdict(config), "bound_not_deployable": config.method == "optimal", "skipped_steps": skipped}
    if curve:
        info["curve_bpd"] = curve
    if keep_best and curve:
        encoder.load_state_dict(best[2])
        info["kept_epoch"] = best[1]
    return encoder.eval(), info


def default_encoder_name(config: RefineConfig) -> str:
    if config.method == "optimal":
        return f"optimal-{config.split}"
    return "self-consistent" if config.model_samples == "prior" else "self-consistent-posterior"


def attach_encoder(checkpoint: Checkpoint, name: str, encoder: torch.nn.Module, info: dict) -> None:
    """Store a refined encoder in ``checkpoint`` under ``name`` (bound to its decoder)."""
    checkpoint.add_encoder(name, state_arrays(encoder), info, checkpoint.decoder_sha256)


def refine_checkpoint(path: str, config: RefineConfig, dataset, name: str | None = None,
                      out: str | None = None, force: bool = False, curve_every: int = 0,
                      report: Callable[[dict], None] | None = None) -> tuple[str, Path]:
    """Refine the encoder of the checkpoint at ``path`` and save it by name (in place, or
    to ``out``); returns (encoder name, card written)."""
    checkpoint = load_checkpoint(path)
    if not checkpoint.config.has_latent:
        raise BBCError(f"{path}: a {checkpoint.config.family} model has no latent, so no encoder to refine")
    if config.method == "self-consistent" and config.split != "train":
        raise BBCError("the self-consistent encoder is fitted on training images only")
    name = name or default_encoder_name(config)
    if name in checkpoint.encoders and not force:
        raise OutputExists(f"the checkpoint already has an encoder {name!r}")
    encoder, made = refine_encoder(checkpoint, dataset.split(config.split), config,
                                   dataset.x_test, curve_every, report)
    if curve_every:
        made["curve_on"] = "test"
    attach_encoder(checkpoint, name, encoder, made)
    return name, checkpoint.save(out or path)
