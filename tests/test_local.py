"""The local family (a causal local head, no latent): its exact network, its
autoregressive codec, and archives made with it."""
from __future__ import annotations

import json

import hashlib

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from bbcompress.api import CodingOptions, compress_images, decompress_archive
from bbcompress.codec.autoregressive import decision_order, raster_order
from bbcompress.codec.bits_back import pop_batches, push_batches
from bbcompress.codec.causal import causal_offsets
from bbcompress.errors import ModelMismatch
from bbcompress.io.archive import parse
from bbcompress.io.images import Image as BBImage
from bbcompress.kinds import Kind
from bbcompress.checkpoint import load_checkpoint
from bbcompress.families.config import ModelConfig
from bbcompress.families.local import LocalModel, to_checkpoint, from_checkpoint
from bbcompress.families.local_coding import LocalCoding
from bbcompress.zoo import ModelSet
from bbcompress.training.data import load_dataset
from helpers import assert_restored, digit_folder, digits_and_a_larger_image, run, saved_model, seeded

CONFIG = ModelConfig("logistic256", 784, (16, 16), 0, "relu", 0.001, "local", 3, 4)


def seeded_local(seed: int = 0, config: ModelConfig = CONFIG) -> LocalModel:
    """A small local model with numpy-drawn weights (independent of torch's initializer)."""
    return seeded(LocalModel(config), seed, 0.1)


@pytest.fixture(scope="module")
def local_model(tmp_path_factory):
    return saved_model(tmp_path_factory, "local", to_checkpoint(seeded_local(), {"data": "mnist10k", "epoch": 0}))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist10k").x_test[:24].reshape(24, -1)


def test_causal_offsets_are_the_taps_before_the_centre():
    assert causal_offsets(3, centre=False) == [(-1, -1), (-1, 0), (-1, 1), (0, -1)]
    assert len(causal_offsets(5, False)) == 12 and causal_offsets(3, True)[-1] == (0, 0)


def test_decisions_are_popped_pixel_by_pixel():
    mask = np.array([[1, 1, 0], [1, 0, 1]], dtype=bool)
    image, pixel = raster_order(mask)
    assert list(zip(image, pixel)) == [(0, 0), (1, 0), (0, 1), (1, 2)]
    order = decision_order(pixel, 8)
    # pixel 0 (two images) takes slots 0..15: decision k of image i at 2k + i
    assert list(order[:, 0]) == list(range(0, 16, 2)) and list(order[:, 1]) == list(range(1, 16, 2))
    assert list(order[:, 2]) == list(range(16, 24)) and sorted(order.ravel()) == list(range(32))


def test_all_pixels_at_once_equal_the_raster_steps(local_model, digits):
    """The encoder's whole-tile pass and the decoder's pixel steps give identical numbers."""
    net = LocalCoding(load_checkpoint(local_model)).net
    x = digits[:5]
    whole = net(x)
    steps = net.stepper(len(x))
    for position in range(784):
        assert np.array_equal(steps.law(position), whole[:, position]), position
        steps.put(position, x[:, position])


@pytest.mark.train
def test_the_exact_network_is_the_torch_network(local_model, digits):
    checkpoint = load_checkpoint(local_model)
    coding, model = LocalCoding(checkpoint), from_checkpoint(checkpoint).double()
    x = digits[:4]
    exact_bits = coding.exact_bits(x, np.ones(x.shape, dtype=bool))
    with torch.no_grad():
        torch_bits = -model.log_likelihood(torch.from_numpy(x.astype(np.float64))).numpy() / np.log(2)
    assert np.allclose(exact_bits, torch_bits, rtol=1e-4)


@pytest.mark.slow
def test_roundtrip_realizes_the_exact_rate_under_any_batch_and_thread_count(local_model, digits):
    coding = LocalCoding(load_checkpoint(local_model))
    mask = np.ones(digits.shape, dtype=bool)
    mask[5, 600:] = False  # the padding of an edge tile: not coded, zero on both sides
    x = np.where(mask, digits, 0)
    with threadpool_limits(2):
        words, schedule, warmup = push_batches(coding, x, mask, max_batch=7)
    assert schedule == [7, 7, 7, 3] and warmup == 0
    with threadpool_limits(1):
        assert np.array_equal(pop_batches(coding, words, mask, schedule), x)
    estimate = coding.exact_bits(x, mask).sum()
    assert estimate <= 32 * len(words) <= estimate + 64  # the stack's last words, no initial bits


@pytest.mark.slow
def test_archives_of_a_local_model_roundtrip_and_record_no_latent_settings(local_model):
    images = digits_and_a_larger_image(6)
    models = ModelSet([local_model])
    data = compress_images(images, models, CodingOptions(level=9, fallback=False)).to_bytes()
    assert data[8] == 1, "no particles or refinement recorded: the plainest format version"
    restored = decompress_archive(parse(data), models)
    assert_restored(images, restored)


def test_a_local_archive_refuses_other_weights(local_model, tmp_path):
    grey = load_dataset("mnist10k").x_test[:2]
    images = [BBImage(f"g{i}.png", "L", d, Kind.GREYSCALE) for i, d in enumerate(grey)]
    data = compress_images(images, ModelSet([local_model]), CodingOptions(fallback=False)).to_bytes()
    other = tmp_path / "tiny-local"  # same name, other weights
    to_checkpoint(seeded_local(seed=1), {"data": "mnist10k"}).save(other)
    with pytest.raises(ModelMismatch):
        decompress_archive(parse(data), ModelSet([str(other)]))


def test_golden_local_bitstream(local_model, digits):
    """A fixed model and input give these exact words: a change here is a format change."""
    coding = LocalCoding(load_checkpoint(local_model))
    mask = np.ones(digits[:4].shape, dtype=bool)
    words, _, _ = push_batches(coding, digits[:4], mask, max_batch=3)
    assert hashlib.sha256(words.tobytes()).hexdigest()[:16] == GOLDEN_LOCAL


GOLDEN_LOCAL = "6bd1cb4d4c9eeb1e"


@pytest.mark.train
def test_a_binary_local_model_codes_binary_tiles_at_its_exact_rate():
    config = ModelConfig("bernoulli", 784, (8, 8), 0, "relu", 0.0, "local", 1, 2)
    checkpoint = to_checkpoint(seeded_local(2, config), {"data": "mnist10k-binary"})
    coding = LocalCoding(checkpoint)
    x = load_dataset("mnist10k-binary").x_test[:9].reshape(9, -1)
    mask = np.ones(x.shape, dtype=bool)
    words, schedule, _ = push_batches(coding, x, mask, max_batch=4)
    assert np.array_equal(pop_batches(coding, words, mask, schedule), x)
    with torch.no_grad():
        torch_bits = -from_checkpoint(checkpoint).double().log_likelihood(
            torch.from_numpy(x.astype(np.float64))).sum().item() / np.log(2)
    assert abs(coding.exact_bits(x, mask).sum() - torch_bits) < 1e-3 * torch_bits
    assert coding.exact_bits(x, mask).sum() <= 32 * len(words) <= coding.exact_bits(x, mask).sum() + 64


@pytest.mark.slow
@pytest.mark.train
def test_train_a_local_model_on_a_folder_then_compress_with_it(tmp_path):
    from click.testing import CliRunner

    from bbcompress.cli import main
    folder = digit_folder(tmp_path / "mine")
    run = tmp_path / "run"
    args = ["train", "--data", str(folder), "--family", "local", "--hidden", "8,8", "--features", "2",
            "--mixture", "2", "--pixel-floor", "0.001", "--validation", "6", "--checkpoint-every", "1", "-o", str(run), "-q"]
    assert CliRunner().invoke(main, args + ["--epochs", "1"]).exit_code == 0
    assert CliRunner().invoke(main, args + ["--epochs", "2", "--resume"]).exit_code == 0
    card = (run / "epoch-0002.json").read_text()
    assert '"family": "local"' in card and str(folder) in card
    card = json.loads(card)  # the run's story: what started it, where, how far
    assert card["command"].startswith("bbcompress train --data ") and "--resume" in card["command"]
    assert card["device"] == "cpu" and card["stopped_at"] == {"epoch": 2, "of": 2}
    result = CliRunner().invoke(main, ["compress", str(folder), "-o", str(tmp_path / "a.bbc"), "-m",
                                       str(run / "epoch-0002"), "--no-fallback", "-q"])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(main, ["test", str(tmp_path / "a.bbc"), "-m", str(run / "epoch-0002")]).exit_code == 0


@pytest.mark.parametrize("likelihood", ["logistic256", "bernoulli"])
def test_the_fast_estimate_is_close_to_the_exact_cost(local_model, likelihood):
    if likelihood == "logistic256":
        checkpoint = load_checkpoint(local_model)
        x = load_dataset("mnist10k").x_test[:20].reshape(20, -1)
    else:
        config = ModelConfig("bernoulli", 784, (8, 8), 0, "relu", 0.0, "local", 1, 2)
        checkpoint = to_checkpoint(seeded_local(2, config), {})
        x = load_dataset("mnist10k-binary").x_test[:20].reshape(20, -1)
    coding = LocalCoding(checkpoint)
    mask = np.ones(x.shape, dtype=bool)
    mask[0, 500:] = False
    exact, estimate = coding.exact_bits(x, mask), coding.estimate_bits(x, mask)
    assert np.allclose(estimate, exact, rtol=0.01) and abs(estimate.sum() / exact.sum() - 1) < 0.002


@pytest.mark.train
def test_a_train_device_torch_cannot_use_is_refused_in_one_line(tmp_path, monkeypatch):
    import torch
    from bbcompress.errors import BBCError
    from bbcompress.training.train import resolve_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu" and resolve_device("cpu").type == "cpu"
    with pytest.raises(BBCError, match="no CUDA device"):
        resolve_device("cuda")
    result = run("train", "--data", str(digit_folder(tmp_path / "d")), "--family", "local", "--epochs", "1",
                 "--device", "cuda", "-o", tmp_path / "run", "-q")
    assert result.exit_code == 1 and "no CUDA device" in result.stderr
