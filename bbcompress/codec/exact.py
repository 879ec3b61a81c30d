"""Bit-exact evaluation of a ReLU MLP, the same on every machine, thread count and batch.

Bits-back coding needs the encoder and decoder networks to give *identical* floats on
both sides. Float matmuls do not: BLAS sums in an order that depends on threads, batch
size and CPU. Here every layer computes on integer-valued float64 matrices instead:

    y_int = W_int @ a_int + b_int,   W_int = round(W * unit_in * 2**t),  b_int = round(b * 2**t)

so y = y_int * 2**-t. Each product and partial sum is an integer below 2**53, which
float64 represents exactly, so any summation order (and any FMA) gives the same result.
``t`` is chosen per layer from a worst-case bound on |y_int|. After ReLU, activations are
floored to the grid ``2**-ACTIVATION_BITS`` (a power-of-two scaling: exact).
Quantization steps are ~1e-8 for weights and 2**-16 for activations: far below what
changes a coding rate. Plain numpy: any BLAS gives the same integers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVATION_BITS = 16
EXACT_LIMIT = 2.0**52  # keep |y_int| below this: exact integers in float64 with a margin


@dataclass(frozen=True)
class ExactLayer:
    weight: np.ndarray  # (in, out), integer-valued float64, transposed for a @ W
    bias: np.ndarray  # (out,), integer-valued float64
    shift: int  # t: the output is y_int * 2**-t
    relu: bool


class ExactMLP:
    """Maps integer-valued inputs (N, in) in units of ``input_unit`` to exact outputs.

    ``linears`` are the (weight (out, in), bias (out,)) pairs of a ReLU MLP in order."""

    def __init__(self, linears: list[tuple[np.ndarray, np.ndarray]], input_unit: float,
                 input_bound: float):
        self.input_unit = input_unit
        self.layers = quantize_layers(linears, input_unit, input_bound)
        self.linears = linears  # kept for the backward pass, quantized on first use
        self.backward_weights: list[tuple[np.ndarray, int]] | None = None

    def __call__(self, a_int: np.ndarray) -> np.ndarray:
        return self.forward(a_int)[0]

    def forward(self, a_int: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """(outputs, the hidden activations' ReLU masks) — the masks feed ``backward``."""
        a, masks = np.ascontiguousarray(a_int, dtype=np.float64), []
        for layer in self.layers:
            y = a @ layer.weight
            y += layer.bias
            if not layer.relu:
                y *= 2.0 ** -layer.shift
                return y, masks
            # floor(relu(y) * c) == max(floor(y * c), 0): in place, no temporaries
            y *= 2.0 ** (ACTIVATION_BITS - layer.shift)
            a = np.maximum(np.floor(y, out=y), 0, out=y)
            masks.append(a > 0)
        raise AssertionError("an MLP ends with a linear layer")

    def backward(self, grad_out: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
        """d(loss)/d(input) (real units), from d(loss)/d(outputs): exact.

        Each layer multiplies integer-valued gradients (rounded per row to 2**GRAD_BITS
        levels of the row's largest value: a power-of-two scale, so rows never mix) by
        integer-valued weights whose column sums stay below 2**WEIGHT_SUM_BITS: every sum
        is exact, and the result the same under any batch, thread count or BLAS. The
        floor of each activation counts as identity (straight-through).
        """
        if self.backward_weights is None:
            self.backward_weights = [backward_weights(w) for w, _ in self.linears]
        grad = grad_out
        for index in reversed(range(len(self.layers))):
            weight, shift = self.backward_weights[index]
            levels, exponent = rows_on_grid(grad)
            grad = (levels @ weight) * np.exp2(-exponent - shift)[:, None]
            if index:
                grad *= masks[index - 1]
        return grad


GRAD_BITS = 20  # gradient levels per row in the backward pass
WEIGHT_SUM_BITS = 31  # |weights| summed over a layer's outputs: 20 + 31 < 52, exact


def backward_weights(weight: np.ndarray) -> tuple[np.ndarray, int]:
    """(W_int (out, in), r): W ~ W_int * 2**-r with every column sum of |W_int| < 2**31."""
    w = np.asarray(weight, dtype=np.float64)
    largest = float(np.abs(w).sum(axis=0).max()) or 1.0
    shift = WEIGHT_SUM_BITS - 1 - int(np.frexp(largest)[1])
    return np.ascontiguousarray(np.round(w * 2.0**shift)), shift


def rows_on_grid(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(integers, e) with values ~ integers * 2**-e per row, |integers| <= 2**GRAD_BITS."""
    largest = np.abs(values).max(axis=1)
    exponent = GRAD_BITS - np.frexp(np.where(largest > 0, largest, 1.0))[1]
    return np.round(values * np.exp2(exponent)[:, None]), exponent.astype(np.float64)


def quantize_layers(linears, input_unit: float, input_bound: float) -> list[ExactLayer]:
    layers, unit, bound = [], input_unit, input_bound  # bound: max |a_int|
    for index, (weight, bias) in enumerate(linears):
        layer = quantize_linear(weight, bias, unit, bound, relu=index < len(linears) - 1)
        layers.append(layer)
        worst = float((np.abs(layer.weight).sum(0) * bound + np.abs(layer.bias)).max())
        bound = np.floor(worst * 2.0 ** (ACTIVATION_BITS - layer.shift))
        unit = 2.0**-ACTIVATION_BITS
    return layers


def quantize_linear(weight: np.ndarray, bias: np.ndarray, unit: float, bound: float,
                    relu: bool) -> ExactLayer:
    """A linear layer (weight (out, in)) at the largest exact shift (a one-row bias)."""
    (w_int,), b_int, shift, _ = quantize([np.asarray(weight, dtype=np.float64).T], [unit], [bound],
                                         np.asarray(bias, dtype=np.float64)[None, :])
    return ExactLayer(np.ascontiguousarray(w_int), b_int[0], shift, relu)


def quantize(weights: list[np.ndarray], units: list[float], bounds: list[float],
             bias: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, int, float]:
    """Integer weights (one (in, out) block per input group, each in its own unit and
    bounded by its own |a_int|) and bias at the largest exact shift; and |y_int|'s bound."""
    scaled = [np.asarray(w, dtype=np.float64) * u for w, u in zip(weights, units)]
    real = sum(np.abs(w).sum(0) * b for w, b in zip(scaled, bounds)) + np.abs(bias).max(0)
    shift = int(np.floor(np.log2(EXACT_LIMIT / ((float(real.max()) + 1.0) * 1.01))))
    while True:  # rounding can add up to half a unit per weight: re-check
        ints = [np.round(w * 2.0**shift) for w in scaled]
        b_int = np.round(np.asarray(bias, dtype=np.float64) * 2.0**shift)
        worst = sum(np.abs(w).sum(0) * b for w, b in zip(ints, bounds)) + np.abs(b_int).max(0)
        if float(worst.max()) < EXACT_LIMIT:
            return ints, b_int, shift, float(worst.max())
        shift -= 1

