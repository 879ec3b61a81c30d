"""The one vocabulary for what a model codes: binary or greyscale images."""
from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    BINARY = "binary"  # 1-bit pixels (0/1), Bernoulli laws
    GREYSCALE = "greyscale"  # 8-bit pixels (0..255), discretized logistics

    @property
    def likelihood(self) -> str:
        return LIKELIHOOD_OF_KIND[self]

    @classmethod
    def of_likelihood(cls, likelihood: str) -> "Kind":
        return {v: k for k, v in LIKELIHOOD_OF_KIND.items()}[likelihood]


LIKELIHOOD_OF_KIND = {Kind.BINARY: "bernoulli", Kind.GREYSCALE: "logistic256"}
