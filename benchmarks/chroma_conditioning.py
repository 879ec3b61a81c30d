"""Does a colour photo's chroma cost less when its model sees the green plane?

Archives of version 7 code a colour image as three greyscale planes (green, red less
green, blue less green: ``kinds.to_planes``), each by the greyscale photo model alone.
The decoder knows the whole green plane before the first chroma pixel, so a chroma
model may read all of it, not only what lies before the pixel: edges, textures and
flat regions of the green plane say where the chroma moves. This trains variants of a
model on the same chroma planes for the same epochs (by default ``green`` and ``alone``),
all from the same greyscale photo model, and compares their rates (torch, in bits per
chroma sub-pixel):

- ``alone``: the wide model as it is;
- ``green``: the same model with feature maps from a small non-causal network of the
  green plane (and, for blue less green, of red less green too) added to every layer,
  the maps' weights starting at zero (so it starts exactly where ``alone`` does);
- ``green-linear``: ``green``, and each component's mean also a linear map of the known
  planes in a 7x7 window around the pixel (so a step in green may move the chroma's
  mean directly, not only through the capped units).

    python -m benchmarks.chroma_conditioning [--epochs 3] [--start-from photos-greyscale-wide-v1]

Training data: 64x64 crops of the training photos (``training.photos``: downsampled by
2-4, never the held-out ones), both chroma planes of each; validation: the last 300
crops; test: the held-out photos' crops. Writes benchmarks/results/chroma-conditioning.{json,md}.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from torch import nn

from bbcompress.families import family
from bbcompress.families.local import mixture_log_prob
from bbcompress.families.wide_coding import CAP, FIRST
from bbcompress.kinds import Kind, to_planes
from bbcompress.training.data import PHOTO_CROP
from bbcompress.training.photos import benchmark_photos, downsampled, grey_tiles, split
from bbcompress.training.steps import guarded_step
from bbcompress.zoo import resolve_model

from .harness import write_results

VALIDATION = 300
SIDE_MAPS = 16


def chroma_tiles(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(chroma planes (2N, 1, 64, 64), their side inputs (2N, 3, 64, 64)) of RGB images'
    whole 64x64 crops: red less green seeing green; blue less green seeing green and red
    less green, and a flag saying which it is."""
    planes = [np.stack([grey_tiles([p], PHOTO_CROP) for p in to_planes(rgb, Kind.RGB)], axis=1) for rgb in images]
    planes = np.concatenate(planes).astype(np.float32)  # (N, 3, 64, 64): G, R-G, B-G
    green, red, blue = planes[:, 0], planes[:, 1], planes[:, 2]
    zero, one = np.zeros_like(green), np.ones_like(green)
    x = np.concatenate([red, blue])[:, None]
    side = np.concatenate([np.stack([green, zero, zero], 1), np.stack([green, red, one * 255], 1)])
    return x, side


class GreenSide(nn.Module):
    """Non-causal maps from the known planes: two capped 3x3 layers (the second dilated
    by 2): each map sees a 7x7 window of the planes around the pixel, the pixel included."""

    def __init__(self, inputs: int = 3, maps: int = SIDE_MAPS):
        super().__init__()
        self.first = nn.Conv2d(inputs, maps, 3, padding=1)
        self.second = nn.Conv2d(maps, maps, 3, padding=2, dilation=2)

    def forward(self, side: torch.Tensor) -> torch.Tensor:
        h = torch.clamp(self.first((2 * side - 255) / 255), 0.0, CAP)
        return torch.clamp(self.second(h), 0.0, CAP)


class ChromaModel(nn.Module):
    """The wide model over a chroma plane, with or without maps of the green side."""

    def __init__(self, start, conditioned: bool, side_predictor: bool = False):
        super().__init__()
        self.wide = family("wide").torch().from_checkpoint(start)
        self.side = GreenSide() if conditioned else None
        self.side_predictor = None
        if side_predictor:  # each mean also a linear map of the known planes around the pixel, itself included
            k = self.wide.config.mixture
            self.side_predictor = nn.Conv2d(3, k, 2 * FIRST + 1, padding=FIRST, bias=False)
            nn.init.zeros_(self.side_predictor.weight)
        if conditioned:  # every layer reads the maps, through weights that start at zero: the start's laws
            for layer in [*self.wide.vertical, *self.wide.horizontal]:
                layer.features = nn.Conv2d(SIDE_MAPS, layer.taps.out_channels, 1, bias=False)
                nn.init.zeros_(layer.features.weight)

    def forward(self, x: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        """log p of each plane (nats)."""
        f = self.side(side) if self.side is not None else torch.zeros(len(x), 0, *x.shape[2:])
        raw = self.wide.raw_laws(x, f)
        if self.side_predictor is not None:
            k = self.wide.config.mixture
            means = raw[:, k:2 * k] + self.side_predictor((2 * side - 255) / 255)
            raw = torch.cat([raw[:, :k], means, raw[:, 2 * k:]], dim=1)
        config = self.wide.config
        return mixture_log_prob(x, raw, config.mixture, config.pixel_floor, self.wide.mean_of).flatten(1).sum(-1)


def bits_per_dim(model: ChromaModel, x: np.ndarray, side: np.ndarray, batch: int = 100) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(x), batch):
            pair = torch.from_numpy(x[start:start + batch]), torch.from_numpy(side[start:start + batch])
            total -= model(*pair).sum().item()
    return total / (x.size * math.log(2))


def train(model, x, side, valid, test, epochs: int, lr: float, batch: int, label: str) -> list[dict]:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    rows = [{"variant": label, "epoch": 0, "valid": bits_per_dim(model, *valid), "test": bits_per_dim(model, *test)}]
    print(rows[-1], flush=True)
    for epoch in range(epochs):
        for group in optimizer.param_groups:  # a half cosine to lr / 10
            group["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * epoch / max(1, epochs - 1))))
        model.train()
        began, order = time.time(), torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch):
            pick = order[start:start + batch].numpy()
            loss = -model(torch.from_numpy(x[pick]), torch.from_numpy(side[pick])).mean()
            guarded_step(optimizer, loss)
        rows.append({"variant": label, "epoch": epoch + 1, "valid": bits_per_dim(model, *valid),
                     "test": bits_per_dim(model, *test), "s": round(time.time() - began, 1)})
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start-from", default="photos-greyscale-wide-v1")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--variants", default="green,alone")
    parser.add_argument("--test-every", type=int, default=3, help="every Nth test plane (time)")
    parser.add_argument("--out", default="chroma-conditioning")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    x, side = chroma_tiles([np.asarray(downsampled(path)) for path in split()[0]])
    order = np.random.default_rng(0).permutation(len(x))
    x, side = x[order], side[order]
    valid = (x[-VALIDATION:], side[-VALIDATION:])
    x, side = x[:-VALIDATION], side[:-VALIDATION]
    test = chroma_tiles([rgb for _, rgb in benchmark_photos()])
    test = tuple(t[::args.test_every] for t in test)
    print(f"{len(x)} training planes, {VALIDATION} validation, {len(test[0])} test", flush=True)
    start = resolve_model(args.start_from)
    rows = []
    for variant in args.variants.split(","):
        torch.manual_seed(0)
        model = ChromaModel(start, variant != "alone", variant == "green-linear")
        rows += train(model, x, side, valid, test, args.epochs, args.lr, args.batch_size, variant)
    write_results(args.out, "Chroma planes of colour photos, with and without the green plane",
                  markdown(rows, args, len(x), len(test[0])), {"args": vars(args), "rows": rows})


def markdown(rows: list[dict], args, train: int, test: int) -> str:
    lines = [f"Both variants start from `{args.start_from}`; {train} training chroma planes (64x64 crops "
             f"of the training photos, red and blue less green), {VALIDATION} validation, {test} test (the "
             f"held-out photos' crops); half a cosine from lr {args.lr} to a tenth, batch {args.batch_size}. "
             "Rates in bits per chroma sub-pixel (torch, float32).", "",
             "| variant | epoch | valid bits/sub-pixel | test | s/epoch |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['variant']} | {r['epoch']} | {r['valid']:.4f} | {r['test']:.4f} | {r.get('s', '')} |"
              for r in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
