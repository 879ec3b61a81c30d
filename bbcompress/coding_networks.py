"""The VAE's networks as the exact, deterministic callables the coder needs.

Both networks run through ``ExactMLP`` (integer-valued float64 arithmetic), so the
encoder side and the decoder side of an archive compute bit-identical parameters
whatever the thread count, batch size or BLAS. The likelihood heads (sigmoid, clamp)
are elementwise numpy on those exact outputs.
"""
from __future__ import annotations

import numpy as np

from .coder import BernoulliPixels, BitsBack, EqualMassLatents, GridLatents, Logistic256Pixels
from .errors import CodingError
from .exact_mlp import ACTIVATION_BITS, ExactMLP
from .model import MAX_LOG_SCALE, MIN_LOG_SCALE, VAE

LATENT_SCHEMES = ("buckets", "grid")


def make_latents(scheme: str, bits: int):
    if scheme == "buckets":
        return EqualMassLatents(bits)
    if scheme == "grid":
        return GridLatents(bits_per_unit=bits)
    raise CodingError(f"unknown latent scheme {scheme!r}; known: {', '.join(LATENT_SCHEMES)}")


class NetworkFunctions:
    def __init__(self, vae: VAE, z_max: float):
        self.likelihood = vae.config.likelihood
        greyscale = self.likelihood == "logistic256"
        try:
            self.encoder = ExactMLP(vae.encoder.net, 1 / 255 if greyscale else 1.0,
                                    255.0 if greyscale else 1.0)
            self.decoder = ExactMLP(vae.decoder.net, 2.0**-ACTIVATION_BITS,
                                    np.ceil(z_max * 2**ACTIVATION_BITS))
        except ValueError as e:
            raise CodingError(f"this model cannot drive the coder: {e}") from None

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, log_std = np.split(self.encoder(x), 2, axis=-1)
        return mean, np.exp(log_std)

    def decode(self, z: np.ndarray):
        z_int = z * 2.0**ACTIVATION_BITS
        if not np.array_equal(z_int, np.round(z_int)):
            raise CodingError("latent values must lie on the 2**-16 grid")
        out = self.decoder(z_int)
        if self.likelihood == "bernoulli":
            return out
        raw_mean, raw_log_scale = np.split(out, 2, axis=-1)
        with np.errstate(over="ignore"):
            mean = 256.0 / (1.0 + np.exp(-raw_mean)) - 0.5
        return mean, np.clip(raw_log_scale, MIN_LOG_SCALE, MAX_LOG_SCALE)


def bits_back_for(vae: VAE, scheme: str = "buckets", bits: int = 8) -> BitsBack:
    latents = make_latents(scheme, bits)
    networks = NetworkFunctions(vae, latents.z_max)
    pixels = (BernoulliPixels() if vae.config.likelihood == "bernoulli"
              else Logistic256Pixels(vae.config.pixel_floor))
    return BitsBack(networks.encode, networks.decode, latents, pixels, vae.config.latent)
