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
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch

from .checkpoint import Checkpoint
from .evaluate import as_pixels, elbo_bpd
from .model import VAE
from .train import guarded_step

METHODS = ("self-consistent", "optimal")
MODEL_SAMPLES = ("prior", "posterior")


@dataclass(frozen=True)
class RefineConfig:
    method: str
    data: str
    split: str = "train"  # the images the encoder is fitted to (optimal: the evaluation split)
    epochs: int = 100
    alpha: float = 0.5
    model_samples: str = "prior"
    batch_size: int = 100
    lr: float = 1e-3
    seed: int = 0
    start: str = "amortized"

    def __post_init__(self):
        if self.method not in METHODS or self.model_samples not in MODEL_SAMPLES:
            raise ValueError("unknown refinement method or sample source")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError("alpha must lie in [0, 1]")


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
    """Yield (images, is_model_sample) minibatches for one epoch."""
    n_model = model_sample_count(config)
    n_data = config.batch_size - n_model
    steps = math.ceil(len(x_train) / config.batch_size)
    order = torch.randperm(len(x_train), generator=generator)
    cursor = 0
    for _ in range(steps):
        index = order[torch.arange(cursor, cursor + n_data) % len(order)]
        cursor += n_data
        samples = draw_model_samples(vae, encoder, n_model, config.model_samples, x_train, generator)
        images = torch.cat([x_train[index], samples])
        flags = torch.cat([torch.zeros(n_data, dtype=torch.bool), torch.ones(n_model, dtype=torch.bool)])
        yield images, flags


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
    vae = checkpoint.vae(config.start)
    for p in vae.decoder.parameters():
        p.requires_grad_(False)
    encoder = copy.deepcopy(vae.encoder)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.lr)
    x = as_pixels(images)
    curve, best, skipped = [], (math.inf, 0, copy.deepcopy(encoder.state_dict())), 0
    for epoch in range(1, config.epochs + 1):
        encoder.train()
        for batch, _ in mixture_batches(vae, encoder, x, config, generator):
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
