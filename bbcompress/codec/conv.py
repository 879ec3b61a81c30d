"""Bit-exact convolutional networks, the same on every machine, thread count and batch.

A convolution is a matmul over gathered patches (im2col); a transposed convolution of
stride s is s*s such matmuls, one per output phase over the kernel taps that reach it
(the taps of its equivalent, flipped convolution over the input with zeros between the
pixels, without the products with those zeros); a linear layer is a plain matmul. Each runs on integer-valued float64 arrays as in ``exact.ExactMLP``:

    y_int = patches_int @ W_int + b_int       (every product and partial sum < 2**52)

so the sums are exact in any order; hidden units are floored to the 2**-ACTIVATION_BITS
grid after the ReLU. Maps are (N, H, W, C); a linear layer reads its input in torch's
(C, H, W) flattening order and may hand a (C, H, W) map on. No torch here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .causal import relu_on_grid, shifted
from .exact import quantize
from .exact import ACTIVATION_BITS


@dataclass(frozen=True)
class ConvSpec:
    """One layer: ``kind`` conv, tconv or linear; ``shape`` the (C, H, W) a linear layer
    hands on (None: a flat vector)."""
    kind: str
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    shape: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class ExactConvLayer:
    spec: ConvSpec
    weight: np.ndarray  # (patch, out) integer-valued
    bias: np.ndarray  # (1, out) integer-valued
    shift: int


def patch_matrix(weight: np.ndarray, kind: str) -> np.ndarray:
    """The (patch, out) matrix of a torch weight, patches laid out (kh, kw, C_in)."""
    w = np.asarray(weight, dtype=np.float64)
    if kind == "linear":
        return w.T
    if kind == "tconv":  # (C_in, C_out, k, k) -> the equivalent conv's (C_out, C_in, k, k), flipped
        w = np.flip(w, axis=(2, 3)).transpose(1, 0, 2, 3)
    return w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0])


def patches(h: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """Each output position's input patch, (N * H_out * W_out, k * k * C)."""
    pad = spec.padding
    padded = np.pad(h, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (spec.kernel, spec.kernel), axis=(1, 2))
    windows = windows[:, ::spec.stride, ::spec.stride]  # (N, H_out, W_out, C, k, k)
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, spec.kernel**2 * h.shape[-1])


def phase_taps(spec: ConvSpec, phase: int) -> list[tuple[int, int]]:
    """(input offset, kernel index of the flipped conv) of the taps that reach output rows
    phase, phase + s, ...: output s*m + phase reads input m + offset."""
    k, s, p = spec.kernel, spec.stride, spec.padding
    return [((phase + p - kk) // s, k - 1 - kk) for kk in range(k) if (phase + p - kk) % s == 0]


def transposed(h: np.ndarray, weight: np.ndarray, bias: np.ndarray, spec: ConvSpec) -> np.ndarray:
    """y_int of a transposed conv whose output is exactly ``stride`` times its input,
    (N, s H, s W, out), phase by phase; the same integers as the zero-filled conv."""
    count, side, _, channels = h.shape
    s = spec.stride
    if spec.kernel - 2 * spec.padding != s:
        raise ValueError("transposed convolutions must scale their input by their stride exactly")
    out = np.empty((count, s * side, s * side, weight.shape[-1]))
    for a in range(s):
        for b in range(s):
            taps = [(dr, dc, i * spec.kernel + j) for dr, i in phase_taps(spec, a) for dc, j in phase_taps(spec, b)]
            columns = np.concatenate([shifted(h, dr, dc) for dr, dc, _ in taps], axis=-1)
            rows = np.concatenate([np.arange(t * channels, (t + 1) * channels) for *_, t in taps])
            y = columns.reshape(-1, len(rows)) @ weight[rows] + bias
            out[:, a::s, b::s] = y.reshape(count, side, side, -1)
    return out


class ExactConvNet:
    """Maps integer-valued inputs (in units of ``input_unit``, |values| <= ``input_bound``)
    through ``layers``: (ConvSpec, torch weight, bias) in order, ReLU between them. The
    input is (N, H, W, C) maps, or (N, features) for a net that starts with a linear layer.
    The last layer's output is returned in real units: (N, out) or (N, H, W, out).
    ``input_shape``: each input row is reshaped to it (flat tiles to (H, W, 1) maps)."""

    def __init__(self, layers, input_unit: float, input_bound: float, input_shape: tuple | None = None):
        self.input_shape = input_shape
        self.layers: list[ExactConvLayer] = []
        unit, bound = input_unit, input_bound
        for spec, weight, bias in layers:
            (w,), b_int, shift, worst = quantize([patch_matrix(weight, spec.kind)], [unit], [bound],
                                                 np.asarray(bias, dtype=np.float64)[None])
            self.layers.append(ExactConvLayer(spec, np.ascontiguousarray(w), b_int, shift))
            unit, bound = 2.0**-ACTIVATION_BITS, np.floor(worst * 2.0 ** (ACTIVATION_BITS - shift))
        self.output_bound = worst * 2.0**-shift  # |real output| never exceeds it

    def __call__(self, a_int: np.ndarray) -> np.ndarray:
        h = np.asarray(a_int, dtype=np.float64)
        if self.input_shape is not None:
            h = h.reshape(len(h), *self.input_shape)
        for index, layer in enumerate(self.layers):
            y, shape = self.linear_part(h, layer)
            if index == len(self.layers) - 1:
                return (y * 2.0**-layer.shift).reshape(shape)
            h = relu_on_grid(y, layer.shift).reshape(shape)
        raise AssertionError("a net has layers")

    @staticmethod
    def linear_part(h: np.ndarray, layer: ExactConvLayer) -> tuple[np.ndarray, tuple]:
        """y_int and the shape it takes: (N, out), (N, H, W, out) or a linear layer's map."""
        spec, count = layer.spec, len(h)
        if spec.kind == "linear":
            flat = h.transpose(0, 3, 1, 2).reshape(count, -1) if h.ndim == 4 else h
            y = flat @ layer.weight + layer.bias
            if spec.shape is None:
                return y, y.shape
            return y.reshape(count, *spec.shape).transpose(0, 2, 3, 1).copy(), (count, *spec.shape[1:], spec.shape[0])
        if spec.kind == "tconv":
            y = transposed(h, layer.weight, layer.bias, spec)
            return y, y.shape
        y = patches(h, spec) @ layer.weight
        y += layer.bias
        side = int(round((y.shape[0] // count) ** 0.5))
        return y, (count, side, side, y.shape[-1])
