"""compress --embed-model: an archive made with one's own model decodes anywhere."""
from __future__ import annotations

import numpy as np
from PIL import Image

from bbcompress.training.data import load_dataset
from helpers import assert_clean_failure, repack, run, unpack_archive


def make_archive(tmp_path, tiny_models, *extra):
    folder = tmp_path / "in"
    folder.mkdir(parents=True)
    for i, digit in enumerate(load_dataset("mnist10k").x_test[:3]):
        Image.fromarray(digit).save(folder / f"g{i}.png")
    archive = tmp_path / "a.bbc"
    result = run("compress", folder, "-o", archive, "-m", tiny_models["greyscale"], "--no-fallback",
                 "-q", *extra)
    assert result.exit_code == 0, result.output
    return folder, archive


def test_an_archive_with_its_model_inside_decodes_without_the_model_file(tmp_path, tiny_models):
    folder, archive = make_archive(tmp_path, tiny_models, "--embed-model")
    assert_clean_failure(run("test", make_archive(tmp_path / "plain", tiny_models)[1]))  # needs -m
    assert "embedded model" in run("info", archive).output
    out = tmp_path / "out"
    assert run("decompress", archive, "-C", out, "-q").exit_code == 0
    for original in folder.iterdir():
        assert np.array_equal(np.asarray(Image.open(original)), np.asarray(Image.open(out / "in" / original.name)))


def test_a_corrupted_embedded_model_is_refused_and_nothing_written(tmp_path, tiny_models):
    _, archive = make_archive(tmp_path, tiny_models, "--embed-model")
    header, payload = unpack_archive(archive.read_bytes())
    damaged = bytearray(payload)
    damaged[-100] ^= 0x01  # inside the embedded weights
    archive.write_bytes(repack(header, bytes(damaged), version=3))
    out = tmp_path / "out"
    result = run("decompress", archive, "-C", out)
    assert_clean_failure(result)
    assert "modified or corrupted" in result.stderr
    assert not out.exists() or not any(out.rglob("*"))


def test_embedding_a_shipped_model_warns_of_its_size(tmp_path):
    image = tmp_path / "d.png"
    Image.fromarray(load_dataset("mnist10k").x_test[0]).save(image)
    result = run("compress", image, "-o", tmp_path / "d.bbc", "--embed-model")
    assert result.exit_code == 0 and "warning: embedding the shipped model" in result.stderr
