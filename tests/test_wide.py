"""The wide family (two causal stacks of dilated residual blocks, no latent): its exact
network against torch, its receptive field, its codec and archives made with it."""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from bbcompress.api import CodingOptions, compress_images, decompress_archive
from bbcompress.checkpoint import load_checkpoint
from bbcompress.errors import CodingError
from bbcompress.codec.bits_back import pop_batches, push_batches
from bbcompress.families.config import ModelConfig
from bbcompress.families.local import mixture_log_prob
from bbcompress.families.wide import WideModel, from_checkpoint, to_checkpoint
from bbcompress.families.wide_coding import WideCoding, reach
from bbcompress.io.archive import parse
from bbcompress.training.data import load_dataset
from bbcompress.zoo import ModelSet
from helpers import digit_folder, digits_and_a_larger_image, saved_model, seeded

CONFIG = ModelConfig("logistic256", 784, (8,) * 6, 0, "relu", 0.001, "wide", 3, 4)
SIDE = 28


def seeded_wide(seed: int = 0, config: ModelConfig = CONFIG, low: float | None = None,
                high: float = 0.1) -> WideModel:
    """A small wide model with numpy-drawn weights: normal(0, ``high``), or uniform(low, high)."""
    return seeded(WideModel(config), seed, high, low)


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    return saved_model(tmp_path_factory, "wide", to_checkpoint(seeded_wide(), {"data": "mnist10k", "epoch": 0}))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist10k").x_test[:24].reshape(24, -1)


def torch_laws(model: WideModel, x: np.ndarray) -> np.ndarray:
    """The torch model's raw laws (B, 784, outputs) in float64."""
    model = model.double()
    with torch.no_grad():
        images = torch.from_numpy(x.reshape(-1, 1, SIDE, SIDE).astype(np.float64))
        raw = model.raw_laws(images, model.maps_of(len(x), None)).numpy()
    return raw.reshape(len(x), raw.shape[1], -1).transpose(0, 2, 1)


def causal_window(pixel: int, blocks: int) -> np.ndarray:
    """(784,) True at the pixels whose law should see ``pixel``: after it, at most
    ``reach`` rows below and columns to either side (in its own row: to its right)."""
    row, col = divmod(pixel, SIDE)
    rows, cols = np.divmod(np.arange(SIDE * SIDE), SIDE)
    near = (np.abs(cols - col) <= reach(blocks)) & (rows - row <= reach(blocks))
    return near & ((rows > row) | ((rows == row) & (cols > col)))


PERTURBED = [0, 5 * SIDE + 20, 13 * SIDE + 13, 20 * SIDE + 3, 27 * SIDE, 27 * SIDE + 27]


def changed_laws(laws, x: np.ndarray, value: int) -> list[np.ndarray]:
    """For each perturbed pixel: which pixels' laws change when it alone is set to ``value``."""
    batch = np.repeat(x[None], len(PERTURBED) + 1, axis=0)
    for image, pixel in enumerate(PERTURBED, 1):
        batch[image, pixel] = value
    raw = laws(batch)
    return [np.any(raw[image] != raw[0], axis=-1) for image in range(1, len(batch))]


def test_the_receptive_field_is_the_whole_causal_window_without_a_blind_spot():
    """Positive weights: raising a pixel raises every unit that sees it (no ReLU shuts,
    nothing reaches the cap), so the laws that change are exactly those that see it."""
    assert reach(6) == 14
    model = seeded_wide(1, ModelConfig("logistic256", 784, (4,) * 6, 0, "relu", 0.0, "wide", 2, 2),
                        low=0.0, high=0.05)
    x = np.random.default_rng(2).integers(128, 200, SIDE * SIDE).astype(np.uint8)  # real inputs > 0
    for pixel, changed in zip(PERTURBED, changed_laws(lambda b: torch_laws(model, b), x, 255)):
        window = causal_window(pixel, 6)
        assert np.array_equal(changed, window), (divmod(pixel, SIDE), np.argwhere(changed != window)[:5])
    assert causal_window(13 * SIDE + 13, 6).sum() == 14 * SIDE + 14, "the window spans the tile"


def test_no_law_of_the_exact_network_sees_a_later_pixel(wide_model):
    """The coder's network: a pixel changes no law outside its causal window (bit for
    bit), and many inside it."""
    net = WideCoding(load_checkpoint(wide_model)).net
    x = np.random.default_rng(3).integers(0, 256, SIDE * SIDE).astype(np.uint8)
    for pixel, changed in zip(PERTURBED, changed_laws(net, x, 255 - x[PERTURBED[0]])):
        window = causal_window(pixel, 6)
        assert not np.any(changed & ~window), divmod(pixel, SIDE)
        assert changed.sum() >= 0.5 * window.sum(), divmod(pixel, SIDE)


def test_the_exact_network_is_the_torch_network(wide_model, digits):
    """Equal to within the grids' rounding (2**-16 per unit, ~7 layers deep), on digits
    and on random tiles; the float32 estimate as close."""
    checkpoint = load_checkpoint(wide_model)
    net, model = WideCoding(checkpoint).net, from_checkpoint(checkpoint)
    noise = np.random.default_rng(4).integers(0, 256, (3, SIDE * SIDE)).astype(np.uint8)
    for x in (digits[:3], noise):
        exact, reference = net(x), torch_laws(model, x)
        assert np.abs(exact - reference).max() < 1e-3
        assert np.abs(net.approximate(x) - reference).max() < 1e-3


def stepped_laws(net, x: np.ndarray) -> np.ndarray:
    """Every pixel's law as the decoder computes it: a wavefront step at a time."""
    steps, laws = net.stepper(len(x)), np.zeros_like(net(x))
    for group in net.groups:
        laws[:, group] = steps.law_of(group)
        steps.put_all(group, x[:, group])
    return laws


def test_the_wavefront_steps_equal_the_whole_pass_under_any_batch(wide_model, digits):
    """The decoder's steps give the encoder's numbers bit for bit, and a tile's laws do
    not depend on the batch it is in."""
    net = WideCoding(load_checkpoint(wide_model)).net
    x = digits[:5]
    whole = net(x)
    assert np.array_equal(net(digits[:12])[:5], whole)
    assert np.array_equal(stepped_laws(net, x), whole)
    assert np.array_equal(stepped_laws(net, x[:1]), whole[:1])


def test_each_wavefront_step_sees_only_pixels_of_earlier_steps(wide_model):
    """28 + 15 x 27 = 433 steps cover every pixel once, and each pixel's whole causal
    window lies in earlier steps (so the steps decode what the model conditions on)."""
    net = WideCoding(load_checkpoint(wide_model)).net
    assert len(net.groups) == SIDE + (reach(6) + 1) * (SIDE - 1)
    step = np.empty(SIDE * SIDE, dtype=int)
    for index, group in enumerate(net.groups):
        step[group] = index
    assert sorted(np.concatenate(net.groups)) == list(range(SIDE * SIDE))
    for pixel in range(SIDE * SIDE):
        seen_by = causal_window(pixel, 6)  # the pixels whose laws see this one
        assert np.all(step[seen_by] > step[pixel]), divmod(pixel, SIDE)


def test_roundtrip_realizes_the_exact_rate_under_any_batch_and_thread_count(wide_model, digits):
    coding = WideCoding(load_checkpoint(wide_model))
    mask = np.ones((6, 784), dtype=bool)
    mask[5, 600:] = False  # the padding of an edge tile: not coded, zero on both sides
    x = np.where(mask, digits[:6], 0)
    with threadpool_limits(2):
        words, schedule, warmup = push_batches(coding, x, mask, max_batch=4)
    assert schedule == [4, 2] and warmup == 0
    with threadpool_limits(1):
        assert np.array_equal(pop_batches(coding, words, mask, schedule), x)
    estimate = coding.exact_bits(x, mask).sum()
    assert estimate <= 32 * len(words) <= estimate + 64
    with torch.no_grad():
        torch_bits = -from_checkpoint(load_checkpoint(wide_model)).double().log_likelihood(
            torch.from_numpy(digits[:6].astype(np.float64))).sum().item() / np.log(2)
    assert abs(coding.exact_bits(digits[:6], np.ones((6, 784), dtype=bool)).sum() / torch_bits - 1) < 1e-4


@pytest.mark.slow
def test_archives_of_a_wide_model_decode_with_another_thread_count(wide_model):
    """Coded in two chains side by side, decoded by one process."""
    images = digits_and_a_larger_image(130)
    models = ModelSet([wide_model])
    data = compress_images(images, models, CodingOptions(threads=2, fallback=False)).to_bytes()
    assert len(parse(data).sections) == 2 and data[8] == 1
    restored = decompress_archive(parse(data), models, threads=1)
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(images, restored))


def test_golden_wide_bitstream(wide_model, digits):
    """A fixed model and input give these exact words: a change here is a format change."""
    coding = WideCoding(load_checkpoint(wide_model))
    mask = np.ones(digits[:4].shape, dtype=bool)
    words, _, _ = push_batches(coding, digits[:4], mask, max_batch=3)
    assert hashlib.sha256(words.tobytes()).hexdigest()[:16] == GOLDEN_WIDE


GOLDEN_WIDE = "aa596f0bf72f24a3"  # wavefront order (the raster order, never released: 3e9989406a8e5439)


def test_an_output_layer_runs_exactly_as_torch_in_both_orders_and_codes_at_its_rate(digits):
    """``width``: a capped 1x1 layer between the stacks and the output."""
    config = ModelConfig("logistic256", 784, (6,) * 3, 0, "relu", 0.001, "wide", 2, 3, width=5)
    model = seeded_wide(7, config)
    checkpoint = to_checkpoint(model, {"data": "mnist10k"})
    assert checkpoint.config.to_json()["width"] == 5 and "width" not in CONFIG.to_json()
    coding = WideCoding(checkpoint)
    x = digits[:4]
    whole = coding.net(x)
    assert np.abs(whole - torch_laws(model, x)).max() < 1e-3
    assert np.abs(coding.net.approximate(x) - whole).max() < 1e-3
    assert np.array_equal(stepped_laws(coding.net, x), whole)
    mask = np.ones(x.shape, dtype=bool)
    words, schedule, _ = push_batches(coding, x, mask, max_batch=3)
    assert np.array_equal(pop_batches(coding, words, mask, schedule), x)
    exact = coding.exact_bits(x, mask).sum()
    assert exact <= 32 * len(words) <= exact + 64


def test_a_model_without_maps_codes_whole_images_of_any_shape_exactly(monkeypatch):
    """No learned maps, no position: the same network runs on a 45 x 61 image as torch's
    fully convolutional one does, in bands of rows as at once, and the wavefront decoder
    (rings of rows) gives the same numbers and the image back at its exact rate."""
    config = ModelConfig("logistic256", 784, (6,) * 3, 0, "relu", 0.001, "wide", 2, 0)
    model = seeded_wide(8, config)
    coding = WideCoding(to_checkpoint(model, {"data": "mnist10k"})).shaped(45, 61)
    x = np.random.default_rng(9).integers(0, 256, (2, 45 * 61)).astype(np.uint8)
    x[:, :1000] //= 16  # smoother rows first: laws far from uniform
    whole = coding.net(x)
    with torch.no_grad():
        images = torch.from_numpy(x.reshape(2, 1, 45, 61).astype(np.float64))
        reference = model.double().raw_laws(images, images[:, :0]).numpy().reshape(2, -1, 45 * 61)
    assert np.abs(whole - reference.transpose(0, 2, 1)).max() < 1e-3
    assert np.abs(coding.net.approximate(x) - whole).max() < 1e-3
    monkeypatch.setattr("bbcompress.families.wide_coding.BAND_PIXELS", 2 * 61 * 7)  # bands of 7 rows
    assert np.array_equal(coding.net(x), whole)
    assert np.array_equal(stepped_laws(coding.net, x), whole)
    assert len(coding.net.groups) == 61 + coding.net.slope * 44  # 721 steps for 2,745 pixels
    mask = np.ones(x.shape, dtype=bool)
    words, schedule, _ = push_batches(coding, x, mask, max_batch=2)
    assert np.array_equal(pop_batches(coding, words, mask, schedule), x)
    exact = coding.exact_bits(x, mask).sum()
    assert exact <= 32 * len(words) <= exact + 64
    with pytest.raises(CodingError, match="28x28 tiles only"):
        WideCoding(to_checkpoint(seeded_wide(), {})).shaped(45, 61)


def test_a_model_without_maps_trains_on_larger_crops_and_codes_them_as_torch_does():
    """``pixels`` is the training crops' size; learned maps (28x28) need 28x28 crops."""
    config = ModelConfig("logistic256", 16 * 16, (4,) * 2, 0, "relu", 0.001, "wide", 2, 0)
    model = seeded_wide(10, config).double()
    x = np.random.default_rng(11).integers(0, 256, (3, 256)).astype(np.uint8)
    with torch.no_grad():
        torch_bits = -model.log_likelihood(torch.from_numpy(x.astype(np.float64))).sum().item() / np.log(2)
    coding = WideCoding(to_checkpoint(model, {})).shaped(16, 16)
    exact = coding.exact_bits(x, np.ones(x.shape, dtype=bool)).sum()
    assert abs(exact / torch_bits - 1) < 1e-4
    assert seeded_wide(10, config).sample(1, torch.Generator().manual_seed(0)).shape == (1, 256)
    for pixels, features in ((256, 2), (15 * 15 + 1, 0), (7 * 7, 0)):
        with pytest.raises(ValueError, match="crops"):
            ModelConfig("logistic256", pixels, (4,), 0, "relu", 0.0, "wide", 1, features)


@pytest.mark.parametrize("shape", [(28, 28), (9, 70)])
def test_a_cone_decodes_in_a_slope_of_4_what_its_laws_see_and_nothing_else(shape):
    """The vertical stack reads only rows above: a pixel's law sees the row above 3
    columns to its right, so step t decodes (r, t - 4r): 136 steps a tile. Every pixel
    that changes a law lies in an earlier step; the steps give the whole pass's numbers."""
    config = ModelConfig("logistic256", 784, (6,) * 4, 0, "relu", 0.001, "wide", 2, 0, context="cone")
    model = seeded_wide(12, config)
    net = WideCoding(to_checkpoint(model, {})).net.shaped(*shape)
    rows, columns = shape
    assert net.slope == 4 and len(net.groups) == columns + 4 * (rows - 1)
    step = np.empty(rows * columns, dtype=int)
    for index, group in enumerate(net.groups):
        step[group] = index
    x = np.random.default_rng(13).integers(0, 256, (1, rows * columns)).astype(np.uint8)
    base = net(x)[0]
    for pixel in range(0, rows * columns, 7):
        y = x.copy()
        y[0, pixel] = 255 - y[0, pixel]
        seen_by = np.any(net(y)[0] != base, axis=-1)
        assert np.all(step[seen_by] > step[pixel]), divmod(pixel, columns)
    assert np.array_equal(stepped_laws(net, np.repeat(x, 2, 0)), net(np.repeat(x, 2, 0)))
    with torch.no_grad():
        images = torch.from_numpy(x.reshape(1, 1, rows, columns).astype(np.float64))
        reference = model.double().raw_laws(images, images[:, :0]).numpy().reshape(1, -1, rows * columns)
    assert np.abs(base - reference[0].T).max() < 1e-3


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (3, 100), (100, 3), (6, 200), (40, 1)])
def test_tiny_and_narrow_images_code_exactly(shape):
    """Taps that reach past the whole image, and images narrower than the slope (steps
    that decode nothing are left out), round trip at the exact rate."""
    config = ModelConfig("logistic256", 784, (3,) * 4, 0, "relu", 0.001, "wide", 2, 0)
    model = seeded_wide(14, config)
    coding = WideCoding(to_checkpoint(model, {})).shaped(*shape)
    x = np.random.default_rng(15).integers(0, 256, (2, shape[0] * shape[1])).astype(np.uint8)
    with torch.no_grad():
        images = torch.from_numpy(x.reshape(2, 1, *shape).astype(np.float64))
        reference = model.double().raw_laws(images, images[:, :0]).numpy().reshape(2, -1, x.shape[1])
    assert np.abs(coding.net(x) - reference.transpose(0, 2, 1)).max() < 1e-3
    assert np.array_equal(stepped_laws(coding.net, x), coding.net(x))
    assert all(len(group) for group in coding.net.groups)
    mask = np.ones(x.shape, dtype=bool)
    words, schedule, _ = push_batches(coding, x, mask)
    assert np.array_equal(pop_batches(coding, words, mask, schedule), x)


def test_a_model_whose_slope_is_wider_than_its_tiles_round_trips():
    """14 blocks: reach 28, slope 29 > 28 columns (27 steps would decode nothing)."""
    config = ModelConfig("logistic256", 784, (2,) * 14, 0, "relu", 0.001, "wide", 1, 2)
    coding = WideCoding(to_checkpoint(seeded_wide(16, config), {}))
    x = load_dataset("mnist10k").x_test[:2].reshape(2, -1)
    mask = np.ones(x.shape, dtype=bool)
    words, schedule, _ = push_batches(coding, x, mask)
    assert np.array_equal(pop_batches(coding, words, mask, schedule), x)


def test_a_binary_wide_model_codes_binary_tiles_at_its_exact_rate():
    config = ModelConfig("bernoulli", 784, (4,) * 3, 0, "relu", 0.0, "wide", 1, 2)
    checkpoint = to_checkpoint(seeded_wide(2, config), {"data": "mnist10k-binary"})
    coding = WideCoding(checkpoint)
    x = load_dataset("mnist10k-binary").x_test[:9].reshape(9, -1)
    mask = np.ones(x.shape, dtype=bool)
    words, schedule, _ = push_batches(coding, x, mask, max_batch=4)
    assert np.array_equal(pop_batches(coding, words, mask, schedule), x)
    with torch.no_grad():
        torch_bits = -from_checkpoint(checkpoint).double().log_likelihood(
            torch.from_numpy(x.astype(np.float64))).sum().item() / np.log(2)
    exact = coding.exact_bits(x, mask).sum()
    assert abs(exact - torch_bits) < 1e-3 * torch_bits and exact <= 32 * len(words) <= exact + 64


def test_sampling_crops_each_step_to_the_rows_its_pixel_sees():
    model = seeded_wide(5, ModelConfig("bernoulli", 784, (4,) * 2, 0, "relu", 0.0, "wide", 1, 2)).double()
    images = torch.from_numpy(np.random.default_rng(6).integers(0, 2, (2, 1, SIDE, SIDE)).astype(np.float64))
    f = model.maps_of(2, None)
    whole = model.raw_laws(images, f).detach()
    for row in (9, 20, 27):  # reach(2) = 6 rows above
        top = row - reach(2)
        cropped = model.raw_laws(images[:, :, top:row + 1], f[:, :, top:row + 1]).detach()
        assert torch.allclose(cropped[:, :, -1], whole[:, :, row], rtol=0, atol=1e-12)


def test_samples_are_pixels_of_the_kind():
    """(A model without learned maps: the coder's network is torch's too.)"""
    model = seeded_wide(5, ModelConfig("bernoulli", 784, (2,), 0, "relu", 0.0, "wide", 1, 0))
    samples = model.sample(2, torch.Generator().manual_seed(0))
    assert samples.shape == (2, 784) and set(samples.unique().tolist()) <= {0.0, 1.0}
    x = samples.numpy().astype(np.uint8)
    exact = WideCoding(to_checkpoint(model, {})).net(x)
    assert np.abs(exact - torch_laws(model, x)).max() < 1e-3


@pytest.mark.slow
@pytest.mark.train
def test_train_a_wide_model_through_the_cli_then_compress_with_it(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from bbcompress.cli import main
    folder = digit_folder(tmp_path / "mine")
    run = tmp_path / "run"
    args = ["train", "--data", str(folder), "--family", "wide", "--hidden", "4,4", "--features", "2",
            "--mixture", "2", "--pixel-floor", "0.001", "--validation", "6", "-o", str(run), "-q", "--epochs", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    card = (run / "epoch-0001.json").read_text()
    assert '"family": "wide"' in card
    archive = tmp_path / "a.bbc"
    result = CliRunner().invoke(main, ["compress", str(folder), "-o", str(archive), "-m",
                                       str(run / "epoch-0001"), "--no-fallback", "-q"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["decompress", str(archive), "-C", str(tmp_path / "out"), "-m",
                                       str(run / "epoch-0001"), "-q"])
    assert result.exit_code == 0, result.output
    for path in folder.iterdir():
        assert np.array_equal(np.asarray(Image.open(path)),
                              np.asarray(Image.open(tmp_path / "out" / "mine" / path.name)))


LINEAR = ModelConfig("logistic256", 784, (5,) * 3, 0, "relu", 0.001, "wide", 3, 0, context="cone",
                     predictor="linear")


def test_a_linear_predictor_runs_exactly_as_torch_in_both_orders_and_codes_at_its_rate():
    """Means in input units plus a linear map of the nearest pixels: the same numbers in
    torch, in the whole pass, in bands, a step at a time; an edge tile's padding is
    outside the image for the predictor too; the image comes back at its exact rate."""
    model = seeded_wide(17, LINEAR, high=0.05).double()
    coding = WideCoding(to_checkpoint(model, {})).shaped(20, 33)
    x = np.random.default_rng(18).integers(0, 256, (3, 20 * 33)).astype(np.uint8)
    x[:, :300] = np.sort(x[:, :300]) // 2  # ramps: laws far from uniform
    with torch.no_grad():
        images = torch.from_numpy(x.reshape(3, 1, 20, 33).astype(np.float64))
        raw = model.raw_laws(images, images[:, :0])
        reference = raw.numpy().reshape(3, -1, 20 * 33).transpose(0, 2, 1)
        torch_bits = -mixture_log_prob(images, raw, 3, 0.001, model.mean_of).sum().item() / np.log(2)
    whole = coding.net(x)
    assert np.abs(whole - reference).max() < 1e-3
    assert np.abs(coding.net.approximate(x) - whole).max() < 1e-3
    assert np.array_equal(stepped_laws(coding.net, x), whole)
    mask = np.ones(x.shape, dtype=bool)
    assert abs(coding.exact_bits(x, mask).sum() / torch_bits - 1) < 1e-4
    mask.reshape(3, 20, 33)[2, :, 29:] = False  # the padding of an edge tile: columns to the right,
    mask.reshape(3, 20, 33)[2, 17:] = False  # which the predictor of the next row reads, and rows below
    coded = np.where(mask, x, 0)
    words, schedule, _ = push_batches(coding, coded, mask, max_batch=2)
    assert np.array_equal(pop_batches(coding, words, mask, schedule), coded)
    exact = coding.exact_bits(coded, mask).sum()
    assert exact <= 32 * len(words) <= exact + 64


def test_a_linear_predictor_starts_at_the_neighbours_levels():
    """Before training each component's mean is a classic predictor's value in levels:
    left, up, left + up - upper left, (left + up) / 2, (left + upper right) / 2."""
    model = WideModel(dataclasses.replace(LINEAR, mixture=5)).double()
    with torch.no_grad():
        model.out.weight.zero_()
        x = torch.from_numpy(np.random.default_rng(19).integers(0, 256, (1, 1, 9, 9)).astype(np.float64))
        means = model.mean_of(model.raw_laws(x, x[:, :0])[0, 5:10, 4, 4]).numpy()
    p = x[0, 0].numpy()
    left, up, upper_left, upper_right = p[4, 3], p[3, 4], p[3, 3], p[3, 5]
    expected = [left, up, np.clip(left + up - upper_left, -0.5, 255.5), (left + up) / 2, (left + upper_right) / 2]
    assert np.allclose(means, expected, atol=1e-9)


def test_a_linear_predictor_is_the_wide_greyscale_models_own():
    card = to_checkpoint(seeded_wide(1, LINEAR), {}).config.to_json()
    assert card["predictor"] == "linear" and "predictor" not in CONFIG.to_json()
    with pytest.raises(ValueError, match="binary models have none"):
        dataclasses.replace(LINEAR, likelihood="bernoulli", mixture=1, pixel_floor=0.0)
    with pytest.raises(ValueError, match="predictor is one of"):
        ModelConfig("logistic256", 784, (4,), 0, "relu", 0.0, "local", 1, 2, predictor="linear")


def test_a_clamped_value_learns_to_come_back_but_not_to_drift_away():
    """``inward_clamp``: the value is clamped; its gradient passes inside the bounds, and
    outside only where a descent step moves it back in."""
    from bbcompress.families.mlp import inward_clamp
    x = torch.tensor([-9.0, -9.0, 0.0, 9.0, 9.0], requires_grad=True)
    push = torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0])  # the loss's gradient at each
    clamped = inward_clamp(x, -7.0, 7.0)
    (clamped * push).sum().backward()
    assert clamped.tolist() == [-7.0, -7.0, 0.0, 7.0, 7.0]
    assert x.grad.tolist() == [0.0, -1.0, 1.0, 1.0, 0.0]  # descent: x -= grad
