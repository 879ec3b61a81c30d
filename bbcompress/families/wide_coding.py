"""The wide family: a causal network whose context is a whole window of the tile, no latent.

Two stacks of causal convolutions, as in the gated PixelCNN (without its gates), so the
receptive field has no blind spot:

    vertical   v_0 = cap(taps of x, rows -3..-1, columns -3..+3)            sees rows above only
               v_b = v_{b-1} + cap(taps of v_{b-1}, rows {-d, 0}, columns {-d, 0, +d})
    horizontal h_0 = cap(taps of x, row 0, columns -3..-1)                   sees the row to the left
               h_b = h_{b-1} + cap(taps of h_{b-1}, row 0, columns {-d, 0} + U_b v_b)
    out        = 1x1(h_B) -> K weights, K means, K log-scales per pixel (binary: one logit)
                 or, with ``width`` W > 0, 1x1(cap(1x1(h_B) -> W units)) -> the same

with cap(y) = min(relu(y + W f + bias), CAP) (f: learned feature maps, as in the local
family), d = DILATIONS[b - 1] for blocks b = 1..B (B = len(hidden), every block
``hidden[0]`` channels). The vertical stack at a pixel sees only rows above it, so it may
look right in its own row; one stack alone (PixelCNN) reaches in the row above only as
far right as one layer's kernel (a blind spot upper right). Here each pixel sees exactly
the window ``reach(B)`` = 3 + sum(d) rows up and columns to each side (14 with six
blocks), and as many to its left in its own row: every earlier pixel within it, no other.

No gates: tanh * sigmoid is not piecewise linear, so the exact arithmetic below would
need rounded elementwise transcendental functions (identical on one machine only) and
grid rules for products of two activations; the capped ReLU keeps every unit an integer
on the activation grid. The cap is what makes a deep network exact with fine weights:
with ReLU alone the worst-case bound of a unit multiplies through the layers, and each
layer's shift (``codec.exact.quantize``) falls with it (a 77k-parameter model after two
epochs: the last layers' weights on a 2**-12 grid, coarser as training grows them);
capped, each block adds at most CAP to a stack (|v_b|, |h_b| <= (b + 1) * CAP), and the
same model's weights stay on grids of 2**-22 or finer. Torch applies the same cap
(``families.wide``); trained units stay well below it (the largest ~16 in that model).

As a codec: every pixel's law from all pixels at once (the encoder), or pixel by pixel
(the decoder: at the start of each row the vertical stack's new row, then per pixel the
horizontal stack's new column, from cached rows), coded as 8 binary decisions in raster
order, exactly like the local family (``codec.autoregressive``, ``codec.mixture``).
Every product and partial sum is an integer below 2**52 (``codec.exact.quantize`` per
layer, inputs bounded as above), so both orders give identical numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..codec.autoregressive import binary_pixels
from ..codec.causal import gathered, relu_on_grid
from ..codec.exact import ACTIVATION_BITS, quantize
from ..codec.mixture import mixture_pixels
from ..errors import CodingError
from ..io.images import TILE_SIDE
from ..kinds import Kind
from .config import MAX_LOG_SCALE, MIN_LOG_SCALE, ModelConfig
from .local_coding import LocalCoding, causal_tile_config, check_causal_tile_model

if TYPE_CHECKING:
    from ..checkpoint import Checkpoint

DILATIONS = (1, 2, 1, 4, 1, 2)  # block b's dilation: DILATIONS[(b - 1) % 6]
FIRST = 3  # the first layers' reach: rows -3..-1 and columns -3..+3 (vertical), -3..-1 (horizontal)
CAP = 256.0  # every layer's output: min(relu(y), CAP) (real units)
DEFAULTS = {"hidden": (32,) * 6, "mixture": 5, "features": 16, "width": 0}

# As for the local family: the more images per raster step, the less numpy overhead per image.
WIDE_MAX_BATCH = 500
GRID = 2.0**ACTIVATION_BITS
CHUNK = 25  # tiles a whole pass works on at once: cache-sized arrays (see ``in_chunks``)
CAP_INT = CAP * GRID


@dataclass(frozen=True)
class TapGrid:
    """Taps at rows ``row + i * dilation`` (i < rows) and columns ``column + j * dilation``
    (j < columns) relative to the pixel: weight[:, :, i, j] of a (out, in, rows, columns) kernel."""
    row: int
    rows: int
    column: int
    columns: int
    dilation: int = 1

    def offsets(self) -> list[tuple[int, int]]:
        d = self.dilation
        return [(self.row + i * d, self.column + j * d) for i in range(self.rows) for j in range(self.columns)]


def dilation(block: int) -> int:
    return DILATIONS[(block - 1) % len(DILATIONS)]


def vertical_grid(layer: int) -> TapGrid:
    if layer == 0:
        return TapGrid(-FIRST, FIRST, -FIRST, 2 * FIRST + 1)
    d = dilation(layer)
    return TapGrid(-d, 2, -d, 3, d)


def horizontal_grid(layer: int) -> TapGrid:
    if layer == 0:
        return TapGrid(0, 1, -FIRST, FIRST)
    d = dilation(layer)
    return TapGrid(0, 1, -d, 2, d)


def reach(blocks: int) -> int:
    """Rows up, and columns to either side, that a pixel's law sees."""
    return FIRST + sum(dilation(b) for b in range(1, blocks + 1))


def validate(config: ModelConfig) -> None:
    check_causal_tile_model(config, len(set(config.hidden)) == 1, ", every block as wide (residual sums)",
                            width=True)


def config_from_options(likelihood: str, pixels: int, hidden=None, latent=None, mixture=None, features=None,
                        pixel_floor=0.0, width=None, **unused) -> ModelConfig:
    return causal_tile_config("wide", DEFAULTS, likelihood, pixels, hidden, latent, mixture, features, pixel_floor,
                              width)


def layer_names(config: ModelConfig):
    """(stack, layer, its tap grid, its input channels, its link's channels) of every layer."""
    channels = config.hidden[0]
    for layer in range(len(config.hidden) + 1):
        n_in = 1 if layer == 0 else channels
        yield "vertical", layer, vertical_grid(layer), n_in, 0
        yield "horizontal", layer, horizontal_grid(layer), n_in, channels if layer else 0


def decoder_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of ``families.wide.WideModel``."""
    channels = config.hidden[0]
    shapes = {"features": (config.features, TILE_SIDE, TILE_SIDE)}
    for stack, layer, grid, n_in, link in layer_names(config):
        name = f"{stack}.{layer}"
        shapes[f"{name}.taps.weight"] = (channels, n_in, grid.rows, grid.columns)
        shapes[f"{name}.taps.bias"] = (channels,)
        shapes[f"{name}.features.weight"] = (channels, config.features, 1, 1)
        if link:
            shapes[f"{name}.link.weight"] = (channels, link, 1, 1)
    if config.width:
        shapes["head.weight"] = (config.width, channels, 1, 1)
        shapes["head.bias"] = (config.width,)
    shapes["out.weight"] = (config.local_outputs, config.width or channels, 1, 1)
    shapes["out.bias"] = (config.local_outputs,)
    return shapes


@dataclass(frozen=True)
class WideLayer:
    offsets: list[tuple[int, int]]
    taps: np.ndarray  # (taps, in, out) integer-valued
    link: np.ndarray | None  # (channels, out) integer-valued: the vertical stack's units at the pixel
    bias: np.ndarray  # (positions, out): b_int + f_int @ W_f_int, integer-valued
    shift: int
    real: tuple  # (taps, link, bias) in real units, float32: the estimate's


def exact_layer(weights: dict, name: str, grid: TapGrid, unit: float, bound: float,
                features: np.ndarray, link_bound: float | None = None) -> tuple[WideLayer, float]:
    """A layer on the integer grids at the largest exact shift, and the bound of its
    (capped) output in grid units. Inputs: taps in ``unit`` bounded by ``bound``; the link
    (if ``link_bound`` is given, bounded by it) and the features on the activation grid."""
    weight = np.asarray(weights[f"{name}.taps.weight"], dtype=np.float64)
    taps = [weight[:, :, i, j].T for i in range(grid.rows) for j in range(grid.columns)]
    link = [np.asarray(weights[f"{name}.link.weight"], dtype=np.float64)[:, :, 0, 0].T] \
        if link_bound is not None else []
    feature_weight = np.asarray(weights[f"{name}.features.weight"], dtype=np.float64)[:, :, 0, 0].T
    f_bound = float(np.abs(features).max(initial=0.0))
    ints, b_int, shift, worst = quantize(
        [*taps, *link, feature_weight], [unit] * len(taps) + [1 / GRID] * (len(link) + 1),
        [bound] * len(taps) + [link_bound] * len(link) + [f_bound],
        np.asarray(weights[f"{name}.taps.bias"], dtype=np.float64)[None])
    position_bias = features @ ints[-1] + b_int  # exact: every partial sum is below ``worst``
    tap_ints, link_int = np.stack(ints[:len(taps)]), ints[len(taps)] if link else None
    real = [None if w is None else (w * 2.0**-shift / u).astype(np.float32)
            for w, u in ((tap_ints, unit), (link_int, 1 / GRID), (position_bias, 1))]
    layer = WideLayer(grid.offsets(), tap_ints, link_int, position_bias, shift, tuple(real))
    return layer, min(np.floor(worst * 2.0 ** (ACTIVATION_BITS - shift)), CAP_INT)


class ExactWideNet:
    """Maps tiles of pixels 0..``top`` (B, 784) to exact per-pixel outputs (B, 784, out),
    all at once (``__call__``) or pixel by pixel (``stepper``): identical numbers."""

    def __init__(self, config: ModelConfig, weights: dict):
        self.side, self.top = TILE_SIDE, 255 if config.kind == Kind.GREYSCALE else 1
        features = np.round(np.asarray(weights["features"], dtype=np.float64)
                            .reshape(config.features, TILE_SIDE**2).T * GRID)
        self.vertical, self.horizontal = [], []
        unit, v_bound, h_bound = 1 / self.top, float(self.top), float(self.top)
        for layer in range(len(config.hidden) + 1):
            # a stack's bound grows by its layer's capped output: |v_b|, |h_b| <= (b + 1) * CAP
            v, v_out = exact_layer(weights, f"vertical.{layer}", vertical_grid(layer), unit, v_bound, features)
            v_bound = v_out + (v_bound if layer else 0.0)
            h, h_out = exact_layer(weights, f"horizontal.{layer}", horizontal_grid(layer), unit, h_bound,
                                   features, v_bound if layer else None)
            h_bound = h_out + (h_bound if layer else 0.0)
            self.vertical.append(v)
            self.horizontal.append(h)
            unit = 1 / GRID
        self.head, self.real_head = None, None
        if config.width:  # a capped layer on the activation grid, as the stacks' layers
            self.head, worst = dense(weights, "head", h_bound)
            h_bound = min(np.floor(worst * 2.0 ** (ACTIVATION_BITS - self.head[2])), CAP_INT)
            self.real_head = real_dense(self.head)
        self.out, _ = dense(weights, "out", h_bound)
        self.real_out = real_dense(self.out)
        self.pad = max(abs(o) for layer in self.vertical + self.horizontal for offset in layer.offsets for o in offset)

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """Every pixel's output at once, from whole tiles (the encoder's side)."""
        return in_chunks(self.exact_pass, pixels)

    def exact_pass(self, pixels: np.ndarray) -> np.ndarray:
        count, side = len(pixels), self.side
        x = 2.0 * pixels.reshape(count, side, side, 1) - self.top
        v, h = x, x
        for index, (vertical, horizontal) in enumerate(zip(self.vertical, self.horizontal)):
            v = exact_branch(vertical, v, None, count) + (v if index else 0.0)
            h = exact_branch(horizontal, h, v, count) + (h if index else 0.0)
        return self.outputs(h.reshape(count * side * side, -1)).reshape(count, side * side, -1)

    def outputs(self, h: np.ndarray) -> np.ndarray:
        """The raw laws (n, out) from the horizontal stack's last units (n, channels)."""
        if self.head is not None:
            weight, bias, shift = self.head
            h = np.minimum(relu_on_grid(h @ weight + bias, shift), CAP_INT)
        weight, bias, shift = self.out
        return (h @ weight + bias) * 2.0**-shift

    def approximate(self, pixels: np.ndarray) -> np.ndarray:
        """About the same outputs in float32 without the grids (cost estimates only)."""
        return in_chunks(self.approximate_pass, pixels)

    def approximate_pass(self, pixels: np.ndarray) -> np.ndarray:
        count, side = len(pixels), self.side
        x = ((2.0 * pixels.reshape(count, side, side, 1) - self.top) / self.top).astype(np.float32)
        v, h = x, x
        for index, (vertical, horizontal) in enumerate(zip(self.vertical, self.horizontal)):
            v = real_branch(vertical, v, None, count) + (v if index else 0.0)
            h = real_branch(horizontal, h, v, count) + (h if index else 0.0)
        h = h.reshape(count * side * side, -1)
        if self.real_head is not None:
            weight, bias = self.real_head
            h = np.clip(h @ weight + bias, 0, CAP)
        weight, bias = self.real_out
        return (h @ weight + bias).reshape(count, side * side, -1)

    def stepper(self, count: int) -> "WideSteps":
        return WideSteps(self, count)


def in_chunks(network, pixels: np.ndarray) -> np.ndarray:
    """``network`` over ``CHUNK`` tiles at a time: the same numbers (a tile's laws depend on
    it alone) from working arrays of CHUNK tiles, not of the whole batch (a layer's gathered
    taps are 784 x 192 float64 a tile: 600 MB for a batch of 500)."""
    return np.concatenate([network(pixels[start:start + CHUNK]) for start in range(0, len(pixels), CHUNK)])


def dense(weights: dict, name: str, bound: float) -> tuple[tuple, float]:
    """A 1x1 layer on the grids: (integer weight, integer bias, shift), and the bound of
    its integer output. Input: units on the activation grid bounded by ``bound``."""
    (w,), b_int, shift, worst = quantize([np.asarray(weights[f"{name}.weight"], dtype=np.float64)[:, :, 0, 0].T],
                                         [1 / GRID], [bound], np.asarray(weights[f"{name}.bias"], dtype=np.float64)[None])
    return (w, b_int[0], shift), worst


def real_dense(layer: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The same layer in real units, float32 (the estimate's)."""
    weight, bias, shift = layer
    return (weight * 2.0**-shift * GRID).astype(np.float32), (bias * 2.0**-shift).astype(np.float32)


def exact_branch(layer: WideLayer, source: np.ndarray, link: np.ndarray | None, count: int) -> np.ndarray:
    """A layer's capped output at every pixel of ``count`` tiles (B, side, side, out)."""
    y = gathered(source, layer.offsets) @ layer.taps.reshape(-1, layer.taps.shape[-1])
    if layer.link is not None:
        y += link.reshape(len(y), -1) @ layer.link
    y += np.tile(layer.bias, (count, 1))
    return np.minimum(relu_on_grid(y, layer.shift), CAP_INT, out=y).reshape(source.shape[:3] + (-1,))


def real_branch(layer: WideLayer, source: np.ndarray, link: np.ndarray | None, count: int) -> np.ndarray:
    taps, link_weight, bias = layer.real
    y = gathered(source, layer.offsets) @ taps.reshape(-1, taps.shape[-1])
    if link_weight is not None:
        y += link.reshape(len(y), -1) @ link_weight
    y += np.tile(bias, (count, 1))
    return np.clip(y, 0, CAP, out=y).reshape(source.shape[:3] + (-1,))


class WideSteps:
    """The decoder's side: outputs pixel by pixel in raster order. At the start of a row
    the vertical stack computes that whole row (it sees only rows above, all decoded);
    each pixel then runs the horizontal stack at its one position. Cached: the pixels,
    the vertical stack's last ``RING`` rows per layer (a ring: its taps reach ``d`` rows
    up) and the horizontal stack's current row; zero outside the tile."""

    def __init__(self, net: ExactWideNet, count: int):
        self.net, self.side, self.pad = net, net.side, net.pad
        self.ring = self.pad + 1  # rows r - d .. r stay in the ring for every d <= pad
        width, channels = self.side + 2 * self.pad, net.vertical[0].taps.shape[-1]
        self.pixels = np.zeros((count, self.side + self.pad, width, 1))  # row r at r + pad
        self.vertical = [np.zeros((count, self.ring, width, channels)) for _ in net.vertical]
        self.horizontal = [np.zeros((count, width, channels)) for _ in net.horizontal]

    def law(self, position: int) -> np.ndarray:
        """The outputs at ``position`` (B, out); needs every pixel before it put."""
        row, column = divmod(position, self.side)
        if column == 0:
            self.vertical_row(row)
        pad, at = self.pad, column + self.pad
        for index, layer in enumerate(self.net.horizontal):
            if index == 0:
                taps = self.pixels[:, row + pad, [at + dc for _, dc in layer.offsets], 0]
            else:
                taps = self.horizontal[index - 1][:, [at + dc for _, dc in layer.offsets]]
            y = taps.reshape(len(taps), -1) @ layer.taps.reshape(-1, layer.taps.shape[-1])
            if layer.link is not None:
                y += self.vertical[index][:, row % self.ring, at] @ layer.link
            y += layer.bias[position]
            y = np.minimum(relu_on_grid(y, layer.shift), CAP_INT, out=y)
            self.horizontal[index][:, at] = y + (self.horizontal[index - 1][:, at] if index else 0.0)
        return self.net.outputs(self.horizontal[-1][:, at])

    def vertical_row(self, row: int) -> None:
        """The vertical stack's units along ``row``, every layer (rows above it decoded)."""
        side, pad, count = self.side, self.pad, len(self.pixels)
        for index, layer in enumerate(self.net.vertical):
            if index == 0:
                columns = [self.pixels[:, row + dr + pad, pad + dc:pad + dc + side] for dr, dc in layer.offsets]
            else:
                source = self.vertical[index - 1]
                columns = [source[:, (row + dr) % self.ring, pad + dc:pad + dc + side] for dr, dc in layer.offsets]
            taps = np.concatenate(columns, axis=-1).reshape(count * side, -1)
            y = taps @ layer.taps.reshape(-1, layer.taps.shape[-1])
            y += np.tile(layer.bias[row * side:(row + 1) * side], (count, 1))
            y = np.minimum(relu_on_grid(y, layer.shift), CAP_INT, out=y).reshape(count, side, -1)
            if index:
                y += self.vertical[index - 1][:, row % self.ring, pad:pad + side]
            self.vertical[index][:, row % self.ring, pad:pad + side] = y

    def put(self, position: int, pixels: np.ndarray) -> None:
        row, column = divmod(position, self.side)
        self.pixels[:, row + self.pad, column + self.pad, 0] = 2.0 * pixels - self.net.top


def exact_network(checkpoint: Checkpoint) -> ExactWideNet:
    try:
        return ExactWideNet(checkpoint.config, checkpoint.decoder)
    except (ValueError, OverflowError) as e:
        raise CodingError(f"this model cannot drive the coder: {e}") from None


class WideCoding(LocalCoding):
    """The codec of a batch of 784-pixel tiles for one wide-family checkpoint: the local
    family's autoregressive codec and costs, over the wide exact network."""

    max_batch = WIDE_MAX_BATCH

    def __init__(self, checkpoint: Checkpoint, settings=None):
        """``settings``: ignored; every level codes a model without a latent the same way."""
        self.config = checkpoint.config
        self.net = exact_network(checkpoint)
        self.law = binary_pixels() if self.config.kind == Kind.BINARY else mixture_pixels(
            self.config.mixture, self.config.pixel_floor, MIN_LOG_SCALE, MAX_LOG_SCALE)
