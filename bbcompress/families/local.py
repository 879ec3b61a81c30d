"""The local family in torch, for training: a small causal network per pixel (a
PixelCNN with a 5x5 then 3x3 receptive field) and a mixture of discretized logistics.

    h_1 = relu(maskA_5x5(x') + W_1 f + b_1)        x' = (2x - L) / L, zero outside
    h_l = relu(maskB_3x3(h_{l-1}) + W_l f + b_l)    (L = 255, or 1 for binary pixels)
    out = 1x1(h_L) -> K weights, K means, K log-scales per pixel (binary: one logit)

f are learned constant feature maps (a per-position bias of every layer). Without a
latent, -log p(x) is exact and the coder needs no bits-back. ``codec.causal`` runs the
same network in exact arithmetic from the checkpoint's arrays; torch never codes.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..kinds import Kind
from ..checkpoint import Checkpoint
from ..io.images import TILE_SIDE
from .config import MAX_LOG_SCALE, MIN_LOG_SCALE, ModelConfig
from .local_coding import LOCAL_KERNELS
from .mlp import inward_clamp, load_arrays, logistic256_log_prob, squashed_mean, state_arrays


def causal_mask(kernel: int, centre: bool) -> torch.Tensor:
    """1 on the taps before the centre in raster order (and on the centre if asked)."""
    mask = torch.zeros(kernel, kernel)
    mask[: kernel // 2] = 1
    mask[kernel // 2, : kernel // 2 + centre] = 1
    return mask


class CausalLayer(nn.Module):
    def __init__(self, n_in: int, n_out: int, features: int, kernel: int, centre: bool):
        super().__init__()
        self.taps = nn.Conv2d(n_in, n_out, kernel, padding=kernel // 2)
        self.features = nn.Conv2d(features, n_out, 1, bias=False)
        self.register_buffer("mask", causal_mask(kernel, centre)[None, None], persistent=False)

    def forward(self, h: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        taps = F.conv2d(h, self.taps.weight * self.mask, self.taps.bias, padding=self.taps.padding)
        return F.relu(taps + self.features(f))


def sample_pixels(raw: torch.Tensor, config: ModelConfig, generator: torch.Generator | None,
                  mean_of=squashed_mean) -> torch.Tensor:
    """One draw per row of raw laws (N, outputs): a Bernoulli logit, or the mixture of
    discretized logistics (means in levels by ``mean_of``) with its uniform floor; pixel
    values as floats."""
    if config.kind == Kind.BINARY:
        return torch.bernoulli(torch.sigmoid(raw[:, 0]), generator=generator)
    k = config.mixture
    logits, raw_mean, raw_log_scale = raw.split(k, dim=1)
    pick = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator)
    mean = mean_of(raw_mean).gather(1, pick)[:, 0]
    scale = torch.exp(raw_log_scale.clamp(MIN_LOG_SCALE, MAX_LOG_SCALE)).gather(1, pick)[:, 0]
    u = torch.rand(mean.shape, generator=generator).clamp(1e-7, 1 - 1e-7)
    x = torch.clamp(torch.round(mean + scale * (torch.log(u) - torch.log1p(-u))), 0, 255)
    uniform = torch.rand(mean.shape, generator=generator) < config.pixel_floor
    return torch.where(uniform, torch.randint(256, mean.shape, generator=generator).to(x.dtype), x)


def mixture_log_prob(x: torch.Tensor, out: torch.Tensor, components: int, floor: float,
                     mean_of=squashed_mean) -> torch.Tensor:
    """Per-pixel log P(x) (N, 1, H, W) of (1 - floor) * mixture + floor / 256."""
    logits, raw_mean, raw_log_scale = out.split(components, dim=1)
    mean = mean_of(raw_mean)
    log_scale = inward_clamp(raw_log_scale, MIN_LOG_SCALE, MAX_LOG_SCALE)
    log_p = logistic256_log_prob(x.expand_as(mean), mean, log_scale)
    log_p = torch.logsumexp(log_p + F.log_softmax(logits, dim=1), dim=1, keepdim=True)
    return torch.logaddexp(log_p + math.log1p(-floor), torch.full_like(log_p, math.log(floor / 256)))


@torch.no_grad()
def init_mixture_out(layer: nn.Conv2d, components: int) -> None:
    """Component means spread over 0..255, scales ~20 levels, small weights: without
    this the means saturate at the first steps and training stalls (prototype)."""
    k = components
    layer.weight.mul_(0.1)
    layer.bias.zero_()
    spread = (torch.arange(k) + 0.5) / k
    layer.bias[k:2 * k] = torch.log(spread / (1 - spread))
    layer.bias[2 * k:] = 3.0


class LocalModel(nn.Module):
    side = TILE_SIDE  # of the square images it is trained on
    mean_of = staticmethod(squashed_mean)  # a logistic's mean in levels from its raw output

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        side, channels = TILE_SIDE, (1, *config.hidden)
        self.features = nn.Parameter(torch.zeros(config.features, side, side))
        self.layers = nn.ModuleList(
            CausalLayer(n_in, n_out, config.features, LOCAL_KERNELS[min(i, 1)], centre=i > 0)
            for i, (n_in, n_out) in enumerate(zip(channels[:-1], channels[1:])))
        self.out = nn.Conv2d(channels[-1], config.local_outputs, 1)
        self.top = 1 if config.kind == Kind.BINARY else 255
        if config.kind == Kind.GREYSCALE:
            init_mixture_out(self.out, config.mixture)

    def log_likelihood(self, x: torch.Tensor, maps: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x) per image (nats); x flattened square images of pixel values 0..255; ``maps`` (N, C, 28, 28)
        are added to the learned feature maps (a conv VAE's decoder gives them from z)."""
        images = x.reshape(-1, 1, self.side, self.side)
        raw = self.raw_laws(images, self.maps_of(len(images), maps))
        if self.config.kind == Kind.BINARY:
            return -F.binary_cross_entropy_with_logits(raw, images, reduction="none").flatten(1).sum(-1)
        log_p = mixture_log_prob(images, raw, self.config.mixture, self.config.pixel_floor, self.mean_of)
        return log_p.flatten(1).sum(-1)

    def maps_of(self, count: int, maps: torch.Tensor | None) -> torch.Tensor:
        return self.features.expand(count, -1, -1, -1) if maps is None else self.features + maps

    def raw_laws(self, images: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """Each pixel's raw law (N, outputs, H, W) from images (N, 1, H, W) and maps f."""
        h = (2 * images - self.top) / self.top
        for layer in self.layers:
            h = layer(h, f)
        return self.out(h)

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None,
               maps: torch.Tensor | None = None) -> torch.Tensor:
        """Ancestral samples (count, 784), pixel by pixel in raster order. Each step runs
        the network on the rows its pixel sees: each layer's half kernel above it."""
        f = self.maps_of(count, maps)
        images = torch.zeros(count, 1, TILE_SIDE, TILE_SIDE)
        reach = sum(LOCAL_KERNELS[min(i, 1)] // 2 for i in range(len(self.layers)))
        for row in range(TILE_SIDE):
            top = max(0, row - reach)
            for col in range(TILE_SIDE):
                raw = self.raw_laws(images[:, :, top:row + 1], f[:, :, top:row + 1])[:, :, -1, col]
                images[:, 0, row, col] = sample_pixels(raw, self.config, generator, self.mean_of)
        return images.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The training objective per image (what DistributedDataParallel calls)."""
        return self.elbo(x)

    def elbo(self, x: torch.Tensor, encoder: nn.Module | None = None) -> torch.Tensor:
        """Without a latent the bound is exact: log p(x) (nats per image)."""
        return self.log_likelihood(x)

    def iwae(self, x: torch.Tensor, samples: int, encoder: nn.Module | None = None) -> torch.Tensor:
        return self.log_likelihood(x)


def build(config: ModelConfig, free_bits: float = 0.0) -> LocalModel:
    """No latent, so no KL for ``free_bits`` to act on."""
    return LocalModel(config)


def from_checkpoint(checkpoint: Checkpoint, encoder: str | None = None) -> LocalModel:
    """``encoder``: ignored (no latent, no encoder)."""
    return with_decoder(LocalModel(checkpoint.config), checkpoint)


def with_decoder(model: nn.Module, checkpoint: Checkpoint) -> nn.Module:
    """A model without a latent (local, wide) holding the checkpoint's weights."""
    load_arrays(model, checkpoint.decoder)
    return model


def to_checkpoint(model: nn.Module, info: dict, encoder_info: dict | None = None) -> Checkpoint:
    """A checkpoint of a model without a latent (local, wide): weights, no encoder."""
    return Checkpoint(model.config, state_arrays(model), {}, {}, info)
