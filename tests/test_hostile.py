"""A hostile tester's findings and the workers' (issue 23, items 1, 6 and 12-18).

Each test here failed on the code before its fix: crafted archives that cost far more
time or memory than their bytes can justify, embedded models and names that crashed
with a traceback, names compress stored but decompress could not write, an output
folder swapped for a symbolic link mid-run, signals that left workers or temporary
files behind, progress that moved one chain at a time. Crafted archives are re-packed
with a valid CRC (``repack``), so only the decoder's own checks stand in their way.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from bbcompress.checkpoint import tensors_sha256
from conftest import repack, unpack_archive
from test_cli import assert_clean_failure, run
from test_safety import base, crafted, grey_pixels, refused_at_decode, written  # noqa: F401 (fixture)

# --- 14. embedded models and names that crashed with a traceback ----------------------------


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, tiny_models) -> tuple[dict, bytes, bytes]:
    """An archive of two greyscale images carrying its (tiny MLP) model: (header, the
    sections' words, the model's weights)."""
    folder = tmp_path_factory.mktemp("embedded")
    for seed in (0, 1):
        Image.fromarray(grey_pixels(28, 28, seed)).save(folder / f"g{seed}.png")
    archive = folder / "e.bbc"
    result = run("compress", folder / "g0.png", folder / "g1.png", "-o", archive, "-m", tiny_models["greyscale"],
                 "--embed-model", "--no-fallback", "-l", "1", "-q")
    assert result.exit_code == 0, result.output
    header, payload = unpack_archive(archive.read_bytes())
    size = header["models"][0]["bytes"]
    return header, payload[:-size], payload[-size:]


def fingerprint(tensors: dict, encoder: str) -> str:
    """What ``Checkpoint.fingerprint`` gives for these tensors, for any dtype: a hostile
    writer records the fingerprint of the weights it carries."""
    named = {key.replace(f"encoder.{encoder}.", "encoder."): value for key, value in tensors.items()}
    try:
        return tensors_sha256(named)
    except KeyError:  # a dtype the fingerprint has no name for: any value will do
        return "0" * 64


def with_model(embedded, edit) -> bytes:
    """The archive of ``embedded`` carrying a model changed by ``edit(tensors, card)``,
    with the card's sha256 and the sections' fingerprints made to match it."""
    header, words, weights = copy.deepcopy(embedded)
    model = header["models"][0]
    tensors = dict(load_safetensors(weights))
    edit(tensors, model["card"])
    blob = save_safetensors({key: np.ascontiguousarray(value) for key, value in tensors.items()})
    model.update(bytes=len(blob), card={**model["card"], "weights_sha256": hashlib.sha256(blob).hexdigest()})
    for section in header["sections"]:
        section["model"]["fingerprint"] = fingerprint(tensors, section["model"]["encoder"])
    return repack(header, words + blob, version=3)


def first_value(key: str, value):
    def edit(tensors, card):
        changed = tensors[key].copy()
        changed.flat[0] = value
        tensors[key] = changed
    return edit


def as_dtype(key: str, dtype):
    def edit(tensors, card):
        tensors[key] = tensors[key].astype(dtype)
    return edit


def fewer_pixels(tensors, card):
    """A config of 100 pixels with weights of those shapes: consistent, but not 28x28."""
    card["config"]["pixels"] = 100
    tensors["decoder.net.4.weight"] = tensors["decoder.net.4.weight"][:200]
    tensors["decoder.net.4.bias"] = tensors["decoder.net.4.bias"][:200]
    tensors["encoder.amortized.net.0.weight"] = tensors["encoder.amortized.net.0.weight"][:, :100]


def infinite_width(tensors, card):
    card["config"]["hidden"] = [float("inf"), 64]


BAD_MODELS = {
    "inf-weight": first_value("decoder.net.0.weight", np.inf),
    "nan-bias": first_value("decoder.net.4.bias", np.nan),
    "inf-encoder": first_value("encoder.amortized.net.2.weight", -np.inf),
    "int8": as_dtype("decoder.net.0.weight", np.int8),
    "int64": as_dtype("decoder.net.2.bias", np.int64),
    "float16": as_dtype("encoder.amortized.net.0.weight", np.float16),
    "config-of-other-pixels": fewer_pixels,
    "config-width-infinite": infinite_width,
}


@pytest.mark.parametrize("edit", BAD_MODELS.values(), ids=BAD_MODELS.keys())
def test_an_embedded_model_unfit_to_code_is_refused_in_one_line(tmp_path, embedded, edit):
    archive = tmp_path / "bad-model.bbc"
    archive.write_bytes(with_model(embedded, edit))
    out = tmp_path / "out"
    for command in (["test", archive], ["decompress", archive, "-C", out]):
        result = run(*command)
        assert_clean_failure(result)
        assert "embedded model" in result.stderr, result.stderr
    assert written(out) == []


@pytest.mark.parametrize("name", ["in/\udcff.png", "\ud800", "a/\udc80b.png"], ids=ascii)
def test_a_stored_name_that_is_not_utf8_text_is_refused_at_decode(tmp_path, base, tiny_models, name):  # noqa: F811
    def rename(header):
        base.section(header, "greyscale")["images"][0][0] = name
    archive = crafted(tmp_path, base, rename)
    assert "UTF-8" in refused_at_decode(tmp_path, tiny_models, archive)
    assert_clean_failure(run("test", archive, "-m", "x"))  # refused before any model is looked up


@pytest.mark.skipif(os.uname().sysname == "Darwin", reason="macOS refuses file names that are not UTF-8")
def test_compress_refuses_an_input_file_name_that_is_not_utf8(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(grey_pixels(28, 28, 3)).save(os.fsdecode(os.fsencode(folder) + b"/caf\xe9.png"))
    Image.fromarray(grey_pixels(28, 28, 4)).save(folder / "ok.png")
    for fallback in ("--fallback", "--no-fallback"):
        result = run("compress", folder, "-o", tmp_path / "a.bbc", fallback, "-q")
        assert_clean_failure(result)
        assert "UTF-8" in result.stderr
        assert not (tmp_path / "a.bbc").exists()
