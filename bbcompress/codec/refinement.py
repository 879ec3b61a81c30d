"""Per-image refinement of a Gaussian posterior q(z|x) = N(mean, std^2), bit-exactly.

Starting from the encoder's (mean, log std), ``steps`` Adam steps on the image's own
one-sample -ELBO: -log p(x|z) at z = mean + std * eps (a fixed eps per step, the same on
both sides) plus the analytic KL to N(0, I). The decoder repeats exactly the same steps
once it has decoded x, so both sides end at the same q: every operation is elementwise
IEEE arithmetic on values that are themselves reproducible, or an exact matmul
(``ExactMLP.backward``), and rows (images) never mix.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

NOISE_SEED = 0xBBC5
LEARNING_RATE = 0.02
BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
LOG_STD_RANGE = (-12.0, 3.0)
Z_RANGE = 8.0  # samples beyond this many units are clipped (the exact decoder's input bound)


class Refinement:
    def __init__(self, steps: int, latent_dims: int, z_max: float = Z_RANGE):
        self.steps = steps
        self.z_max = z_max
        self.noise = np.random.default_rng(NOISE_SEED).standard_normal((steps, latent_dims))

    def run(self, mean: np.ndarray, log_std: np.ndarray,
            loss_grad: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(mean, log std) after the steps; ``loss_grad(z)`` is d(-log p(x|z))/dz per image."""
        params = [mean.copy(), np.clip(log_std, *LOG_STD_RANGE)]
        moments = [[np.zeros_like(mean), np.zeros_like(mean)] for _ in params]
        for step, eps in enumerate(self.noise, start=1):
            std = np.exp(params[1])
            z = np.clip(params[0] + std * eps, -self.z_max, self.z_max)
            grad_z = loss_grad(z)
            grads = (grad_z + params[0], grad_z * std * eps + std * std - 1.0)  # + KL(q || N(0, I))
            for value, grad, (m, v) in zip(params, grads, moments):
                adam_step(value, grad, m, v, step)
            np.clip(params[1], *LOG_STD_RANGE, out=params[1])
        return params[0], params[1]


def adam_step(value: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, step: int) -> None:
    b1, b2 = BETAS
    m *= b1
    m += (1 - b1) * grad
    v *= b2
    v += (1 - b2) * grad * grad
    value -= LEARNING_RATE * (m / (1 - b1**step)) / (np.sqrt(v / (1 - b2**step)) + ADAM_EPS)
