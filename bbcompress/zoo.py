"""The model zoo: shipped models (the ``models/`` folder, installed as ``bbcompress.models``)
and ``ModelSet``, which answers "which model codes this kind / this archive section".

Shipped names are looked up before paths, so a file in the current folder never
shadows a shipped model, and an archive's model name is only ever a shipped name: an
archive never makes bbcompress open a path.
"""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from .errors import CheckpointError, ModelMismatch
from .kinds import Kind
from .checkpoint import Checkpoint, checkpoint_paths, from_bytes, load_checkpoint

MODELS_ENV = "BBCOMPRESS_MODELS"
# The greyscale default is the fastest of the best: the conv VAE with the local head
# (mnist-greyscale-conv-v1, opt-in) is 0.3-1.9% smaller on validation (level 1..9) but
# decodes 2.4-20x slower (benchmarks/results/throughput-conv-vs-local.md, levels-conv.md).
# Levels from which compress also considers opt-in models (the slow, smaller tier):
# mnist-greyscale-conv-v1 on 500 test digits, 1.0931 bits/dim at level 7 (6 particles)
# against mnist-greyscale-local-v2's ~1.12, decoding 19 images/s on one core
# (levels-conv.md) where the local model decoded 168 (throughput-conv-vs-local.md).
OPT_IN_LEVEL = 7
DEFAULT_MODELS = {Kind.BINARY: "mnist-binary-local-v1", Kind.GREYSCALE: "mnist-greyscale-local-v2"}


def models_folder() -> Path:
    override = os.environ.get(MODELS_ENV)
    if override:
        return Path(override)
    try:
        return Path(str(resources.files("bbcompress.models")))
    except ModuleNotFoundError:  # running from a source tree that was not installed
        return Path(__file__).resolve().parents[1] / "models"


def shipped_cards() -> dict[str, dict]:
    """Name -> card of every shipped model (cards are small: no weights are read)."""
    cards = {}
    for card_path in sorted(models_folder().glob("*.json")):
        try:
            cards[card_path.stem] = json.loads(card_path.read_text())
        except (OSError, ValueError):
            continue
    return cards


def card_kind(card: dict) -> Kind | None:
    likelihood = card.get("config", {}).get("likelihood") if isinstance(card, dict) else None
    return Kind.of_likelihood(likelihood) if likelihood in ("bernoulli", "logistic256") else None


def load_shipped(name: str) -> Checkpoint:
    if name not in shipped_cards():
        known = ", ".join(shipped_cards()) or "none installed"
        raise CheckpointError(f"unknown model {name!r}: not a shipped model (shipped: {known})")
    return load_checkpoint(models_folder() / name)


def resolve_model(name_or_path: str) -> Checkpoint:
    """A shipped model by name, else a checkpoint by path (NAME, NAME.json, NAME.safetensors)."""
    if name_or_path in shipped_cards():
        return load_shipped(name_or_path)
    weights, card = checkpoint_paths(name_or_path)
    if not (weights.exists() or card.exists()):
        known = ", ".join(shipped_cards()) or "none installed"
        raise CheckpointError(f"unknown model {name_or_path!r}: not a shipped model (shipped: "
                              f"{known}) nor a checkpoint path")
    return load_checkpoint(name_or_path)


def validation_bpd(card: dict) -> float:
    """A card's best validation rate (over its encoders), or infinity if it has none."""
    rates = [r for r in (card.get("valid_bpd_by_encoder") or {}).values() if isinstance(r, (int, float))]
    return min(rates, default=card.get("valid_bpd") if isinstance(card.get("valid_bpd"), (int, float)) else float("inf"))


def undominated(cards: dict[str, dict]) -> list[str]:
    """The models no other one beats on validation among those made on the same data: on
    the test sets a beaten model never won an image (benchmarks/results/zoo-*.md: every
    image went to the best model of its data, or to a classic codec), and estimating it
    cost a one-image compress a third of its time (the MLP VAEs' 9.6 MB of weights)."""
    best: dict[str, float] = {}
    for card in cards.values():
        best[card.get("data")] = min(best.get(card.get("data"), float("inf")), validation_bpd(card))
    return [name for name, card in cards.items() if validation_bpd(card) <= best[card.get("data")]]


def offered_at(card: dict, level: int) -> bool:
    """Whether a shipped model is a candidate at ``level``: not retired, and opt-in ones
    only from OPT_IN_LEVEL."""
    return not card.get("retired") and (not card.get("opt_in") or level >= OPT_IN_LEVEL)


def beaten_at(cards: dict[str, dict], level: int) -> dict[str, str]:
    """Name -> the model that beats it on validation on the same data, for each model
    offered at ``level`` that compress does not estimate there."""
    offered = {name: card for name, card in cards.items() if offered_at(card, level)}
    kept = undominated(offered)
    best = {offered[name].get("data"): name for name in kept}
    return {name: best[card.get("data")] for name, card in offered.items() if name not in kept}


def beaten_below_opt_in(cards: dict[str, dict]) -> dict[str, str]:
    """``beaten_at`` below OPT_IN_LEVEL (opt-in and retired models aside)."""
    return beaten_at(cards, OPT_IN_LEVEL - 1)


def never_estimated(cards: dict[str, dict]) -> dict[str, str]:
    """Name -> the model estimated instead, for each model compress estimates at no
    level: one beaten below OPT_IN_LEVEL, or an opt-in one beaten from it (by a better
    opt-in model of its data)."""
    from_opt_in = {name: by for name, by in beaten_at(cards, OPT_IN_LEVEL).items() if cards[name].get("opt_in")}
    return {**beaten_below_opt_in(cards), **from_opt_in}


class ModelSet:
    """Models offered by the user (``--model``, one per kind) over the shipped defaults."""

    def __init__(self, offered: list[str] | tuple[str, ...] = ()):
        self.offered: dict[Kind, tuple[str, Checkpoint]] = {}
        for name in offered:
            checkpoint = resolve_model(name)
            self.offered[checkpoint.config.kind] = (name, checkpoint)
        self.shipped: dict[str, Checkpoint] = {}
        self.embedded: dict[str, Checkpoint] = {}

    @classmethod
    def of(cls, **checkpoints: Checkpoint) -> "ModelSet":
        """A set of checkpoints already in memory, by name (benchmarks and tests)."""
        models = cls()
        for name, checkpoint in checkpoints.items():
            models.offered[checkpoint.config.kind] = (name, checkpoint)
        return models

    def shipped_model(self, name: str) -> Checkpoint:
        if name not in self.shipped:
            self.shipped[name] = load_shipped(name)
        return self.shipped[name]

    def for_kind(self, kind: Kind) -> tuple[str, Checkpoint]:
        """(name, checkpoint) of the default model for images of ``kind``."""
        if kind in self.offered:
            return self.offered[kind]
        return DEFAULT_MODELS[kind], self.shipped_model(DEFAULT_MODELS[kind])

    def candidates(self, kind: Kind, level: int = 1) -> list[tuple[str, Checkpoint]]:
        """The models compress may choose from for an image of ``kind`` at ``level``: the
        one offered, or every shipped model of that kind not marked retired (the default
        first), opt-in ones only from OPT_IN_LEVEL: a model much slower to code than the
        defaults for a small gain in size is the top levels' tier (or asked for by name,
        ``-m``). A model beaten on validation by another candidate made on the same data
        is not estimated (see ``undominated``): at the top levels an opt-in model that
        beats the default on its data replaces it."""
        if kind in self.offered:
            return [self.offered[kind]]
        cards = {name: card for name, card in shipped_cards().items()
                 if card_kind(card) == kind and offered_at(card, level)}
        names = sorted(undominated(cards), key=lambda name: name != DEFAULT_MODELS[kind])
        return [(name, self.shipped_model(name)) for name in names] or [self.for_kind(kind)]

    def named(self, name: str) -> Checkpoint:
        """A model this set coded with, by the name it was given."""
        offered = {n: checkpoint for n, checkpoint in self.offered.values()}
        return offered[name] if name in offered else self.shipped_model(name)

    def with_embedded(self, models) -> "ModelSet":
        """A copy of this set with the models an archive carries (``EmbeddedModel``s),
        verified; this set is unchanged."""
        copy = ModelSet()
        copy.offered, copy.shipped = self.offered, self.shipped  # shared: the same models
        copy.embedded = {**self.embedded, **{
            model.name: from_bytes(model.card, model.weights, f"embedded model {model.name!r}")
            for model in models}}
        return copy

    def for_section(self, kind: Kind, name: str) -> Checkpoint:
        """The model to decode a section written with model ``name``: the one offered for
        its kind, else the one the archive carries, else the shipped model of that name
        (never a path)."""
        if kind in self.offered:
            return self.offered[kind][1]
        if name in self.embedded:
            return self.embedded[name]
        if name not in shipped_cards():
            raise ModelMismatch(f"this archive was written with model {name!r}, which is not a "
                                f"shipped model: offer its checkpoint to decode it")
        return self.shipped_model(name)
