"""The Python API (bbcompress.compress / decompress / open / info) and its documented examples."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import bbcompress
from bbcompress.errors import ArchiveError, BBCError

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED = [ROOT / "README.md", ROOT / "docs" / "python-api.md"]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCUMENTED, ids=lambda p: p.name)
def test_every_documented_example_runs(path):
    blocks = python_blocks(path)
    assert blocks, f"{path.name} shows no Python example"
    for block in blocks:
        exec(compile(block, str(path), "exec"), {})


@pytest.mark.slow
def test_arrays_come_back_as_given_whatever_form_they_came_in():
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    bits = rng.random((28, 33)) < 0.4
    inked = (rng.random((28, 28)) < 0.3).astype(np.uint8) * 255  # binary content, uint8 file values
    for images, expected in [(grey, {"00000.png": grey}),
                             (np.stack([grey, grey]), {"00000.png": grey, "00001.png": grey}),
                             ([bits, inked], {"00000.png": bits, "00001.png": inked}),
                             ([("a/b.png", grey)], {"a/b.png": grey}),
                             ({"x.pbm": bits, "y.png": inked}, {"x.pbm": bits, "y.png": inked})]:
        restored = dict(bbcompress.decompress(bbcompress.compress(images, level=1)))
        assert restored.keys() == expected.keys()
        for name, pixels in expected.items():
            assert restored[name].dtype == pixels.dtype and np.array_equal(restored[name], pixels), name


def test_info_counts_without_decoding_and_open_reads_a_file(tmp_path):
    digits = np.zeros((2, 28, 28), np.uint8)
    digits[:, 5:20, 9:14] = 220
    data = bbcompress.compress(digits)
    (tmp_path / "d.bbc").write_bytes(data)
    summary = bbcompress.info(tmp_path / "d.bbc")
    assert summary["images"] == 2 and summary["bytes"] == len(data)
    assert [f["name"] for s in summary["sections"] for f in s["files"]] == ["00000.png", "00001.png"]
    assert bbcompress.info(data)["sections"] == summary["sections"]


@pytest.mark.parametrize("bad", [np.zeros((28, 28), np.int16), np.zeros((2, 2, 2, 2, 2), np.uint8),
                                 np.zeros((0, 5), np.uint8)], ids=["int16", "5-d", "empty"])
def test_arrays_that_are_not_images_are_refused_in_one_line(bad):
    with pytest.raises(BBCError) as caught:
        bbcompress.compress(bad)
    assert "\n" not in str(caught.value)


def test_a_corrupted_archive_raises_a_bbcompress_error():
    data = bytearray(bbcompress.compress(np.full((28, 28), 7, np.uint8)))
    data[len(data) // 2] ^= 0x40
    with pytest.raises(BBCError):
        bbcompress.decompress(bytes(data))
    with pytest.raises(ArchiveError):
        bbcompress.open(b"not an archive")
