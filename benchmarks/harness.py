"""What every benchmark shares: the command that made a result, where results go, the
test images of a model's dataset, and the realized rate of coding images with the library.

A result is ``benchmarks/results/NAME.json`` (the report, with the command in it),
``NAME.md`` (a title, the command, a table) and, where a benchmark plots, ``NAME.png``.
Imports no torch: the benchmarks that evaluate networks import it themselves.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bbcompress.api import CodingOptions, compress_images, roundtrip
from bbcompress.rates import SectionRate, section_rate
from bbcompress.io.archive import Archive, parse
from bbcompress.io.images import Image, images_from_array
from bbcompress.checkpoint import Checkpoint
from bbcompress.zoo import ModelSet
from bbcompress.training.data import Dataset, load_dataset

RESULTS = Path(__file__).resolve().parent / "results"


def command() -> str:
    """The command line as invoked: ``python -m benchmarks.NAME ARG ...``, shell-quoted."""
    spec = sys.modules["__main__"].__spec__
    program = ["python", "-m", spec.name] if spec else ["python", sys.argv[0]]
    return shlex.join(program + sys.argv[1:])


def write_results(name: str, title: str, body: str, report: dict,
                  figure: Callable[[Path], None] | None = None) -> None:
    """NAME.json, NAME.md (and NAME.png through ``figure``); prints the Markdown body.
    A report read back from JSON keeps the command that made its numbers."""
    report.setdefault("command", command())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(f"### {title}\n\nCommand: `{report['command']}`\n\n{body.rstrip()}\n")
    if figure and plotting_available():
        figure(RESULTS / f"{name}.png")
    print(body)


def plotting_available() -> bool:
    """Whether matplotlib (the bench extra) is installed; says what to do when it is not,
    so that a long benchmark keeps its numbers instead of failing at its last step."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("no figure: matplotlib is missing (pip install -e '.[bench]'); the JSON and "
              "Markdown are written (generalization and seed_levels redraw from it with --replot)",
              file=sys.stderr)
        return False
    return True


def test_images(checkpoint: Checkpoint) -> tuple[Dataset, list[Image]]:
    """The dataset a checkpoint was trained on, and its test split as library Images."""
    dataset = load_dataset(checkpoint.info["data"])
    return dataset, images_from_array(dataset.x_test, dataset.kind)


def model_only(**settings) -> CodingOptions:
    """Coding options that send every image to the model (no classic fallback) at level 1
    (plain bits-back, unless ``level`` is given), so that a rate is the model's -ELBO."""
    return CodingOptions(**{"fallback": False, "level": 1, **settings})


def model_rate(archive: Archive) -> SectionRate:
    """The rate of an archive's one section, which a model coded."""
    if len(archive.sections) != 1 or archive.sections[0].is_classic:
        raise AssertionError("expected one model section (code with model_only options)")
    return section_rate(archive.sections[0])


def realized_rate(images: list[Image], name: str, checkpoint: Checkpoint,
                  options: CodingOptions = model_only()) -> SectionRate:
    """The rate of ``images`` (all of one kind) coded in one archive by ``checkpoint``."""
    return model_rate(compress_images(images, ModelSet.of(**{name: checkpoint}), options))


@dataclass(frozen=True)
class Verified:
    data: bytes  # the whole .bbc archive
    rate: SectionRate
    roundtrip_s: float  # compressing to bytes, parsing and decoding them


def verified_archive(images: list[Image], name: str, checkpoint: Checkpoint,
                     options: CodingOptions = model_only()) -> Verified:
    """``images`` coded in one archive and decoded back from its bytes; raises if a pixel differs."""
    started = time.perf_counter()
    data, decoded = roundtrip(images, ModelSet.of(**{name: checkpoint}), options)
    roundtrip_s = time.perf_counter() - started
    if not all(np.array_equal(a.pixels, b.pixels) for a, b in zip(images, decoded, strict=True)):
        raise AssertionError(f"{name}: decoded images differ from the originals")
    return Verified(data, model_rate(parse(data)), roundtrip_s)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model (repeatable) and --encoder, as the per-model benchmarks take them."""
    parser.add_argument("--model", action="append", required=True, help="shipped name or checkpoint path")
    parser.add_argument("--encoder", help="default: each model's recommended encoder")
