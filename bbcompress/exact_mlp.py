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
changes a coding rate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

ACTIVATION_BITS = 16
EXACT_LIMIT = 2.0**52  # keep |y_int| below this: exact integers in float64 with a margin


@dataclass(frozen=True)
class ExactLayer:
    weight: torch.Tensor  # (in, out), integer-valued float64, transposed for x @ W
    bias: torch.Tensor  # (out,), integer-valued float64
    shift: int  # t: the output is y_int * 2**-t
    relu: bool


class ExactMLP:
    """Maps integer-valued inputs (N, in) in units of ``input_unit`` to exact outputs."""

    def __init__(self, net: nn.Sequential, input_unit: float, input_bound: float):
        self.input_unit = input_unit
        self.layers = quantize_layers(net, input_unit, input_bound)

    def __call__(self, a_int: np.ndarray) -> np.ndarray:
        a = torch.from_numpy(np.ascontiguousarray(a_int, dtype=np.float64))
        for layer in self.layers:
            y = torch.addmm(layer.bias, a, layer.weight)
            if not layer.relu:
                return y.mul_(2.0 ** -layer.shift).numpy()
            # floor(relu(y) * c) == max(floor(y * c), 0): in place, no temporaries
            a = y.mul_(2.0 ** (ACTIVATION_BITS - layer.shift)).floor_().clamp_(min=0)
        raise AssertionError("an MLP ends with a linear layer")


def quantize_layers(net: nn.Sequential, input_unit: float, input_bound: float) -> list[ExactLayer]:
    linears = [m for m in net if isinstance(m, nn.Linear)]
    others = [m for m in net if not isinstance(m, (nn.Linear, nn.ReLU))]
    if others:
        raise ValueError("exact evaluation supports ReLU MLPs only "
                         f"(found {type(others[0]).__name__})")
    layers, unit, bound = [], input_unit, input_bound  # bound: max |a_int|
    for index, linear in enumerate(linears):
        relu = index < len(linears) - 1
        layer = quantize_linear(linear, unit, bound, relu)
        layers.append(layer)
        worst = float((layer.weight.abs().sum(0) * bound + layer.bias.abs()).max())
        bound = np.floor(worst * 2.0 ** (ACTIVATION_BITS - layer.shift))
        unit = 2.0**-ACTIVATION_BITS
    return layers


def quantize_linear(linear: nn.Linear, unit: float, bound: float, relu: bool) -> ExactLayer:
    w = linear.weight.detach().double().T * unit
    b = linear.bias.detach().double()
    real_bound = float((w.abs().sum(0) * bound + b.abs()).max()) + 1.0
    shift = int(np.floor(np.log2(EXACT_LIMIT / (real_bound * 1.01))))
    while True:  # the rounding of W can add up to in_features * bound / 2: re-check
        w_int, b_int = torch.round(w * 2.0**shift), torch.round(b * 2.0**shift)
        if float((w_int.abs().sum(0) * bound + b_int.abs()).max()) < EXACT_LIMIT:
            return ExactLayer(w_int.contiguous(), b_int, shift, relu)
        shift -= 1
