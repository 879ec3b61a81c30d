"""Settings of training and refinement runs: plain values, no torch (the CLI reads
its defaults from here)."""
from __future__ import annotations

from dataclasses import dataclass

SCHEDULES = ("constant", "cosine")
COSINE_END = 0.01  # a cosine schedule's last rate, as a fraction of the first


@dataclass(frozen=True)
class TrainConfig:
    data: str
    epochs: int = 1000
    checkpoint_every: int = 100
    batch_size: int = 100
    lr: float = 1e-3
    seed: int = 0
    validation: int = 0  # hold out the last N training images to choose the epoch on
    dynamic_binarization: bool = False  # re-draw binary training images every epoch
    free_bits: float = 0.0  # conv family: nats per latent dim the KL counts as at least
    head_from: str | None = None  # conv family with a head: start it from this local model
    schedule: str = "constant"  # the learning rate over the epochs: constant, or cosine
    start_from: str | None = None  # start every weight from this model of the same configuration

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}: {', '.join(SCHEDULES)}")
        if self.start_from and self.head_from:
            raise ValueError("--start-from sets every weight: leave --head-from out")


METHODS = ("self-consistent", "optimal")
MODEL_SAMPLES = ("prior", "posterior")


@dataclass(frozen=True)
class RefineConfig:
    method: str
    data: str
    split: str = "train"  # the images the encoder is fitted to (optimal: the evaluation split)
    epochs: int = 100
    alpha: float = 0.5
    model_samples: str = "prior"
    batch_size: int = 100
    lr: float = 1e-3
    seed: int = 0
    start: str = "amortized"

    def __post_init__(self):
        if self.method not in METHODS or self.model_samples not in MODEL_SAMPLES:
            raise ValueError("unknown refinement method or sample source")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError("alpha must lie in [0, 1]")
