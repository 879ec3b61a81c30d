"""The coder: every codec pops what it pushed and leaves the stack as it found it."""
import hashlib

import constriction
import numpy as np
import pytest
import torch

from bbcompress.coder import (BernoulliPixels, EqualMassLatents, GridLatents, Logistic256Pixels,
                              decode_chain, encode_chain, seed_bits, seed_words)
from bbcompress.coding_networks import bits_back_for, NetworkFunctions
from bbcompress.data import load_dataset
from bbcompress.errors import CodingError, IntegrityError

ANS = constriction.stream.stack.AnsCoder


def check_roundtrip(push, pop):
    """push then pop on a seeded stack: returns what pop gave and the bits push cost."""
    coder = ANS(seed_words(4), seal=True)
    start = coder.get_compressed().copy()
    push(coder)
    cost = coder.num_bits() - len(start) * 32
    result = pop(coder)
    assert np.array_equal(coder.get_compressed(), start), "pop did not undo push"
    return result, cost


def test_bernoulli_pixels_roundtrip_and_rate():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, 5000)
    x = (rng.random(5000) < 1 / (1 + np.exp(-logits))).astype(np.uint8)
    codec = BernoulliPixels()
    got, cost = check_roundtrip(lambda c: codec.push(c, x, logits), lambda c: codec.pop(c, logits))
    assert np.array_equal(got, x)
    p = 1 / (1 + np.exp(-logits))
    information = -np.sum(np.log2(np.where(x == 1, p, 1 - p)))
    assert abs(cost - information) < 0.01 * information + 64


def logistic_information_bits(x, mean, log_scale, floor=0.0):
    from bbcompress.model import logistic256_log_prob
    lp = logistic256_log_prob(torch.from_numpy(x.astype(np.float64)), torch.from_numpy(mean),
                              torch.from_numpy(log_scale), floor)
    return float(-lp.sum() / np.log(2))


@pytest.mark.parametrize("mean_range,log_scale_range", [((-0.5, 255.5), (-1, 4)), ((-0.5, 2), (-7, -3))])
@pytest.mark.parametrize("floor", [0.0, 1e-3])
def test_logistic256_pixels_roundtrip_and_rate(mean_range, log_scale_range, floor):
    rng = np.random.default_rng(1)
    n = 4000
    mean = rng.uniform(*mean_range, n)
    log_scale = rng.uniform(*log_scale_range, n)
    u = rng.uniform(1e-6, 1 - 1e-6, n)
    x = np.clip(np.round(mean + np.exp(log_scale) * np.log(u / (1 - u))), 0, 255).astype(np.uint8)
    x[:5] = [0, 255, 128, 1, 254]  # the open ends and far tails too
    codec = Logistic256Pixels(floor)
    params = (mean, log_scale)
    got, cost = check_roundtrip(lambda c: codec.push(c, x, params), lambda c: codec.pop(c, params))
    assert np.array_equal(got, x)
    information = logistic_information_bits(x, mean, log_scale, floor)
    # far-tail pixels are capped at 24 bits per binary decision: never above the model
    assert cost < information + 0.01 * information + 64
    if floor:  # the floor's model is what is coded: within 1% of its information
        assert cost > information - 0.01 * information - 64


@pytest.mark.parametrize("latents", [EqualMassLatents(8), GridLatents(7)], ids=["buckets", "grid"])
def test_latent_codecs_roundtrip(latents):
    rng = np.random.default_rng(2)
    mean, std = rng.normal(0, 1, (50, 4)), np.exp(rng.normal(-2, 1, (50, 4)))
    j = latents.pop_posterior(ANS(seed_words(200), seal=True), mean, std)
    got, _ = check_roundtrip(lambda c: latents.push_posterior(c, j, mean, std),
                             lambda c: latents.pop_posterior(c, mean, std))
    assert np.array_equal(got, j)
    got, _ = check_roundtrip(lambda c: latents.push_prior(c, j), lambda c: latents.pop_prior(c, j.shape))
    assert np.array_equal(got, j)
    z = latents.z(j)
    assert np.array_equal(z * 2**16, np.round(z * 2**16)), "decoder inputs must be on the exact grid"


def random_tiles(kind, count, seed=0):
    rng = np.random.default_rng(seed)
    ds = load_dataset("mnist10k-binary" if kind == "binary" else "mnist10k")
    x = ds.x_test[:count].reshape(count, -1).copy()
    mask = np.ones_like(x, dtype=bool)
    mask[-1, rng.integers(0, 784, 300)] = False  # an edge tile: padding is not coded
    x[~mask] = 0
    return x, mask


@pytest.mark.parametrize("scheme", ["buckets", "grid"])
@pytest.mark.parametrize("kind", ["binary", "greyscale"])
def test_bits_back_chain_roundtrip(kind, scheme, binary_vae, greyscale_vae):
    vae = binary_vae if kind == "binary" else greyscale_vae
    bits_back = bits_back_for(vae, scheme, 8 if scheme == "buckets" else 7)
    x, mask = random_tiles(kind, 150)
    words, schedule = encode_chain(bits_back, x, mask, max_batch=64)
    assert sum(schedule) == 150 and schedule[0] == 1 and max(schedule) <= 64
    assert np.array_equal(decode_chain(bits_back, words, mask, schedule), x)


def test_a_floored_greyscale_model_codes_at_its_elbo():
    from conftest import seeded_vae
    from bbcompress.evaluate import elbo_bpd
    vae = seeded_vae("logistic256", seed=1, pixel_floor=1e-3)
    x, mask = random_tiles("greyscale", 200)
    mask[:] = True
    words, schedule = encode_chain(bits_back_for(vae), x, mask)
    assert np.array_equal(decode_chain(bits_back_for(vae), words, mask, schedule), x)
    realized = (32 * len(words) - seed_bits(vae.config.latent)) / x.size
    assert realized == pytest.approx(elbo_bpd(vae, x, samples=20), rel=0.02)


def test_decoding_with_other_weights_is_caught(binary_vae):
    from conftest import seeded_vae
    x, mask = random_tiles("binary", 20)
    words, schedule = encode_chain(bits_back_for(binary_vae), x, mask)
    with pytest.raises(IntegrityError):
        decode_chain(bits_back_for(seeded_vae("bernoulli", seed=7)), words, mask, schedule)


def test_network_outputs_are_identical_across_batch_sizes_and_threads(greyscale_vae):
    networks = NetworkFunctions(greyscale_vae, z_max=4.0)
    x = load_dataset("mnist10k").x_test[:64].reshape(64, -1)
    z = np.round(np.random.default_rng(0).normal(0, 1, (64, 4)) * 2**16) / 2**16
    full_mean, full_std = networks.encode(x)
    full_params = networks.decode(z)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one_by_one = [networks.encode(x[i:i + 1]) for i in range(0, 64, 1)]
        odd_batches = [networks.decode(z[i:i + 7]) for i in range(0, 64, 7)]
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(np.concatenate([m for m, _ in one_by_one]), full_mean)
    assert np.array_equal(np.concatenate([s for _, s in one_by_one]), full_std)
    assert np.array_equal(np.concatenate([p[0] for p in odd_batches]), full_params[0])
    assert np.array_equal(np.concatenate([p[1] for p in odd_batches]), full_params[1])


def test_exact_network_stays_close_to_the_float_model(binary_vae):
    networks = NetworkFunctions(binary_vae, z_max=4.0)
    x = load_dataset("mnist10k-binary").x_test[:32].reshape(32, -1)
    mean, _ = networks.encode(x)
    with torch.no_grad():
        float_mean, _ = binary_vae.double().encoder(torch.from_numpy(x.astype(np.float64)))
        binary_vae.float()
    assert np.abs(mean - float_mean.numpy()).max() < 1e-3


def test_nan_parameters_are_refused_before_the_coder_sees_them():
    with pytest.raises(CodingError):
        BernoulliPixels().push(ANS(), np.zeros(3, np.uint8), np.array([0.0, np.nan, 1.0]))


@pytest.mark.parametrize("kind", ["binary", "greyscale"])
def test_golden_bitstream(kind, binary_vae, greyscale_vae):
    """Fixed model and input -> fixed words: an accidental format change shows here."""
    vae = binary_vae if kind == "binary" else greyscale_vae
    x, mask = random_tiles(kind, 12)
    words, schedule = encode_chain(bits_back_for(vae), x, mask)
    digest = hashlib.sha256(words.astype("<u4").tobytes()).hexdigest()
    assert (schedule, digest) == GOLDEN[kind], (schedule, digest)


GOLDEN = {
    "binary": ([1, 9, 2], "ba7c8ec3554d7ff671505b37e115c7cd58049430251c1c55854b9b3d549fe57b"),
    "greyscale": ([1, 11], "cc0e263d056bfef25c7e752af10f094207b6e86ce5b0cf6d7831f512174d1805"),
}
