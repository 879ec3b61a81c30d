"""A causal local network over square tiles, bit-exact like ``exact.ExactMLP``.

Layer l computes, at each pixel, from its causal taps (the pixels or hidden units at
fixed offsets before it in raster order; zero outside the tile) and per-position
features f:

    y_int = sum_taps h_tap @ W_tap + f_int @ W_f + b_int        (all integer-valued)

A convolution, masked or not, is a matmul over gathered taps, and every product and
partial sum is an integer below 2**52, so the result is the same whatever the order of
the sums: the encoder evaluates all pixels at once, the decoder one pixel at a time in
raster order (each a matmul over the gathered taps), and both get identical integers. Hidden units are floored to the 2**-ACTIVATION_BITS grid after the
ReLU, as in ``ExactMLP``. Pixels x in 0..L (L = 255, or 1 for binary images) enter as
integers a = 2x - L (real a / L, in [-1, 1]; zero outside the tile).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .exact import ACTIVATION_BITS, quantize


def causal_offsets(kernel: int, centre: bool) -> list[tuple[int, int]]:
    """(row, column) offsets of the taps before the centre in raster order."""
    half = kernel // 2
    rows = [(dr, dc) for dr in range(-half, 0) for dc in range(-half, half + 1)]
    return rows + [(0, dc) for dc in range(-half, 1 if centre else 0)]


@dataclass(frozen=True)
class CausalLayer:
    offsets: list[tuple[int, int]]
    taps: np.ndarray  # (taps, in, out) integer-valued
    bias: np.ndarray  # (positions, out): b_int + f_int @ W_f_int, integer-valued
    shift: int
    relu: bool


class ExactCausalNet:
    """Maps tiles of pixels 0..``top`` (B, side*side) to exact per-pixel outputs (B, side*side, out).

    ``layers`` are (tap weights (out, in, k, k), bias (out,), feature weights (out, C),
    kernel k, centre) of the masked layers in order, ``out`` the final 1x1 (weight (out, in),
    bias); ``features`` (side*side, C) are on the 2**-ACTIVATION_BITS grid (integers f_int).
    """

    def __init__(self, side: int, top: int, layers, out, features: np.ndarray,
                 added_bound: float = 0.0):
        self.side, self.top = side, top
        self.features = features
        # maps added per image (``biases``) may reach ``added_bound``: the weights must allow it
        f_bound = float(np.abs(features).max(initial=0.0)) + added_bound
        unit, bound, self.layers, self.float_layers, self.feature_weights = 1 / top, float(top), [], [], []
        for tap_weight, bias, feature_weight, kernel, centre in layers:
            offsets = causal_offsets(kernel, centre)
            taps = [tap_weight[:, :, dr + kernel // 2, dc + kernel // 2].T for dr, dc in offsets]
            ints, b_int, shift, worst = quantize(
                [*taps, np.asarray(feature_weight).T], [unit] * len(taps) + [2.0**-ACTIVATION_BITS],
                [bound] * len(taps) + [f_bound], np.asarray(bias, dtype=np.float64)[None])
            position_bias = features @ ints[-1] + b_int  # exact: integers below 2**52
            self.feature_weights.append((ints[-1], b_int))
            self.layers.append(CausalLayer(offsets, np.stack(ints[:-1]), position_bias, shift, True))
            self.float_layers.append(float_layer(self.layers[-1], unit))
            unit, bound = 2.0**-ACTIVATION_BITS, np.floor(worst * 2.0 ** (ACTIVATION_BITS - shift))
        (w,), b_int, shift, _ = quantize([np.asarray(out[0]).T], [unit], [bound],
                                         np.asarray(out[1], dtype=np.float64)[None])
        self.out = CausalLayer([(0, 0)], w[None], b_int, shift, False)
        self.float_out = float_layer(self.out, unit)

    def biases(self, added: np.ndarray) -> list[np.ndarray]:
        """Each layer's per-image position bias (N, positions, out) when the integer maps
        ``added`` (N, positions, C), |added| <= added_bound, join the learned ones: exact."""
        maps = self.features[None] + added
        return [maps @ weight + b_int for weight, b_int in self.feature_weights]

    def __call__(self, pixels: np.ndarray, biases: list[np.ndarray] | None = None) -> np.ndarray:
        """Every pixel's output at once, from the whole tiles (the encoder's side);
        ``biases`` per image from ``biases()``, else the learned maps'."""
        count, side = len(pixels), self.side
        h = 2.0 * pixels.reshape(count, side, side, 1) - self.top
        for index, layer in enumerate(self.layers):
            y = gathered(h, layer.offsets) @ layer.taps.reshape(-1, layer.taps.shape[-1])
            y += layer_bias(layer, biases, index, count)
            h = relu_on_grid(y, layer.shift).reshape(count, side, side, -1)
        out = h.reshape(count * side * side, -1) @ self.out.taps[0] + self.out.bias[0]
        return out.reshape(count, side * side, -1) * 2.0**-self.out.shift

    def approximate(self, pixels: np.ndarray) -> np.ndarray:
        """About the same outputs as calling the net, in float32 without the grids: ~3x
        faster, for cost estimates only (it never decides a bit of the stream)."""
        count, side = len(pixels), self.side
        h = (2.0 * pixels.reshape(count, side, side, 1) - self.top).astype(np.float32) / self.top
        for layer, (weight, bias) in zip(self.layers, self.float_layers):
            y = gathered(h, layer.offsets) @ weight
            y += np.tile(bias, (count, 1))
            h = np.maximum(y, 0, out=y).reshape(count, side, side, -1)
        weight, bias = self.float_out
        return (h.reshape(count * side * side, -1) @ weight + bias[0]).reshape(count, side * side, -1)

    def stepper(self, count: int, biases: list[np.ndarray] | None = None) -> "RasterSteps":
        return RasterSteps(self, count, biases)


def layer_bias(layer: CausalLayer, biases: list[np.ndarray] | None, index: int, count: int) -> np.ndarray:
    """The layer's bias at every pixel of ``count`` tiles, flat: learned, or per image."""
    if biases is None:
        return np.tile(layer.bias, (count, 1))
    return biases[index].reshape(-1, layer.bias.shape[-1])


def float_layer(layer: CausalLayer, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """A layer's weights and bias in real units (float32): inputs real, outputs real."""
    scale = 2.0**-layer.shift
    weight = layer.taps.reshape(-1, layer.taps.shape[-1]) * (scale / unit)
    return weight.astype(np.float32), (layer.bias * scale).astype(np.float32)


def relu_on_grid(y: np.ndarray, shift: int) -> np.ndarray:
    """relu(y_int * 2**-shift) floored to the activation grid, as integers (in place)."""
    y *= 2.0 ** (ACTIVATION_BITS - shift)
    return np.maximum(np.floor(y, out=y), 0, out=y)


def gathered(h: np.ndarray, offsets) -> np.ndarray:
    """Each pixel's taps at ``offsets`` side by side (tap-major): (B * rows * columns, taps * C)."""
    columns = np.concatenate([shifted(h, dr, dc) for dr, dc in offsets], axis=-1)
    return columns.reshape(-1, columns.shape[-1])


def shifted(h: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """h at (row + dr, column + dc) for every pixel, zero outside: (B, rows, columns, C)."""
    out = np.zeros_like(h)
    height, width = h.shape[1:3]
    if abs(dr) >= height or abs(dc) >= width:  # every tap outside the image
        return out
    rows, cols = slice(max(-dr, 0), height - max(dr, 0)), slice(max(-dc, 0), width - max(dc, 0))
    src_rows, src_cols = slice(max(dr, 0), height + min(dr, 0)), slice(max(dc, 0), width + min(dc, 0))
    out[:, rows, cols] = h[:, src_rows, src_cols]
    return out


class RasterSteps:
    """The decoder's side: outputs pixel by pixel in raster order, each step from the
    pixels already decoded (``put``) and the hidden units of earlier steps."""

    def __init__(self, net: ExactCausalNet, count: int, biases: list[np.ndarray] | None = None):
        self.net, self.side = net, net.side
        self.biases = biases if biases is not None else [layer.bias[None] for layer in net.layers]
        self.pad = max(max(abs(d) for o in layer.offsets for d in o) for layer in net.layers)
        width = self.side + 2 * self.pad
        channels = [1] + [layer.taps.shape[-1] for layer in net.layers]
        # padded buffers: the input of each layer, zero outside the tile (real 0)
        self.buffers = [np.zeros((count, (self.side + self.pad) * width, c)) for c in channels]
        self.width = width

    def index(self, position: int, dr: int = 0, dc: int = 0) -> int:
        row, col = divmod(position, self.side)
        return (row + dr + self.pad) * self.width + col + dc + self.pad

    def law(self, position: int) -> np.ndarray:
        """The outputs at ``position`` (B, out); needs pixels before it put."""
        for layer, bias, source, target in zip(self.net.layers, self.biases, self.buffers, self.buffers[1:]):
            taps = source[:, [self.index(position, dr, dc) for dr, dc in layer.offsets]]
            y = taps.reshape(len(taps), -1) @ layer.taps.reshape(-1, layer.taps.shape[-1])
            y += bias[:, position]
            target[:, self.index(position)] = relu_on_grid(y, layer.shift)
        h = self.buffers[-1][:, self.index(position)]
        return (h @ self.net.out.taps[0] + self.net.out.bias[0]) * 2.0**-self.net.out.shift

    def put(self, position: int, pixels: np.ndarray) -> None:
        self.buffers[0][:, self.index(position), 0] = 2.0 * pixels - self.net.top
