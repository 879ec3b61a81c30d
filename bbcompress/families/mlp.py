"""The VAE of the seed paper in torch, for training: MLP encoder q(z|x), MLP decoder
p(x|z), prior N(0, I); likelihoods as in ``families.config``. The pixel floor stops a
decoder that over-fits its training images from charging thousands of bits for one
unexpected test pixel (0 is the seed's model).

Rates are in bits per dimension: BPD = -ELBO / (D ln 2). The coder never imports this
module: ``families.mlp_coding`` runs the same networks exactly from the checkpoint's arrays.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..kinds import Kind
from ..checkpoint import Checkpoint, State
from .config import MAX_LOG_SCALE, MIN_LOG_SCALE, ModelConfig
from .mlp_coding import decoder_sizes, encoder_sizes


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """q(z|x) = N(mean, diag exp(log_std)^2); takes pixels scaled to [0, 1]."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.net = mlp(encoder_sizes(config))

    def forward(self, x01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(x01).chunk(2, dim=-1)
        return mean, log_std


class Decoder(nn.Module):
    """p(x|z): logits (bernoulli) or (mean, log_scale) in pixel units (logistic256)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.net = mlp(decoder_sizes(config))

    def forward(self, z: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        out = self.net(z)
        if self.config.kind == Kind.BINARY:
            return out
        raw_mean, raw_log_scale = out.chunk(2, dim=-1)
        return squashed_mean(raw_mean), torch.clamp(raw_log_scale, MIN_LOG_SCALE, MAX_LOG_SCALE)


def squashed_mean(raw_mean: torch.Tensor) -> torch.Tensor:
    """A logistic's mean in levels, in [-0.5, 255.5] (the edges of the open-ended bins):
    what ``codec.pixels.squashed_mean`` computes for the coder."""
    return 256.0 * torch.sigmoid(raw_mean) - 0.5


def linear_mean(raw_mean: torch.Tensor) -> torch.Tensor:
    """A mean in levels from a raw output in input units, clipped to [-0.5, 255.5]: what
    ``codec.pixels.linear_mean`` computes. Clipped inward (``inward_clamp``): a mean past
    the edge still learns to come back."""
    return inward_clamp(127.5 * (1.0 + raw_mean), -0.5, 255.5)


class InwardClamp(torch.autograd.Function):
    """Clamps; its gradient passes where the value is inside, or outside and pushed back
    in. A hard clamp gives none outside, so a value that ran past a bound in the first
    steps never came back (the local prototype's log-scales); passing every gradient
    ("straight through") let values the loss wants past a bound drift there without end
    (the linear predictor on digits: raw log-scales of +264 against a bound of 7, every
    law at the clips, the network's output no longer mattering)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, low: float, high: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.low, ctx.high = low, high
        return x.clamp(low, high)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, = ctx.saved_tensors  # a descent step moves x by -grad
        outward = ((x > ctx.high) & (grad < 0)) | ((x < ctx.low) & (grad > 0))
        return grad.masked_fill(outward, 0.0), None, None


def inward_clamp(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return InwardClamp.apply(x, low, high)


def gaussian_kl(mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, std^2) || N(0, 1)) of each latent dim, in nats."""
    return 0.5 * (mean**2 + torch.exp(2 * log_std) - 1 - 2 * log_std)


def logistic256_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor,
                         floor: float = 0.0) -> torch.Tensor:
    """Per-pixel log P(x) of a logistic discretized to the bins of 0..255.

    Interior bins use sigmoid(hi) - sigmoid(lo) = sigmoid(hi) sigmoid(-lo) (1 - e^(lo-hi)),
    stable in both tails; lo - hi = -1/scale is finite, and every branch stays finite
    so that torch.where passes no NaN gradients.
    """
    inv_scale = torch.exp(-log_scale)
    lo = (x - 0.5 - mean) * inv_scale
    hi = (x + 0.5 - mean) * inv_scale
    interior = F.logsigmoid(hi) + F.logsigmoid(-lo) + torch.log(-torch.expm1(-inv_scale))
    log_p = torch.where(x <= 0, F.logsigmoid(hi), torch.where(x >= 255, F.logsigmoid(-lo), interior))
    if not floor:
        return log_p
    return torch.logaddexp(log_p + math.log1p(-floor), torch.full_like(log_p, math.log(floor / 256)))


class VAE(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def scale_input(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels (0/1 or 0..255, any float dtype) to the encoder's [0, 1] input."""
        return x if self.config.kind == Kind.BINARY else x / 255.0

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over pixels; x flattened, z with any leading sample dims."""
        params = self.decoder(z)
        if self.config.kind == Kind.BINARY:
            x = x.expand_as(params)
            return -F.binary_cross_entropy_with_logits(params, x, reduction="none").sum(-1)
        mean, log_scale = params
        return logistic256_log_prob(x.expand_as(mean), mean, log_scale, self.config.pixel_floor).sum(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The training objective per image (what DistributedDataParallel calls)."""
        return self.elbo(x)

    def elbo(self, x: torch.Tensor, encoder: nn.Module | None = None) -> torch.Tensor:
        """Single-sample reparameterized ELBO per image (nats), analytic KL."""
        encoder = encoder or self.encoder
        mean, log_std = encoder(self.scale_input(x))
        z = mean + torch.exp(log_std) * torch.randn_like(mean)
        return self.log_likelihood(x, z) - gaussian_kl(mean, log_std).sum(-1)

    def log_weights(self, x: torch.Tensor, samples: int, encoder: nn.Module | None = None) -> torch.Tensor:
        """log p(x, z_k) - log q(z_k|x) for K draws z_k ~ q(z|x): shape (K, images), nats.
        Minus one of them is what a bits-back coder pays for an image."""
        encoder = encoder or self.encoder
        mean, log_std = encoder(self.scale_input(x))
        std = torch.exp(log_std)
        eps = torch.randn((samples, *mean.shape), dtype=mean.dtype)
        z = mean + std * eps
        log_q = (-0.5 * eps**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prior = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
        return self.log_likelihood(x, z) + log_prior - log_q

    def iwae(self, x: torch.Tensor, samples: int, encoder: nn.Module | None = None) -> torch.Tensor:
        """Importance-weighted bound log (1/K) sum_k p(x,z_k)/q(z_k|x), per image (nats)."""
        return torch.logsumexp(self.log_weights(x, samples, encoder), dim=0) - math.log(samples)

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None,
               z: torch.Tensor | None = None) -> torch.Tensor:
        """x ~ p(x|z) with z ~ N(0, I) (or the given z); pixels as float 0/1 or 0..255."""
        if z is None:
            z = torch.randn((count, self.config.latent), generator=generator)
        params = self.decoder(z)
        if self.config.kind == Kind.BINARY:
            return torch.bernoulli(torch.sigmoid(params), generator=generator)
        mean, log_scale = params
        u = torch.rand(mean.shape, generator=generator).clamp(1e-7, 1 - 1e-7)
        logistic = mean + torch.exp(log_scale) * (torch.log(u) - torch.log1p(-u))
        x = torch.clamp(torch.round(logistic), 0, 255)
        if self.config.pixel_floor:
            uniform = torch.rand(mean.shape, generator=generator) < self.config.pixel_floor
            levels = torch.randint(256, mean.shape, generator=generator).to(x.dtype)
            x = torch.where(uniform, levels, x)
        return x


def bits_per_dim(nats_per_image: torch.Tensor | float, pixels: int) -> float:
    """-ELBO (or -log p) in nats per image to bits per pixel."""
    return float(-nats_per_image / (pixels * math.log(2)))


def state_arrays(module: nn.Module) -> State:
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def load_arrays(module: nn.Module, state: State) -> None:
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})


def with_weights(model: nn.Module, checkpoint: Checkpoint, encoder: str = "amortized") -> nn.Module:
    """``model`` (a VAE of any family with a latent: ``encoder`` and ``decoder`` modules)
    holding the checkpoint's decoder and the named encoder."""
    load_arrays(model.decoder, checkpoint.decoder)
    load_arrays(model.encoder, checkpoint.encoder(encoder))
    return model


def build(config: ModelConfig, free_bits: float = 0.0) -> VAE:
    """The seed's VAE trains on the plain ELBO: ``free_bits`` is the conv family's."""
    return VAE(config)


def from_checkpoint(checkpoint: Checkpoint, encoder: str = "amortized") -> VAE:
    return with_weights(VAE(checkpoint.config), checkpoint, encoder)


def to_checkpoint(vae: nn.Module, info: dict, encoder_info: dict) -> Checkpoint:
    """A checkpoint of a VAE of any family with a latent; its encoder is "amortized"."""
    return Checkpoint(vae.config, state_arrays(vae.decoder), {"amortized": state_arrays(vae.encoder)},
                      {"amortized": encoder_info}, info)
