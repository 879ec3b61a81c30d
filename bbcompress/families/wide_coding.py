"""The wide family: a causal network whose context is a whole window of the tile, no latent.

Two stacks of causal convolutions, as in the gated PixelCNN (without its gates), so the
receptive field has no blind spot:

    vertical   v_0 = cap(taps of x, rows -3..-1, columns -3..+3)            sees rows above only
               v_b = v_{b-1} + cap(taps of v_{b-1}, rows {-d, 0}, columns {-d, 0, +d})
    horizontal h_0 = cap(taps of x, row 0, columns -3..-1)                   sees the row to the left
               h_b = h_{b-1} + cap(taps of h_{b-1}, row 0, columns {-d, 0} + U_b v_b)
    out        = 1x1(h_B) -> K weights, K means, K log-scales per pixel (binary: one logit)
                 or, with ``width`` W > 0, 1x1(cap(1x1(h_B) -> W units)) -> the same;
                 with ``predictor`` "linear", each mean is in input units, plus P_k x
                 (``predictor_offsets``: the 24 pixels of the first layers' taps), and its
                 level 127.5 (1 + mean) clipped (``codec.pixels.linear_mean``)

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

As a codec: every pixel's law from all pixels at once (the encoder), or a wavefront at
a time (the decoder, ``WavefrontSteps``: step t decodes pixel (r, t - 15 r) of every row
r, 433 steps for a tile instead of 784, from units cached in rings of rows), coded as 8
binary decisions per pixel, step by step (``codec.autoregressive`` with groups,
``codec.mixture``).
Every product and partial sum is an integer below 2**52 (``codec.exact.quantize`` per
layer, inputs bounded as above), so both orders give identical numbers.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..codec.autoregressive import autoregressive
from ..codec.causal import gathered, relu_on_grid
from ..codec.core import Codec
from ..codec.exact import ACTIVATION_BITS, quantize
from ..errors import CodingError
from ..io.images import TILE_SIDE
from ..kinds import Kind
from .config import ModelConfig
from .local_coding import LocalCoding, causal_tile_config, check_causal_tile_model
from .local_coding import in_chunks as in_chunks_reporting

if TYPE_CHECKING:
    from ..checkpoint import Checkpoint

DILATIONS = (1, 2, 1, 4, 1, 2)  # block b's dilation: DILATIONS[(b - 1) % 6]
CONTEXTS = ("", "cone")  # "": the window above (slope 15); "cone": no right taps in the vertical rows (slope 4)
# "": each mean 256 sigmoid(out) - 0.5; "linear": in input units, out + a linear map of the
# nearest pixels. Photos' levels follow their neighbours': a network of capped ReLUs learns
# that identity only slowly through a sigmoid (a fixed LOCO-I predictor with 16 scales
# coded photos-64's test crops in 3.28 bits/px where the sigmoid model was at 3.76 after 8 epochs).
PREDICTORS = ("", "linear")
FIRST = 3  # the first layers' reach: rows -3..-1 and columns -3..+3 (vertical), -3..-1 (horizontal)
CAP = 256.0  # every layer's output: min(relu(y), CAP) (real units)
MIN_CROP = 8  # a position-free model's smallest training crop
DEFAULTS = {"hidden": (32,) * 6, "mixture": 5, "features": 16, "width": 0}

# As for the local family: the more images per raster step, the less numpy overhead per image.
WIDE_MAX_BATCH = 500
RING_BUDGET = 512 << 20  # bytes of the decoder's rings a batch may take (``batch_for``)
GRID = 2.0**ACTIVATION_BITS
CHUNK_PIXELS = 25 * 784  # pixels of whole tiles a pass works on at once (``in_chunks``): 25 digits
BAND_PIXELS = 1 << 16  # pixels (of all images) a whole pass works on at once: ~100 MB of taps
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


def vertical_grid(layer: int, cone: bool = False) -> TapGrid:
    """Rows -d and 0 (its own row: units that saw only rows above); a cone, row -d only."""
    if layer == 0:
        return TapGrid(-FIRST, FIRST, -FIRST, 2 * FIRST + 1)
    d = dilation(layer)
    return TapGrid(-d, 1 if cone else 2, -d, 3, d)


def horizontal_grid(layer: int) -> TapGrid:
    if layer == 0:
        return TapGrid(0, 1, -FIRST, FIRST)
    d = dilation(layer)
    return TapGrid(0, 1, -d, 2, d)


def predictor_mask() -> np.ndarray:
    """(FIRST + 1, 2 FIRST + 1): 1 at the pixels a linear predictor reads, rows -FIRST..0
    and columns -FIRST..FIRST relative to the pixel: the rows above, and the row's left."""
    mask = np.ones((FIRST + 1, 2 * FIRST + 1))
    mask[FIRST, FIRST:] = 0.0
    return mask


def predictor_offsets() -> list[tuple[int, int]]:
    """(row, column) offsets of the pixels a linear predictor reads, row-major."""
    return [(int(i) - FIRST, int(j) - FIRST) for i, j in zip(*np.nonzero(predictor_mask()))]


def reach(blocks: int) -> int:
    """Rows up, and columns to either side, that a pixel's law sees."""
    return FIRST + sum(dilation(b) for b in range(1, blocks + 1))


def validate(config: ModelConfig) -> None:
    """A tile model; or, without learned maps (no position), one trained on square crops
    of another size (``pixels``: the crops'), which codes images of any size."""
    position_free = config.features == 0
    if config.features and config.pixels != TILE_SIDE**2:
        raise ValueError("learned maps are 28x28: a wide model trained on other crops takes --features 0")
    if position_free and (side_of(config) ** 2 != config.pixels or side_of(config) < MIN_CROP):
        raise ValueError(f"the wide family trains on square crops of at least {MIN_CROP}x{MIN_CROP} pixels")
    check_causal_tile_model(config, len(set(config.hidden)) == 1, ", every block as wide (residual sums)",
                            width=True, any_size=position_free)
    if config.predictor and config.kind != Kind.GREYSCALE:
        raise ValueError("a linear predictor makes the means of 8-bit pixels: binary models have none")


def side_of(config: ModelConfig) -> int:
    """The side of the square images a model is trained on."""
    return math.isqrt(config.pixels)


def config_from_options(likelihood: str, pixels: int, hidden=None, latent=None, mixture=None, features=None,
                        pixel_floor=0.0, width=None, context=None, predictor=None, **unused) -> ModelConfig:
    config = causal_tile_config("wide", DEFAULTS, likelihood, pixels, hidden, latent, mixture, features,
                                pixel_floor, width)
    return dataclasses.replace(config, context=context or "", predictor=predictor or "")


def layer_names(config: ModelConfig):
    """(stack, layer, its tap grid, its input channels, its link's channels) of every layer."""
    channels = config.hidden[0]
    for layer in range(len(config.hidden) + 1):
        n_in = 1 if layer == 0 else channels
        yield "vertical", layer, vertical_grid(layer, config.context == "cone"), n_in, 0
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
    if config.predictor:
        shapes["predictor.weight"] = (config.mixture, 1, *predictor_mask().shape)
    return shapes


@dataclass(frozen=True)
class WideLayer:
    offsets: list[tuple[int, int]]
    taps: np.ndarray  # (taps, in, out) integer-valued
    link: np.ndarray | None  # (channels, out) integer-valued: the vertical stack's units at the pixel
    bias: np.ndarray  # (positions, out): b_int + f_int @ W_f_int, integer-valued; (1, out) without maps
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
    # per position (exact: every partial sum is below ``worst``); without maps one row, any size
    position_bias = features @ ints[-1] + b_int if features.shape[1] else b_int
    tap_ints, link_int = np.stack(ints[:len(taps)]), ints[len(taps)] if link else None
    real = [None if w is None else (w * 2.0**-shift / u).astype(np.float32)
            for w, u in ((tap_ints, unit), (link_int, 1 / GRID), (position_bias, 1))]
    layer = WideLayer(grid.offsets(), tap_ints, link_int, position_bias, shift, tuple(real))
    return layer, min(np.floor(worst * 2.0 ** (ACTIVATION_BITS - shift)), CAP_INT)


class ExactWideNet:
    """Maps tiles of pixels 0..``top`` (B, 784) to exact per-pixel outputs (B, 784, out),
    all at once (``__call__``) or a wavefront at a time (``stepper``): identical numbers.
    A model without learned maps sees no position: ``shaped`` gives it for images of any
    size (B, rows * columns)."""

    def __init__(self, config: ModelConfig, weights: dict):
        self.top = 255 if config.kind == Kind.GREYSCALE else 1
        self.position_free = config.features == 0
        features = np.round(np.asarray(weights["features"], dtype=np.float64)
                            .reshape(config.features, TILE_SIDE**2).T * GRID)
        self.vertical, self.horizontal = [], []
        unit, v_bound, h_bound = 1 / self.top, float(self.top), float(self.top)
        for layer in range(len(config.hidden) + 1):
            # a stack's bound grows by its layer's capped output: |v_b|, |h_b| <= (b + 1) * CAP
            v, v_out = exact_layer(weights, f"vertical.{layer}", vertical_grid(layer, config.context == "cone"),
                                   unit, v_bound, features)
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
        self.predictor_offsets = predictor_offsets() if config.predictor else []
        self.out, self.out_predictor = output_layer(weights, config, h_bound, self.top)
        self.real_out = real_dense(self.out)
        self.real_predictor = None if self.out_predictor is None else \
            (self.out_predictor * 2.0 ** -self.out[2] * self.top).astype(np.float32)
        self.pad = max(abs(o) for offsets in [*(layer.offsets for layer in self.vertical + self.horizontal),
                                              self.predictor_offsets] for offset in offsets for o in offset)
        self.reach, self.slope, self.leads = reach(len(config.hidden)), *wavefront_pace(config)
        self.rows = self.columns = TILE_SIDE
        self.groups = wavefront(self.rows, self.columns, self.slope)

    def shaped(self, rows: int, columns: int) -> "ExactWideNet":
        """The same network for images of ``rows`` x ``columns`` pixels (a model without
        learned maps: its laws depend on no position)."""
        if not self.position_free and (rows, columns) != (TILE_SIDE, TILE_SIDE):
            raise CodingError("a wide model with learned maps codes 28x28 tiles only")
        net = copy.copy(self)
        net.rows, net.columns = rows, columns
        net.groups = wavefront(rows, columns, self.slope)
        return net

    def __call__(self, pixels: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Every pixel's output at once, from whole tiles (the encoder's side). Pixels
        outside ``mask`` (an edge tile's padding) count as outside the image: zero input,
        as beyond the tile, not black (which a tile's edge in training never was)."""
        return in_chunks(self.exact_pass, pixels, mask)

    def exact_pass(self, pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.in_bands(self.exact_band, pixels, mask)

    def exact_band(self, images: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Outputs (B, r, c, out) of images (B, r, c), zero above and around them and,
        with every layer's units, outside ``mask``."""
        inside = mask[..., None]  # every layer's units outside the mask are zero, as beyond the tile
        x = (2.0 * images[..., None] - self.top) * inside
        v, h = x, x
        for index, (vertical, horizontal) in enumerate(zip(self.vertical, self.horizontal)):
            v = (exact_branch(vertical, v, None) + (v if index else 0.0)) * inside
            h = (exact_branch(horizontal, h, v) + (h if index else 0.0)) * inside
        return self.outputs(h.reshape(-1, h.shape[-1]), self.predicted_from(x)).reshape(images.shape + (-1,))

    def predicted_from(self, x: np.ndarray) -> np.ndarray | None:
        """The predictor's pixels of every pixel of inputs (B, r, c, 1): (B r c, taps)."""
        return gathered(x, self.predictor_offsets) if self.predictor_offsets else None

    def in_bands(self, band_pass, pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``band_pass`` over bands of rows of at most ``BAND_PIXELS`` pixels (B, P) ->
        (B, P, out). A band is run with the ``reach`` rows above it, which its laws see; the
        units of those rows lack their own context above, but no law of the band reads them
        beyond what they do see (each layer reaches up no further than the band's laws do)."""
        count = len(pixels)
        images, mask = pixels.reshape(count, self.rows, self.columns), mask.reshape(count, self.rows, self.columns)
        band = max(1, BAND_PIXELS // (count * self.columns))
        laws = []
        for top in range(0, self.rows, band):
            above = max(0, top - self.reach)
            laws.append(band_pass(images[:, above:top + band], mask[:, above:top + band])[:, top - above:])
        return np.concatenate(laws, axis=1).reshape(count, self.rows * self.columns, -1)

    def outputs(self, h: np.ndarray, predicted: np.ndarray | None = None) -> np.ndarray:
        """The raw laws (n, out) from the horizontal stack's last units (n, channels) and,
        with a predictor, the inputs it reads (n, taps)."""
        if self.head is not None:
            weight, bias, shift = self.head
            h = np.minimum(relu_on_grid(h @ weight + bias, shift), CAP_INT)
        weight, bias, shift = self.out
        y = h @ weight
        if predicted is not None:
            y += predicted @ self.out_predictor
        return (y + bias) * 2.0**-shift

    def approximate(self, pixels: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """About the same outputs in float32 without the grids (cost estimates only)."""
        return in_chunks(self.approximate_pass, pixels, mask)

    def approximate_pass(self, pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.in_bands(self.approximate_band, pixels, mask)

    def approximate_band(self, images: np.ndarray, mask: np.ndarray) -> np.ndarray:
        inside = mask[..., None].astype(np.float32)
        x = ((2.0 * images[..., None] - self.top) / self.top).astype(np.float32) * inside
        v, h = x, x
        for index, (vertical, horizontal) in enumerate(zip(self.vertical, self.horizontal)):
            v = (real_branch(vertical, v, None) + (v if index else 0.0)) * inside
            h = (real_branch(horizontal, h, v) + (h if index else 0.0)) * inside
        h = h.reshape(-1, h.shape[-1])
        if self.real_head is not None:
            weight, bias = self.real_head
            h = np.clip(h @ weight + bias, 0, CAP)
        weight, bias = self.real_out
        y = h @ weight + bias
        if self.real_predictor is not None:
            y += self.predicted_from(x) @ self.real_predictor
        return y.reshape(images.shape + (-1,))

    def stepper(self, count: int, mask: np.ndarray | None = None) -> "WavefrontSteps":
        return WavefrontSteps(self, count, mask)


def in_chunks(network, pixels: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``network`` over as many tiles at a time as hold CHUNK_PIXELS (at least one): the
    same numbers (a tile's laws depend on it alone) from cache-sized working arrays, not
    the whole batch's (a layer's gathered taps are 784 x 192 float64 a digit: 600 MB for a
    batch of 500). 25 digits a chunk coded 500 in 12.2 s where the whole batch took 15.5."""
    mask = np.ones(pixels.shape, dtype=bool) if mask is None else mask
    chunk = max(1, CHUNK_PIXELS // pixels.shape[1])
    return np.concatenate([network(pixels[start:start + chunk], mask[start:start + chunk])
                           for start in range(0, len(pixels), chunk)])


def dense(weights: dict, name: str, bound: float) -> tuple[tuple, float]:
    """A 1x1 layer on the grids: (integer weight, integer bias, shift), and the bound of
    its integer output. Input: units on the activation grid bounded by ``bound``."""
    (w,), b_int, shift, worst = quantize([np.asarray(weights[f"{name}.weight"], dtype=np.float64)[:, :, 0, 0].T],
                                         [1 / GRID], [bound], np.asarray(weights[f"{name}.bias"], dtype=np.float64)[None])
    return (w, b_int[0], shift), worst


def output_layer(weights: dict, config: ModelConfig, bound: float, top: int) -> tuple[tuple, np.ndarray | None]:
    """The output layer on the grids, (integer weight, integer bias, shift), and with a
    linear predictor its integer weights (taps, out) on the same shift (zero but for the
    means); inputs: units on the activation grid bounded by ``bound``, pixels 2 x - top."""
    if not config.predictor:
        return dense(weights, "out", bound)[0], None
    k, mask = config.mixture, predictor_mask()
    taps = np.asarray(weights["predictor.weight"], dtype=np.float64)[:, 0][:, mask > 0].T  # (taps, K)
    predictor = np.zeros((len(taps), config.local_outputs))
    predictor[:, k:2 * k] = taps
    (w, p), b_int, shift, _ = quantize([np.asarray(weights["out.weight"], dtype=np.float64)[:, :, 0, 0].T, predictor],
                                       [1 / GRID, 1 / top], [bound, float(top)],
                                       np.asarray(weights["out.bias"], dtype=np.float64)[None])
    return (w, b_int[0], shift), p


def real_dense(layer: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The same layer in real units, float32 (the estimate's)."""
    weight, bias, shift = layer
    return (weight * 2.0**-shift * GRID).astype(np.float32), (bias * 2.0**-shift).astype(np.float32)


def exact_branch(layer: WideLayer, source: np.ndarray, link: np.ndarray | None) -> np.ndarray:
    """A layer's capped output at every pixel of images (B, rows, columns, out)."""
    y = gathered(source, layer.offsets) @ layer.taps.reshape(-1, layer.taps.shape[-1])
    if layer.link is not None:
        y += link.reshape(len(y), -1) @ layer.link
    y.reshape(len(source), -1, y.shape[-1])[...] += layer.bias  # per position, or one row
    return np.minimum(relu_on_grid(y, layer.shift), CAP_INT, out=y).reshape(source.shape[:3] + (-1,))


def real_branch(layer: WideLayer, source: np.ndarray, link: np.ndarray | None) -> np.ndarray:
    taps, link_weight, bias = layer.real
    y = gathered(source, layer.offsets) @ taps.reshape(-1, taps.shape[-1])
    if link_weight is not None:
        y += link.reshape(len(y), -1) @ link_weight
    y.reshape(len(source), -1, y.shape[-1])[...] += bias
    return np.clip(y, 0, CAP, out=y).reshape(source.shape[:3] + (-1,))


class WavefrontSteps:
    """The decoder's side: pixels in wavefront order, a whole group per step (``wavefront``):
    step t decodes pixel (r, t - slope r) of every row at once, so a tile takes 433 steps
    instead of 784, each vectorized over its rows and the batch.

    Why the order is causal: a pixel's law needs its row's earlier pixels and the rows
    above up to ``reach`` columns to its right; with slope = reach + 1 the row above is
    that far ahead. The vertical stack's layer b runs ``leads[b]`` columns ahead of its
    row's pixels (its taps reach ``d`` columns right in its own row, where layer b - 1
    already is), so every unit is computed once, from units computed before it.

    Cached in rings of rows (a row's slot is reused once no row still reads it): the
    pixels and every layer's units, so memory follows the image's width, not its height.
    A last, never-written slot stands for the zero rows above the tile."""

    def __init__(self, net: ExactWideNet, count: int, mask: np.ndarray | None = None):
        self.net, self.columns, self.pad, self.count = net, net.columns, net.pad, count
        self.mask = np.ones((count, net.rows * net.columns), dtype=bool) if mask is None else mask
        self.masked = not self.mask.all()
        # rows in flight (ahead by the leads) and the ``pad`` rows above them that they read
        self.ring = ring_rows(net)
        # (slot, column, image, channel): a gathered tap is one contiguous block per pixel
        width, channels = self.columns + 2 * self.pad, net.vertical[0].taps.shape[-1]
        self.pixels = np.zeros((self.ring + 1, width, count, 1))
        self.vertical = [np.zeros((self.ring + 1, width, count, channels)) for _ in net.vertical]
        self.horizontal = [np.zeros((self.ring + 1, width, count, channels)) for _ in net.horizontal]
        self.time = -net.leads[0] - 1  # the last step whose vertical units are computed
        # the slot of rows -pad .. rows - 1 (at index row + pad): rows above at the zero slot
        every = np.arange(-self.pad, net.rows)
        self.slot_table = np.where(every >= 0, every % self.ring, self.ring)
        self.all_rows = np.arange(net.rows)

    def slots(self, rows: np.ndarray) -> np.ndarray:
        """Ring slots of ``rows`` (at least -pad); rows above the tile at the zero slot."""
        return self.slot_table[rows + self.pad]

    def law_of(self, group: np.ndarray) -> np.ndarray:
        """The outputs (B, g, out) at the pixels of ``group`` (one wavefront step), from
        the groups before it (``put_all``)."""
        rows, columns = np.divmod(group, self.columns)
        step = columns[0] + self.net.slope * rows[0]
        while self.time < step:
            self.time += 1
            self.vertical_step(self.time)
        slots, at = self.slots(rows), columns + self.pad
        for index, layer in enumerate(self.net.horizontal):
            source = self.horizontal[index - 1] if index else self.pixels
            y = self.layer_at(layer, self.taps_at(source, rows, at, layer.offsets), group)
            if layer.link is not None:
                y += self.vertical[index][slots, at] @ layer.link
            y = np.minimum(relu_on_grid(y, layer.shift), CAP_INT, out=y)
            self.horizontal[index][slots, at] = self.inside(y + (self.horizontal[index - 1][slots, at] if index else 0.0),
                                                            group)
        h = self.horizontal[-1][slots, at]  # (g, B, channels)
        predicted = None
        if self.net.predictor_offsets:  # the pixels it reads, decoded in earlier steps
            predicted = self.taps_at(self.pixels, rows, at, self.net.predictor_offsets)
            predicted = predicted.reshape(-1, predicted.shape[-1])
        return self.net.outputs(h.reshape(-1, h.shape[-1]), predicted).reshape(
            len(group), self.count, -1).transpose(1, 0, 2)

    def taps_at(self, source: np.ndarray, rows: np.ndarray, at: np.ndarray, offsets) -> np.ndarray:
        """``source`` (a ring) at each (row, column) offset from the pixels at ``rows`` and
        ring columns ``at``, side by side (g, B, taps x channels). One gather for every
        tap: a gather per tap was a fifth of a small image's decoding."""
        down, right = offset_arrays(tuple(offsets))
        found = source[self.slots(rows[:, None] + down), at[:, None] + right]  # (g, taps, B, channels)
        groups, taps, count, channels = found.shape
        return found.transpose(0, 2, 1, 3).reshape(groups, count, taps * channels)

    def layer_at(self, layer: WideLayer, gathered: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """A layer's sums before the cap (g, B, out) at ``positions``, from its taps
        ``gathered`` there (``taps_at``)."""
        y = gathered @ layer.taps.reshape(-1, layer.taps.shape[-1])
        y += (layer.bias if len(layer.bias) == 1 else layer.bias[positions])[:, None]
        return y

    def vertical_step(self, step: int) -> None:
        """Every layer of the vertical stack, each at ``leads[layer]`` columns ahead of the
        pixels of ``step``: rows above are decoded that far."""
        for index, (layer, lead) in enumerate(zip(self.net.vertical, self.net.leads)):
            ahead, slope = step + lead, self.net.slope  # row r is at column ahead - slope r
            rows = self.all_rows[max(0, -(-(ahead - self.columns + 1) // slope)):max(0, ahead // slope + 1)]
            if not len(rows):
                continue
            columns = ahead - slope * rows
            source = self.vertical[index - 1] if index else self.pixels
            at = columns + self.pad
            y = self.layer_at(layer, self.taps_at(source, rows, at, layer.offsets), rows * self.columns + columns)
            y = np.minimum(relu_on_grid(y, layer.shift), CAP_INT, out=y)
            slots = self.slots(rows)
            self.vertical[index][slots, at] = self.inside(y + (self.vertical[index - 1][slots, at] if index else 0.0),
                                                          rows * self.columns + columns)

    def inside(self, units: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Units (n, B, C) at ``positions``, zero where they lie outside the mask."""
        return units * self.mask[:, positions].T[..., None] if self.masked else units

    def put_all(self, group: np.ndarray, pixels: np.ndarray) -> None:
        """The decoded pixels (B, g) of ``group``."""
        rows, columns = np.divmod(group, self.columns)
        inputs = (2.0 * pixels - self.net.top) * self.mask[:, group]  # outside the mask: zero, as in the whole pass
        self.pixels[self.slots(rows), columns + self.pad, :, 0] = inputs.T


@functools.lru_cache(maxsize=64)
def offset_arrays(offsets: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    """(row offsets, column offsets) of a layer's taps, as arrays."""
    down, right = zip(*offsets)
    return np.array(down), np.array(right)


def ring_rows(net: ExactWideNet) -> int:
    """Rows a decoder's rings keep. A unit (or pixel) of row q, column c is read last by
    row q + d <= q + pad, at a column within d (+ the next layer's dilation) of c, so at
    most d (slope + 1) + pad steps after it was written; the row that reuses its slot,
    q + ring, writes column c ring x slope steps after row q did. So pad + 1 +
    ceil(2 pad / slope) rows suffice whatever the width (a ring of pad + 1 still decodes
    the window above exactly; pad alone does not)."""
    return net.pad + 1 + -(-2 * net.pad // net.slope)


def batch_for(net: ExactWideNet) -> int:
    """The most tiles a batch decodes within RING_BUDGET (at most WIDE_MAX_BATCH): each
    tile keeps ``ring_rows`` + 1 rows of every layer's units, both stacks, float64."""
    channels, layers = net.vertical[0].taps.shape[-1], len(net.vertical) + len(net.horizontal)
    per_tile = (ring_rows(net) + 1) * (net.columns + 2 * net.pad) * 8 * (channels * layers + 1)
    return max(1, min(WIDE_MAX_BATCH, RING_BUDGET // per_tile))


@functools.lru_cache(maxsize=32)
def wavefront(rows: int, columns: int, slope: int) -> tuple[np.ndarray, ...]:
    """The pixels (raster indices) of each step: (r, t - slope r) for every row r (steps
    with none left out). Cached: choosing tiles asks it for every image."""
    r = np.arange(rows)
    groups = []
    for step in range(columns + slope * (rows - 1)):
        c = step - slope * r
        inside = (c >= 0) & (c < columns)
        if inside.any():  # narrower than the slope: some steps decode nothing
            groups.append(r[inside] * columns + c[inside])
    return tuple(groups)


def wavefront_pace(config: ModelConfig) -> tuple[int, list[int]]:
    """(slope, leads) of the wavefront. A pixel's law sees the row above as far right as
    the vertical stack reaches: ``reach`` columns (its units read their own row ``d``
    columns right, so layer b runs ``leads[b]`` columns ahead of its row's pixels); in a
    cone only the first layer's 3 (each later layer reads ``d`` rows up and ``d`` right,
    which a slope of 4 keeps decoded): 4 columns a row, every layer at its pixel."""
    blocks = len(config.hidden)
    if config.context == "cone":
        return FIRST + 1, [0] * (blocks + 1)
    return reach(blocks) + 1, leads(blocks)


def leads(blocks: int) -> list[int]:
    """How many columns ahead of its row's pixels each vertical layer runs: layer b - 1
    must be ``d`` columns ahead of layer b, whose taps read it ``d`` columns right."""
    ahead = [reach(blocks) - FIRST]
    for block in range(1, blocks + 1):
        ahead.append(ahead[-1] - dilation(block))
    return ahead


def exact_network(checkpoint: Checkpoint) -> ExactWideNet:
    try:
        return ExactWideNet(checkpoint.config, checkpoint.decoder)
    except (ValueError, OverflowError) as e:
        raise CodingError(f"this model cannot drive the coder: {e}") from None


class WideCoding(LocalCoding):
    """The codec of a batch of 784-pixel tiles for one wide-family checkpoint: the local
    family's autoregressive codec and costs, over the wide exact network."""

    network = staticmethod(exact_network)

    def __init__(self, checkpoint: Checkpoint, settings=None):
        """``settings``: ignored; every level codes a model without a latent the same way."""
        super().__init__(checkpoint, settings)
        self.max_batch = batch_for(self.net)

    def codec(self, mask: np.ndarray, warm: bool = False) -> Codec:
        return autoregressive(lambda x: self.laws(x, mask), lambda count: self.net.stepper(count, mask),
                              self.law, mask, self.net.groups)

    def laws(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Raw laws (B, P, out) of every pixel; pixels outside ``mask`` count as outside
        the image (``ExactWideNet.__call__``)."""
        return in_chunks_reporting(lambda pixels, masks: self.net(pixels, masks[0]), x, [mask], reporting=True)

    def approximate_laws(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return in_chunks_reporting(lambda pixels, masks: self.net.approximate(pixels, masks[0]), x, [mask])

    @property
    def whole_images(self) -> bool:
        """Whether it codes tiles of any size (no learned maps: no position)."""
        return self.net.position_free

    def tile_steps(self, side: int) -> int:
        """Sequential steps a batch of ``side`` x ``side`` tiles decodes in."""
        return len(wavefront(side, side, self.net.slope))

    def for_tiles(self, side: int) -> "WideCoding":
        """The codec of ``side`` x ``side`` tiles, as many a batch as the decoder's rings
        hold within RING_BUDGET."""
        coding = self.shaped(side, side)
        coding.max_batch = batch_for(coding.net)
        return coding

    def shaped(self, rows: int, columns: int) -> "WideCoding":
        """The codec of whole images of ``rows`` x ``columns`` pixels (B, rows * columns),
        for a model without learned maps."""
        coding = copy.copy(self)
        coding.net = self.net.shaped(rows, columns)
        return coding
