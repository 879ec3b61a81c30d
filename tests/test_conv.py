"""The conv family (a convolutional VAE, with or without the causal local head): its exact
networks, bits-back and BB-IS coding over it, archives, training and refinement."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from bbcompress.api import CodingOptions, compress_images, decompress_archive
from bbcompress.codec.bits_back import CodingSettings, pop_batches, push_batches
from bbcompress.codec.core import seed_bits
from bbcompress.codec.conv import ConvSpec, ExactConvNet
from bbcompress.errors import BBCError, CodingError
from bbcompress.io.archive import parse
from bbcompress.checkpoint import load_checkpoint
from bbcompress.families.config import ModelConfig
from bbcompress.families.conv import ConvVAE
from bbcompress.families.conv_coding import GRID, ConvCoding
from bbcompress.families.networks import from_checkpoint, to_checkpoint
from bbcompress.zoo import ModelSet
from bbcompress.training.data import load_dataset
from helpers import assert_restored, digits_and_a_larger_image, saved_model, seeded

HEAD = ModelConfig("logistic256", 784, (8, 8), 6, "relu", 0.001, "conv", 2, 3, 4)
PLAIN = ModelConfig("logistic256", 784, (), 6, "relu", 0.001, "conv", 2, 0, 4)
BINARY = ModelConfig("bernoulli", 784, (8, 8), 6, "relu", 0.0, "conv", 1, 3, 4)


def seeded_conv(config: ModelConfig, seed: int = 0) -> ConvVAE:
    return seeded(ConvVAE(config), seed)


def seeded_local(seed: int, config: ModelConfig):
    from bbcompress.families.local import LocalModel
    return seeded(LocalModel(config), seed, 0.1)


@pytest.fixture(scope="module", params=["head", "plain"])
def conv_model(request, tmp_path_factory):
    config = HEAD if request.param == "head" else PLAIN
    checkpoint = to_checkpoint(seeded_conv(config), {"data": "mnist10k", "epoch": 0}, {"method": "amortized"})
    return saved_model(tmp_path_factory, f"conv-{request.param}", checkpoint)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist10k").x_test[:12].reshape(12, -1)


@pytest.mark.train
def test_a_transposed_convolution_is_exactly_torchs():
    rng = np.random.default_rng(3)
    weight, bias = rng.normal(0, 0.3, (3, 5, 4, 4)), rng.normal(0, 0.3, 5)
    net = ExactConvNet([(ConvSpec("tconv", 4, 2, 1), weight, bias)], 2.0**-16, 2.0**17)
    h = np.round(rng.normal(0, 1, (2, 7, 7, 3)) * 2**16)
    out = net(h)
    expected = torch.nn.functional.conv_transpose2d(torch.from_numpy(h / 2**16).permute(0, 3, 1, 2),
                                                    torch.from_numpy(weight), torch.from_numpy(bias), 2, 1)
    assert out.shape == (2, 14, 14, 5)
    assert np.allclose(out, expected.permute(0, 2, 3, 1).numpy(), atol=1e-6)


@pytest.mark.train
def test_the_exact_networks_are_the_torch_networks(conv_model, digits):
    checkpoint = load_checkpoint(conv_model)
    coding, model = ConvCoding(checkpoint, CodingSettings("amortized")), from_checkpoint(checkpoint).double()
    x = digits[:4]
    mean, std = coding.encode(x, np.ones(x.shape, dtype=bool))
    with torch.no_grad():
        torch_mean, torch_log_std = model.encoder(torch.from_numpy(x / 255.0))
    assert np.allclose(mean, torch_mean.numpy(), atol=1e-4) and np.allclose(np.log(std), torch_log_std.numpy(), atol=1e-4)
    z = np.round(mean * GRID) / GRID
    exact = coding.pixel_log_probs(coding.decode(z), x).sum(axis=1)
    with torch.no_grad():
        expected = model.decoder.log_likelihood(torch.from_numpy(x.astype(np.float64)), torch.from_numpy(z)).numpy()
    assert np.allclose(exact, expected, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("particles", [1, 3])
def test_roundtrip_under_any_batch_and_thread_count(conv_model, digits, particles):
    mask = np.ones(digits.shape, dtype=bool)
    mask[5, 600:] = False  # the padding of an edge tile: not coded, zero on both sides
    x = np.where(mask, digits, 0)
    with threadpool_limits(2):
        words, schedule, warmup = push_batches(ConvCoding(load_checkpoint(conv_model), CodingSettings("amortized",
                                                          particles=particles)), x, mask, max_batch=5)
    assert len(schedule) > 2
    with threadpool_limits(1):
        decoder = ConvCoding(load_checkpoint(conv_model), CodingSettings("amortized", particles=particles))
        assert np.array_equal(pop_batches(decoder, words, mask, schedule, warmup), x)


def test_the_decoders_pixel_steps_equal_the_whole_tile_pass(digits):
    checkpoint = to_checkpoint(seeded_conv(HEAD, 1), {}, {})
    coding = ConvCoding(checkpoint, CodingSettings("amortized"))
    x = digits[:3]
    params = coding.decode(np.round(coding.encode(x, np.ones(x.shape, bool))[0] * GRID) / GRID)
    whole, steps = coding.laws(params, x), coding.head.stepper(len(x), params)
    for position in range(784):
        assert np.array_equal(steps.law(position), whole[:, position]), position
        steps.put(position, x[:, position])


def test_a_binary_conv_model_roundtrips():
    checkpoint = to_checkpoint(seeded_conv(BINARY, 2), {}, {})
    x = load_dataset("mnist10k-binary").x_test[:7].reshape(7, -1)
    mask = np.ones(x.shape, dtype=bool)
    words, schedule, warmup = push_batches(ConvCoding(checkpoint, CodingSettings("amortized", particles=2)), x, mask, 3)
    assert np.array_equal(pop_batches(ConvCoding(checkpoint, CodingSettings("amortized", particles=2)), words, mask,
                                      schedule, warmup), x)


@pytest.mark.slow
def test_realized_rate_is_the_one_sample_elbo(conv_model):
    """Over many images the net stack growth is about the -ELBO: the mean over sampled
    latents of -log p(x, z) + log Q(z|x), computed exactly apart from the coder."""
    coding = ConvCoding(load_checkpoint(conv_model), CodingSettings("amortized"))
    x = load_dataset("mnist10k").x_test[:40].reshape(40, -1)
    mask = np.ones(x.shape, dtype=bool)
    words, _, _ = push_batches(coding, x, mask, max_batch=20)
    mean, std = coding.encode(x, mask)
    z = mean[:, None] + std[:, None] * np.random.default_rng(0).standard_normal((40, 8, mean.shape[1]))
    elbo_bits = -coding.log_weights(x, mask, coding.latents.nearest(z)).mean(axis=1).sum() / np.log(2)
    net = 32 * len(words) - seed_bits(coding.pops_per_image(warm=True))
    assert abs(net / elbo_bits - 1) < 0.02


@pytest.mark.slow
def test_archives_of_a_conv_model_roundtrip_at_every_level(conv_model):
    images = digits_and_a_larger_image(5)
    models = ModelSet([conv_model])
    for level in (1, 5):
        data = compress_images(images, models, CodingOptions(level=level, fallback=False)).to_bytes()
        section = parse(data).sections[0]
        assert section.coder.particles == HEAD.spec.level(level)[0] and section.coder.refine_steps == 0
        restored = decompress_archive(parse(data), models, threads=1)
        assert_restored(images, restored)


def test_a_conv_model_refuses_refinement(conv_model):
    with pytest.raises(CodingError, match="refinement"):
        ConvCoding(load_checkpoint(conv_model), CodingSettings("amortized", refine_steps=3))


def test_golden_conv_bitstream(digits):
    """A fixed model and input give these exact words: a change here is a format change."""
    checkpoint = to_checkpoint(seeded_conv(HEAD), {}, {})
    mask = np.ones(digits[:4].shape, dtype=bool)
    words, _, _ = push_batches(ConvCoding(checkpoint, CodingSettings("amortized", particles=2)), digits[:4], mask, max_batch=3)
    assert hashlib.sha256(words.tobytes()).hexdigest()[:16] == GOLDEN_CONV


GOLDEN_CONV = "853c56307099a345"


@pytest.mark.train
def test_free_bits_lift_only_the_training_objective():
    """Each dim's batch-mean KL counts as at least ``free_bits``; eval reports the ELBO."""
    model = seeded_conv(HEAD)
    x = torch.from_numpy(load_dataset("mnist10k").x_test[:8].reshape(8, -1).astype(np.float32))
    torch.manual_seed(0)
    plain = model.train()(x).mean()
    model.free_bits = 100.0  # above any dim's KL here
    torch.manual_seed(0)
    lifted = model(x).mean()
    torch.manual_seed(0)
    elbo = model.eval().elbo(x).mean()
    mean, log_std = model.encoder(x / 255)
    kl = (0.5 * (mean**2 + torch.exp(2 * log_std) - 1 - 2 * log_std)).mean(0)
    assert kl.max() < 100 and torch.isclose(elbo, plain)
    assert torch.isclose(plain - lifted, 100.0 * 6 - kl.sum(), rtol=1e-4)


@pytest.mark.slow
@pytest.mark.train
def test_train_a_conv_model_from_a_local_head_then_refine_and_compress(tmp_path):
    """Through the CLI: train a tiny conv model (its head started from a local model) on a
    folder of images, resume it, refine an encoder for it, then compress the folder with
    that model and encoder and get every image back."""
    from PIL import Image
    from click.testing import CliRunner

    from bbcompress.cli import main
    from bbcompress.families.local import to_checkpoint
    grey = load_dataset("mnist10k").x_train[:16]
    folder = tmp_path / "mine"
    folder.mkdir()
    for i in range(0, 16, 4):  # 4 images of 2x2 digits: 16 tiles
        Image.fromarray(np.block([[grey[i], grey[i + 1]], [grey[i + 2], grey[i + 3]]])).save(folder / f"{i:02d}.png")
    local = tmp_path / "head"
    local_config = ModelConfig("logistic256", 784, (8, 8), 0, "relu", 0.001, "local", 2, 3)
    to_checkpoint(seeded_local(0, local_config), {"data": "mnist10k"}).save(local)
    run, model = tmp_path / "run", tmp_path / "run" / "epoch-0002"
    args = ["train", "--data", str(folder), "--family", "conv", "--hidden", "8,8", "--features", "3",
            "--mixture", "2", "--width", "4", "--latent", "4", "--free-bits", "0.5", "--head-from", str(local),
            "--pixel-floor", "0.001", "--checkpoint-every", "1", "-o", str(run), "-q"]
    result = CliRunner().invoke(main, args + ["--epochs", "1"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, args + ["--epochs", "2", "--resume"])
    assert result.exit_code == 0, result.output
    trained = load_checkpoint(model)
    assert trained.config.family == "conv" and trained.info["epoch"] == 2
    assert trained.decoder["head.features"].shape == (3, 28, 28)
    result = CliRunner().invoke(main, ["refine", str(model), "--method", "optimal", "--epochs", "1",
                                       "--data", str(folder), "--split", "test", "-q"])
    assert result.exit_code == 0, result.output
    assert "optimal-test" in load_checkpoint(model).encoders
    archive, out = tmp_path / "a.bbc", tmp_path / "out"
    result = CliRunner().invoke(main, ["compress", str(folder), "-o", str(archive), "-m", str(model),
                                       "--encoder", "optimal-test", "--no-fallback", "-q"])
    assert result.exit_code == 0, result.output
    (section,) = parse(archive.read_bytes()).sections
    assert section.model.encoder == "optimal-test" and len(section.images) == 4
    result = CliRunner().invoke(main, ["decompress", str(archive), "-o", str(out), "-m", str(model), "-q"])
    assert result.exit_code == 0, result.output
    for original in sorted(folder.iterdir()):
        assert np.array_equal(np.asarray(Image.open(out / "mine" / original.name)), np.asarray(Image.open(original)))


@pytest.mark.train
def test_a_head_starts_only_from_a_matching_local_model(tmp_path):
    from bbcompress.families.conv import start_head_from
    from bbcompress.families.local import to_checkpoint
    other = to_checkpoint(seeded_local(0, ModelConfig("logistic256", 784, (8,), 0, "relu", 0.001,
                                                            "local", 2, 3)), {})
    with pytest.raises(BBCError, match="differs"):
        start_head_from(ConvVAE(HEAD), other)


@pytest.mark.slow
@pytest.mark.train
def test_eval_reports_what_the_latent_carries(conv_model):
    import json

    from click.testing import CliRunner

    from bbcompress.cli import main
    result = CliRunner().invoke(main, ["eval", conv_model, "--data", "mnist10k", "--iwae", "4", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kl_bpd"] > 0 and report["iwae_bpd"] < report["elbo_bpd"] + 0.01


@pytest.mark.slow
@pytest.mark.train
def test_ancestral_sampling_sees_each_pixels_whole_context():
    """The sampler runs the head on the rows above a pixel only: at every pixel, those rows
    give the same law as the whole tile (the property ancestral sampling relies on)."""
    from bbcompress.families.local_coding import LOCAL_KERNELS
    head = seeded_conv(HEAD).decoder.head
    images = torch.from_numpy(load_dataset("mnist10k").x_test[:2].astype(np.float32))[:, None]
    f = head.maps_of(2, torch.randn(2, HEAD.features, 28, 28))
    reach = sum(LOCAL_KERNELS[min(i, 1)] // 2 for i in range(len(HEAD.hidden)))
    with torch.no_grad():
        whole = head.raw_laws(images, f)
        for row in range(28):
            top = max(0, row - reach)
            cropped = head.raw_laws(images[:, :, top:row + 1], f[:, :, top:row + 1])[:, :, -1]
            assert torch.allclose(cropped, whole[:, :, row], atol=1e-5), row
    samples = ConvVAE(HEAD).sample(3, torch.Generator().manual_seed(0))
    assert samples.shape == (3, 784) and samples.min() >= 0 and samples.max() <= 255
