"""The wide family in torch, for training: a vertical and a horizontal stack of causal,
dilated, residual convolutions (``wide_coding`` draws them and says why two stacks, a
capped ReLU and no gates), then the local family's output law: a mixture of discretized
logistics with a uniform floor per pixel, or one logit. Objective, likelihood and
sampling are the local model's; only the layers differ. ``wide_coding.ExactWideNet``
runs the same network in exact arithmetic from the checkpoint's arrays; torch never codes.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import Checkpoint
from ..io.images import TILE_SIDE
from ..kinds import Kind
from .config import ModelConfig
from .local import LocalModel, init_mixture_out, sample_pixels, with_decoder
from .local import to_checkpoint  # noqa: F401  (stored as any model without a latent is)
from .mlp import linear_mean
from .wide_coding import CAP, FIRST, TapGrid, layer_names, predictor_mask, reach, side_of


class GridLayer(nn.Module):
    """cap(taps on ``grid`` + features (+ the vertical stack's units at the pixel))."""

    def __init__(self, n_in: int, n_out: int, features: int, grid: TapGrid, link: int = 0):
        super().__init__()
        self.grid = grid
        self.taps = nn.Conv2d(n_in, n_out, (grid.rows, grid.columns), dilation=grid.dilation)
        with warnings.catch_warnings():  # no maps: a zero-element weight, nothing to initialize
            warnings.filterwarnings("ignore", "Initializing zero-element tensors", UserWarning)
            self.features = nn.Conv2d(features, n_out, 1, bias=False)
        self.link = nn.Conv2d(link, n_out, 1, bias=False) if link else None

    def forward(self, h: torch.Tensor, f: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
        g = self.grid
        last_row, last_column = g.row + (g.rows - 1) * g.dilation, g.column + (g.columns - 1) * g.dilation
        # output (r, c) = sum weight[i, j] h[r + row + i d, c + column + j d]: pad (negative: crop)
        y = self.taps(F.pad(h, (-g.column, last_column, -g.row, last_row)))
        if f.shape[1]:  # torch maps no input channels to no output channels
            # the learned maps alone are one tensor expanded over the batch: map it once
            y = y + self.features(f[:1] if f.stride(0) == 0 else f)
        if self.link is not None:
            y = y + self.link(v)
        return torch.clamp(y, 0.0, CAP)


class LinearPredictor(nn.Module):
    """Each mixture component's mean as a linear map of the causal neighbours in rows
    -3..-1, columns -3..+3 and the row's 3 pixels to the left (``wide_coding.predictor_mask``),
    in input units; it starts as left, up, left + up - upper left, their average, and the
    average of left and upper right (then again), so the network learns only corrections."""

    # {(row, column) offset: weight} of each start
    STARTS = ({(0, -1): 1.0}, {(-1, 0): 1.0}, {(0, -1): 1.0, (-1, 0): 1.0, (-1, -1): -1.0},
              {(0, -1): 0.5, (-1, 0): 0.5}, {(0, -1): 0.5, (-1, 1): 0.5})

    def __init__(self, components: int):
        super().__init__()
        self.register_buffer("mask", torch.from_numpy(predictor_mask()).float()[None, None], persistent=False)
        self.weight = nn.Parameter(torch.zeros(components, 1, FIRST + 1, 2 * FIRST + 1))
        with torch.no_grad():
            for k in range(components):
                for (dr, dc), w in self.STARTS[k % len(self.STARTS)].items():
                    self.weight[k, 0, FIRST + dr, FIRST + dc] = w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, K, H, W): sum over taps of weight[k, 0, FIRST + dr, FIRST + dc] x[r + dr, c + dc]."""
        return F.conv2d(F.pad(x, (FIRST, FIRST, FIRST, 0)), self.weight * self.mask)


class WideModel(LocalModel):
    """The local model's likelihood, objective and sampling over the wide network."""

    def __init__(self, config: ModelConfig):
        nn.Module.__init__(self)  # the local model's layers are not ours
        self.config = config
        self.side = side_of(config)
        channels = config.hidden[0]
        self.features = nn.Parameter(torch.zeros(config.features, TILE_SIDE, TILE_SIDE))
        self.vertical, self.horizontal = nn.ModuleList(), nn.ModuleList()
        for stack, _, grid, n_in, link in layer_names(config):
            getattr(self, stack).append(GridLayer(n_in, channels, config.features, grid, link))
        self.head = nn.Conv2d(channels, config.width, 1) if config.width else None
        self.out = nn.Conv2d(config.width or channels, config.local_outputs, 1)
        self.top = 1 if config.kind == Kind.BINARY else 255
        if config.kind == Kind.GREYSCALE:
            init_mixture_out(self.out, config.mixture)
        self.predictor = LinearPredictor(config.mixture) if config.predictor == "linear" else None
        if self.predictor is not None:
            self.mean_of = linear_mean
            with torch.no_grad():  # means start at the predictors', scales at ~7 levels
                self.out.bias[config.mixture:] = 0.0
                self.out.bias[2 * config.mixture:] = 2.0

    def raw_laws(self, images: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """Each pixel's raw law (N, outputs, H, W) from images (N, 1, H, W) and maps f."""
        x = (2 * images - self.top) / self.top
        v, h = self.vertical[0](x, f), self.horizontal[0](x, f)
        for vertical, horizontal in zip(self.vertical[1:], self.horizontal[1:]):
            v = v + vertical(v, f)
            h = h + horizontal(h, f, v)
        if self.head is not None:
            h = torch.clamp(self.head(h), 0.0, CAP)
        out = self.out(h)
        if self.predictor is None:
            return out
        k = self.config.mixture
        return torch.cat([out[:, :k], out[:, k:2 * k] + self.predictor(x), out[:, 2 * k:]], dim=1)

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None,
               maps: torch.Tensor | None = None) -> torch.Tensor:
        """Ancestral samples (count, pixels), pixel by pixel in raster order. Each step runs
        the network on the rows its pixel sees (``reach`` rows above it)."""
        f = self.maps_of(count, maps)
        images = torch.zeros(count, 1, self.side, self.side)
        for row in range(self.side):
            top = max(0, row - reach(len(self.config.hidden)))
            for col in range(self.side):
                raw = self.raw_laws(images[:, :, top:row + 1], f[:, :, top:row + 1])[:, :, -1, col]
                images[:, 0, row, col] = sample_pixels(raw, self.config, generator, self.mean_of)
        return images.flatten(1)


def build(config: ModelConfig, free_bits: float = 0.0) -> WideModel:
    """No latent, so no KL for ``free_bits`` to act on."""
    return WideModel(config)


def from_checkpoint(checkpoint: Checkpoint, encoder: str | None = None) -> WideModel:
    """``encoder``: ignored (no latent, no encoder)."""
    return with_decoder(WideModel(checkpoint.config), checkpoint)
