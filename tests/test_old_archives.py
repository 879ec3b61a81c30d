"""Archives written by every released version decode with today's code, to the pixels
the writing release's own decoder restored (issue 20).

tests/fixtures/archives/ holds small archives made by each release (0.1 .. 0.4) and
manifest.json: per file its release and commit, format version, what it covers, the
command that made it and ``decoded_sha256``, a hash of the images that release restored.
scripts/make_archive_fixtures.py made them (its docstring says how to run it again).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def todays_decoder():
    """(parse, decompress_to, ModelSet) of today's code: the one place that names their
    modules, so a module move is a one-line fix here."""
    from bbcompress.api import decompress_to
    from bbcompress.io.archive import parse
    from bbcompress.zoo import ModelSet
    return parse, decompress_to, ModelSet


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "archives"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
# over about 2 s each on a 2-core machine: the conv nets decode their head pixel by pixel
# (per particle), the local models every pixel, and v0.2-chains starts worker processes
SLOW = {"v0.3-conv.bbc", "v0.4-conv-level9.bbc", "v0.2-chains.bbc", "v0.4-default.bbc", "v0.3-one-image.bbc",
        "v0.2-local-fallback.bbc", "v0.3-fashion-local-mlp.bbc", "v0.2-mlp-level9.bbc"}


def decoded_sha256(entries: list[tuple[str, Path]]) -> str:
    """As the manifest defines it: per image in archive order, its stored name, mode and
    size, then its restored pixels as Pillow reads the file (0/1 for mode "1")."""
    digest = hashlib.sha256()
    for name, path in entries:
        with Image.open(path) as image:
            image.load()
            digest.update(f"{name}|{image.mode}|{image.width}x{image.height}|".encode())
            digest.update(np.ascontiguousarray(np.asarray(image).astype(np.uint8)).tobytes())
    return digest.hexdigest()


def cases() -> list:
    return [pytest.param(entry, id=entry["file"], marks=[pytest.mark.slow] if entry["file"] in SLOW else [])
            for entry in MANIFEST["fixtures"]]


@pytest.mark.parametrize("entry", cases())
def test_old_archive_decodes_to_the_writers_pixels(entry, tmp_path):
    parse, decompress_to, ModelSet = todays_decoder()
    data = (FIXTURES / entry["file"]).read_bytes()
    assert data[8] == entry["format_version"], "the format version byte"
    archive = parse(data, entry["file"])
    out = tmp_path / "restored"
    targets = decompress_to(archive, out, ModelSet(()))
    assert len(targets) == entry["images"]
    names = [Path(target).relative_to(out).as_posix() for target in targets]
    assert decoded_sha256(list(zip(names, targets))) == entry["decoded_sha256"]


@pytest.mark.parametrize("entry", [pytest.param(e, id=e["file"]) for e in MANIFEST["fixtures"]])
def test_fixture_is_the_file_the_manifest_describes(entry):
    data = (FIXTURES / entry["file"]).read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["file_sha256"])


def test_fixtures_cover_every_release_and_format_version():
    listed = [entry["file"] for entry in MANIFEST["fixtures"]]
    assert sorted(listed) == sorted(path.name for path in FIXTURES.glob("*.bbc"))
    assert {entry["release"] for entry in MANIFEST["fixtures"]} == {"0.1", "0.2", "0.3", "0.4"}
    assert {entry["format_version"] for entry in MANIFEST["fixtures"]} == {1, 2, 3, 4}
