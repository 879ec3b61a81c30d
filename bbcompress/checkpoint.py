"""Checkpoints: one decoder and any number of named encoders, without pickle or torch.

A checkpoint is two files side by side:
- ``NAME.safetensors``: tensors ``decoder.*`` and ``encoder.<encoder name>.*``;
- ``NAME.json``: the card: format tag, VAE configuration, training data and epoch,
  rates, how each encoder was made, the sha256 of the decoder tensors (encoders are
  bound to it) and of the weights file (checked on every load).
Weights are numpy arrays here; ``model.vae`` turns them into torch modules for training.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from .errors import CheckpointError
from .io.atomic import atomic_write_bytes
from .families.config import ModelConfig

FORMAT = "bbcompress-checkpoint"
VERSION = 1
State = dict[str, np.ndarray]
# Fingerprints hash dtype names as torch spelled them when the first archives were made.
DTYPE_NAMES = {np.dtype(np.float32): "torch.float32", np.dtype(np.float64): "torch.float64",
               np.dtype(np.float16): "torch.float16", np.dtype(np.int64): "torch.int64"}
# What a loaded checkpoint's weights may be: every model ever saved is float32 (checked on
# the shipped ones); float64 is what a double-precision training run saves. Other dtypes
# (and non-finite values) would reach the exact networks as garbage or crash them.
WEIGHT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def tensors_sha256(tensors: State) -> str:
    """A hash of tensor names, dtypes, shapes and bytes, independent of file layout."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = np.ascontiguousarray(tensors[name])
        digest.update(f"{name}|{DTYPE_NAMES[t.dtype]}|{tuple(t.shape)}|".encode())
        digest.update(t.astype(t.dtype.newbyteorder("<"), copy=False).tobytes())
    return digest.hexdigest()


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, card) for a path given as NAME, NAME.json or NAME.safetensors."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".json", ".safetensors") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


@dataclass
class Checkpoint:
    config: ModelConfig
    decoder: State
    encoders: dict[str, State]
    encoder_info: dict[str, dict] = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # data, epoch, rates: free-form but JSON

    @property
    def decoder_sha256(self) -> str:
        return tensors_sha256(self.decoder)

    @property
    def default_encoder(self) -> str:
        if not self.config.has_latent:
            return "none"
        return recommended_encoder(self.info, self.encoders)

    def has_encoder(self, name: str) -> bool:
        return name in self.encoders or not self.config.has_latent

    def encoder(self, name: str) -> State:
        if not self.config.has_latent:
            return {}  # a model without a latent has no encoder: every name means none
        if name not in self.encoders:
            raise CheckpointError(f"no encoder {name!r} in this checkpoint; "
                                  f"it has: {', '.join(sorted(self.encoders))}")
        return self.encoders[name]

    def fingerprint(self, encoder: str = "amortized") -> str:
        """Identifies the weights a coder uses: the decoder and one encoder."""
        tensors = {f"decoder.{k}": v for k, v in self.decoder.items()}
        tensors.update({f"encoder.{k}": v for k, v in self.encoder(encoder).items()})
        return tensors_sha256(tensors)

    def add_encoder(self, name: str, state: State, info: dict, decoder_sha256: str) -> None:
        """Attach an encoder trained against the decoder whose hash is given."""
        if decoder_sha256 != self.decoder_sha256:
            raise CheckpointError(f"encoder {name!r} was trained against another decoder "
                                  f"({decoder_sha256[:12]}), not this one ({self.decoder_sha256[:12]})")
        self.encoders[name] = dict(state)
        self.encoder_info[name] = {**info, "decoder_sha256": decoder_sha256}

    def to_bytes(self) -> tuple[dict, bytes]:
        """(card, safetensors bytes): what ``save`` writes and ``from_bytes`` reads."""
        tensors = {f"decoder.{k}": v for k, v in self.decoder.items()}
        for name, state in self.encoders.items():
            tensors.update({f"encoder.{name}.{k}": v for k, v in state.items()})
        blob = save_safetensors({k: np.ascontiguousarray(v) for k, v in tensors.items()})
        card = {"format": FORMAT, "version": VERSION, "config": self.config.to_json(),
                **self.info, "encoders": self.encoder_info,
                "decoder_sha256": self.decoder_sha256,
                "weights_sha256": hashlib.sha256(blob).hexdigest()}
        return card, blob

    def with_only(self, encoder: str) -> "Checkpoint":
        """The decoder and one encoder: all a decoder of an archive needs."""
        return Checkpoint(self.config, self.decoder, {encoder: self.encoder(encoder)},
                          {encoder: self.encoder_info.get(encoder, {})}, dict(self.info))

    def save(self, path: str | Path) -> Path:
        weights_path, card_path = checkpoint_paths(path)
        weights_path.parent.mkdir(parents=True, exist_ok=True)
        card, blob = self.to_bytes()
        atomic_write_bytes(weights_path, blob)
        atomic_write_bytes(card_path, (json.dumps(card, indent=2) + "\n").encode())
        return card_path


def recommended_encoder(card: dict, encoder_names) -> str:
    """The encoder a card recommends (chosen on validation), else the amortized one."""
    name = card.get("default_encoder", "amortized")
    return name if name in encoder_names else "amortized"


def read_card(card_path: Path) -> dict:
    try:
        card = json.loads(card_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{card_path}: no such checkpoint card") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{card_path}: not a bbcompress checkpoint card ({e})") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise CheckpointError(f"{card_path}: not a bbcompress checkpoint card")
    if card.get("version") != VERSION:
        raise CheckpointError(f"{card_path}: checkpoint version {card.get('version')} "
                              f"is not supported (this bbcompress reads version {VERSION})")
    return card


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load and verify a checkpoint; every failure is a CheckpointError."""
    weights_path, card_path = checkpoint_paths(path)
    card = read_card(card_path)
    try:
        blob = weights_path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{weights_path}: cannot read weights ({e.strerror})") from None
    return from_bytes(card, blob, str(weights_path))


def from_bytes(card: dict, blob: bytes, source: str = "embedded model") -> Checkpoint:
    """A checkpoint from its card and weights, verified; every failure a CheckpointError."""
    if not isinstance(card, dict) or card.get("format") != FORMAT or card.get("version") != VERSION:
        raise CheckpointError(f"{source}: not a bbcompress checkpoint card of version {VERSION}")
    if hashlib.sha256(blob).hexdigest() != card.get("weights_sha256"):
        raise CheckpointError(f"{source}: sha256 differs from its card: the file was "
                              f"modified or corrupted")
    try:
        tensors = load_safetensors(blob)
        config = ModelConfig(**card["config"])
        check_values(tensors)
        return split_tensors(config, tensors, card)
    except (SafetensorError, TypeError, ValueError, KeyError, AttributeError, OverflowError) as e:
        raise CheckpointError(f"{source}: malformed checkpoint ({e})") from None
    except CheckpointError as e:
        raise CheckpointError(f"{source}: {e}") from None


def check_values(tensors: State) -> None:
    """Refuse weights the exact networks cannot take: dtypes other than float32 and
    float64, or values that are not finite (a card may say anything of them)."""
    for name, tensor in sorted(tensors.items()):
        if tensor.dtype not in WEIGHT_DTYPES:
            raise CheckpointError(f"weights {name!r} are {tensor.dtype}, not float32 or float64")
        if not np.all(np.isfinite(tensor)):
            raise CheckpointError(f"weights {name!r} hold values that are not finite")


def check_shapes(state: State, expected: dict[str, tuple], what: str) -> None:
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    if shapes != expected:
        wrong = sorted(set(shapes.items()) ^ set(expected.items()))[0][0]
        raise CheckpointError(f"weights do not match the configuration in the card: "
                              f"{what} parameter {wrong!r}")


def encoder_key(key: str, names) -> tuple[str, str]:
    """(encoder name, parameter) of a stored key: names may hold dots, so the card's
    names decide; an MLP's parameters all start with ``net.``."""
    for name in sorted(names, key=len, reverse=True):
        if key.startswith(f"{name}."):
            return name, key[len(name) + 1:]
    name, _, param = key.partition(".net.")
    return name, f"net.{param}"


def split_tensors(config: ModelConfig, tensors: State, card: dict) -> Checkpoint:
    decoder = {k[len("decoder."):]: v for k, v in tensors.items() if k.startswith("decoder.")}
    encoders: dict[str, State] = {}
    for key, value in tensors.items():
        if key.startswith("encoder."):
            name, param = encoder_key(key[len("encoder."):], card.get("encoders", {}))
            encoders.setdefault(name, {})[param] = value
    if not encoders and config.has_latent:
        raise CheckpointError("checkpoint holds no encoder")
    check_shapes(decoder, config.decoder_shapes(), "decoder")
    for name, state in encoders.items():
        check_shapes(state, config.encoder_shapes(), f"encoder {name!r}")
    info = {k: v for k, v in card.items() if k not in
            ("format", "version", "config", "encoders", "decoder_sha256", "weights_sha256")}
    return Checkpoint(config, decoder, encoders, card.get("encoders", {}), info)
