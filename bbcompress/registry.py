"""Shipped models (the ``models/`` folder, installed as ``bbcompress.models``) and
lookup of a model by shipped name or by checkpoint path."""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from .checkpoint import Checkpoint, checkpoint_paths, load_checkpoint
from .errors import CheckpointError

MODELS_ENV = "BBCOMPRESS_MODELS"
DEFAULT_MODELS = {"binary": "mnist-binary", "greyscale": "mnist-greyscale"}
KIND_OF_LIKELIHOOD = {"bernoulli": "binary", "logistic256": "greyscale"}


def models_folder() -> Path:
    override = os.environ.get(MODELS_ENV)
    if override:
        return Path(override)
    try:
        return Path(str(resources.files("bbcompress.models")))
    except ModuleNotFoundError:  # running from a source tree that was not installed
        return Path(__file__).resolve().parent.parent / "models"


def shipped_cards() -> dict[str, dict]:
    """Name -> card of every shipped model (cards are small: no weights are read)."""
    cards = {}
    for card_path in sorted(models_folder().glob("*.json")):
        try:
            cards[card_path.stem] = json.loads(card_path.read_text())
        except (OSError, ValueError):
            continue
    return cards


def kind_of(checkpoint: Checkpoint) -> str:
    return KIND_OF_LIKELIHOOD[checkpoint.config.likelihood]


def resolve_model(name_or_path: str) -> Checkpoint:
    """A shipped model by name, or a checkpoint by path (NAME, NAME.json, NAME.safetensors)."""
    weights, card = checkpoint_paths(name_or_path)
    if card.exists() or weights.exists():
        return load_checkpoint(name_or_path)
    shipped = models_folder() / name_or_path
    if name_or_path in shipped_cards():
        return load_checkpoint(shipped)
    known = ", ".join(shipped_cards()) or "none installed"
    raise CheckpointError(f"unknown model {name_or_path!r}: not a checkpoint path nor a shipped "
                          f"model (shipped: {known})")


def default_model(kind: str) -> str:
    return DEFAULT_MODELS[kind]
