"""The shipped models as users get them: all 2,000 mnist10k test digits through files
and the command line, the realized rate against the -ELBO, and the demo."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from bbcompress.api import CodingOptions, compress_section
from bbcompress.rates import section_rate
from bbcompress.cli import main
from bbcompress.errors import CheckpointError
from bbcompress.io.images import images_from_array
from bbcompress.kinds import Kind
from bbcompress.zoo import DEFAULT_MODELS, models_folder, resolve_model, shipped_cards
from bbcompress.families.networks import from_checkpoint
from bbcompress.training.data import load_dataset
from bbcompress.training.evaluate import elbo_bpd


def test_the_default_models_are_shipped_with_cards():
    cards = shipped_cards()
    for kind, name in DEFAULT_MODELS.items():
        card = cards[name]
        assert card["data"].startswith("mnist10k") and "chosen_by" in card
        if card["config"].get("family", "mlp") == "mlp":
            assert {"amortized", "self-consistent"} <= set(card["encoders"])
        else:  # no latent: the card sets it beside a latent model on the same validation images
            assert not card["encoders"] and card["valid_bpd_compared"]["this model"] == min(
                card["valid_bpd_compared"].values())
        assert len(card["weights_sha256"]) == 64
        # fingerprints are computed without torch now: they must not have moved
        assert resolve_model(name).decoder_sha256 == card["decoder_sha256"]


@pytest.mark.slow
@pytest.mark.parametrize("data,suffix", [("mnist10k-binary", "pbm"), ("mnist10k", "png")])
def test_all_test_digits_roundtrip_through_files_and_the_cli(tmp_path, data, suffix):
    digits = load_dataset(data).x_test
    folder = tmp_path / "digits"
    folder.mkdir()
    for i, digit in enumerate(digits):
        image = Image.fromarray(digit.astype(bool)) if suffix == "pbm" else Image.fromarray(digit)
        image.save(folder / f"{i:04d}.{suffix}")
    runner = CliRunner()
    result = runner.invoke(main, ["compress", str(folder), "-o", str(tmp_path / "d.bbc"), "--json", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["images"] == 2000
    result = runner.invoke(main, ["decompress", str(tmp_path / "d.bbc"), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    for i, digit in enumerate(digits):
        restored = Image.open(tmp_path / "out" / "digits" / f"{i:04d}.{suffix}")
        assert restored.mode == ("1" if suffix == "pbm" else "L")
        assert np.array_equal(np.asarray(restored, dtype=np.uint8), digit), i


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.parametrize("data,kind", [("mnist10k-binary", "binary"), ("mnist10k", "greyscale")])
def test_realized_rate_matches_the_elbo(data, kind):
    checkpoint = resolve_model(DEFAULT_MODELS[kind])
    digits = load_dataset(data).x_test
    section = compress_section(images_from_array(digits, Kind(kind)), DEFAULT_MODELS[kind], checkpoint,
                               CodingOptions(level=1))
    realized = section_rate(section).net_bits_per_dim
    assert section.model.encoder == checkpoint.default_encoder
    samples = 10 if checkpoint.config.has_latent else 1  # without a latent: exact, no noise
    elbo = elbo_bpd(from_checkpoint(checkpoint, checkpoint.default_encoder).eval(), digits, samples=samples)
    assert abs(realized / elbo - 1) < 0.005, (realized, elbo)


def test_a_modified_shipped_model_is_refused(tmp_path, monkeypatch):
    import shutil
    for path in models_folder().glob("mnist-binary.*"):
        shutil.copy(path, tmp_path / path.name)
    weights = tmp_path / "mnist-binary.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[len(blob) // 2] ^= 1
    weights.write_bytes(bytes(blob))
    monkeypatch.setenv("BBCOMPRESS_MODELS", str(tmp_path))
    with pytest.raises(CheckpointError, match="modified or corrupted"):
        resolve_model("mnist-binary")


@pytest.mark.slow
def test_the_demo_roundtrips_the_samples_and_beats_png():
    result = CliRunner().invoke(main, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {row["kind"] for row in rows} == {"binary", "greyscale"}
    for row in rows:
        assert row["roundtrip"] == "identical" and row["images"] == 24
        assert row["bbcompress_bits"] < row["png_bits"]
