"""The conv family in torch, for training: a convolutional VAE whose decoder gives either
every pixel's law (pixels independent given z) or feature maps for a causal local head.

    q(z|x):  conv 4x4/2 (28 -> 14), conv 4x4/2 (14 -> 7), linear -> mean, log-std
    p(x|z):  linear -> width x 7 x 7, tconv 4x4/2 (-> 14), tconv 4x4/2 (-> 28), 1x1 -> maps
             maps = the raw law of each pixel (no head), or features added to the head's
             learned maps (``model.local``: a 5x5 then 3x3 masked context)

Training maximizes the ELBO with *free bits* (Kingma et al. 2016): each latent dim's KL,
averaged over the batch, counts as at least ``free_bits`` nats, so the optimizer gains
nothing by shutting a dim off. Without it the head alone explained the digits and the
latent went unused (KL 0.001 bits/dim in the prototype). Every reported rate is the true
-ELBO. ``codec.conv`` runs the same networks exactly from the checkpoint's arrays.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..kinds import Kind
from ..checkpoint import Checkpoint
from ..errors import BBCError
from ..io.images import TILE_SIDE
from .config import ModelConfig
from .conv_coding import CONV_GRID, decoder_maps
from .local import LocalModel, init_mixture_out, mixture_log_prob, sample_pixels
from .mlp import gaussian_kl, load_arrays, with_weights
from .mlp import to_checkpoint  # noqa: F401  (a conv VAE is stored as any VAE is)


class ConvEncoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        w = config.width
        self.convs = nn.ModuleList([nn.Conv2d(1, w, 4, 2, 1), nn.Conv2d(w, w, 4, 2, 1)])
        self.out = nn.Linear(w * CONV_GRID**2, 2 * config.latent)

    def forward(self, x01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x01.reshape(-1, 1, TILE_SIDE, TILE_SIDE)
        for conv in self.convs:
            h = F.relu(conv(h))
        mean, log_std = self.out(h.flatten(1)).chunk(2, dim=-1)
        return mean, log_std


class ConvDecoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config, w = config, config.width
        self.inp = nn.Linear(config.latent, w * CONV_GRID**2)
        self.ups = nn.ModuleList([nn.ConvTranspose2d(w, w, 4, 2, 1), nn.ConvTranspose2d(w, w, 4, 2, 1)])
        self.maps = nn.Conv2d(w, decoder_maps(config), 1)
        self.head = LocalModel(config) if config.has_head else None
        if self.head is not None:
            # the head starts from its own learned maps: z's maps begin at zero
            nn.init.zeros_(self.maps.weight)
            nn.init.zeros_(self.maps.bias)
        elif config.kind == Kind.GREYSCALE:
            init_mixture_out(self.maps, config.mixture)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The maps (N, C, 28, 28) of each latent (N, latent)."""
        h = F.relu(self.inp(z)).reshape(len(z), self.config.width, CONV_GRID, CONV_GRID)
        for up in self.ups:
            h = F.relu(up(h))
        return self.maps(h)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image (nats); x flattened pixels, z (N, latent)."""
        maps = self(z)
        if self.head is not None:
            return self.head.log_likelihood(x, maps)
        images = x.reshape(-1, 1, TILE_SIDE, TILE_SIDE)
        if self.config.kind == Kind.BINARY:
            return -F.binary_cross_entropy_with_logits(maps, images, reduction="none").flatten(1).sum(-1)
        return mixture_log_prob(images, maps, self.config.mixture, self.config.pixel_floor).flatten(1).sum(-1)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x ~ p(x|z), (N, 784): ancestral through the head, else every pixel at once."""
        maps = self(z)
        if self.head is not None:
            return self.head.sample(len(z), generator, maps)
        raw = maps.permute(0, 2, 3, 1).reshape(-1, maps.shape[1])
        return sample_pixels(raw, self.config, generator).reshape(len(z), -1)


class ConvVAE(nn.Module):
    def __init__(self, config: ModelConfig, free_bits: float = 0.0):
        super().__init__()
        self.config, self.free_bits = config, free_bits
        self.encoder = ConvEncoder(config)
        self.decoder = ConvDecoder(config)

    def scale_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.config.kind == Kind.BINARY else x / 255.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The training objective per image: the ELBO with each dim's batch-mean KL
        raised to ``free_bits`` (what DistributedDataParallel calls)."""
        return self.elbo(x, free_bits=self.free_bits if self.training else 0.0)

    def elbo(self, x: torch.Tensor, encoder: nn.Module | None = None, free_bits: float = 0.0) -> torch.Tensor:
        """Single-sample reparameterized ELBO per image (nats), analytic KL."""
        mean, log_std = (encoder or self.encoder)(self.scale_input(x))
        z = mean + torch.exp(log_std) * torch.randn_like(mean)
        kl = gaussian_kl(mean, log_std)
        if free_bits:  # a dim below its free bits gets no gradient
            kl = kl + (kl.mean(0).clamp(min=free_bits) - kl.mean(0))
        return self.decoder.log_likelihood(x, z) - kl.sum(-1)

    def log_weights(self, x: torch.Tensor, samples: int, encoder: nn.Module | None = None) -> torch.Tensor:
        """log p(x, z_k) - log q(z_k|x) for K draws z_k ~ q(z|x): shape (K, images), nats."""
        mean, log_std = (encoder or self.encoder)(self.scale_input(x))
        eps = torch.randn((samples, *mean.shape), dtype=mean.dtype)
        z = mean + torch.exp(log_std) * eps
        log_q = (-0.5 * eps**2 - log_std).sum(-1)
        log_prior = (-0.5 * z**2).sum(-1)
        flat = z.reshape(-1, z.shape[-1])
        log_px = self.decoder.log_likelihood(x.repeat(samples, 1), flat).reshape(samples, -1)
        return log_px + log_prior - log_q

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None,
               z: torch.Tensor | None = None) -> torch.Tensor:
        """x ~ p(x|z) with z ~ N(0, I) (or the given z); pixels as floats."""
        if z is None:
            z = torch.randn((count, self.config.latent), generator=generator)
        return self.decoder.sample(z, generator)

    def iwae(self, x: torch.Tensor, samples: int, encoder: nn.Module | None = None) -> torch.Tensor:
        chunks = [self.log_weights(x, min(8, samples - k), encoder) for k in range(0, samples, 8)]
        return torch.logsumexp(torch.cat(chunks), dim=0) - math.log(samples)



def build(config: ModelConfig, free_bits: float = 0.0) -> ConvVAE:
    return ConvVAE(config, free_bits)


def from_checkpoint(checkpoint: Checkpoint, encoder: str = "amortized") -> ConvVAE:
    return with_weights(ConvVAE(checkpoint.config), checkpoint, encoder)


def start_head_from(model: ConvVAE, local: Checkpoint) -> None:
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
