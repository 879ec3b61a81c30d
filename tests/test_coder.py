"""The codecs: every codec pops what it pushed and leaves the stack as it found it."""
import hashlib

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from bbcompress.codec.bits_back import CodingSettings, pop_batches, push_batches
from bbcompress.codec.core import Codec, chain, masked, seed_bits, seeded_coder
from bbcompress.codec.latents import EqualMassLatents, GridLatents
from bbcompress.codec.pixels import bernoulli, bernoulli_logits, logistic256
from bbcompress.errors import CodingError, IntegrityError
from bbcompress.families.mlp_coding import MLPCoding
from bbcompress.training.data import load_dataset

from helpers import checkpoint_of, seeded_vae


def check_codec(codec: Codec, symbols, equal=np.array_equal) -> int:
    """push then pop on a seeded stack: pop must return the symbols and restore the
    stack word for word. Returns the bits push cost."""
    coder = seeded_coder(64)
    start = coder.get_compressed().copy()
    codec.push(coder, symbols)
    cost = coder.num_bits() - len(start) * 32
    assert equal(codec.pop(coder), symbols), "pop did not return what push was given"
    assert np.array_equal(coder.get_compressed(), start), "pop did not undo push"
    return cost


def bernoulli_information(x, p):
    return -np.sum(np.log2(np.where(x == 1, p, 1 - p)))


def test_bernoulli_roundtrip_and_rate():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, 5000)
    p = 1 / (1 + np.exp(-logits))
    x = (rng.random(5000) < p).astype(np.uint8)
    for codec in (bernoulli(p), bernoulli_logits(logits)):
        cost = check_codec(codec, x)
        information = bernoulli_information(x, p)
        assert abs(cost - information) < 0.01 * information + 64


def logistic_information_bits(x, mean, log_scale, floor=0.0):
    from bbcompress.families.mlp import logistic256_log_prob
    lp = logistic256_log_prob(torch.from_numpy(x.astype(np.float64)), torch.from_numpy(mean),
                              torch.from_numpy(log_scale), floor)
    return float(-lp.sum() / np.log(2))


@pytest.mark.train
@pytest.mark.parametrize("mean_range,log_scale_range", [((-0.5, 255.5), (-1, 4)), ((-0.5, 2), (-7, -3))])
@pytest.mark.parametrize("floor", [0.0, 1e-3])
def test_logistic256_roundtrip_and_rate(mean_range, log_scale_range, floor):
    rng = np.random.default_rng(1)
    n = 4000
    mean = rng.uniform(*mean_range, n)
    log_scale = rng.uniform(*log_scale_range, n)
    u = rng.uniform(1e-6, 1 - 1e-6, n)
    x = np.clip(np.round(mean + np.exp(log_scale) * np.log(u / (1 - u))), 0, 255).astype(np.uint8)
    x[:5] = [0, 255, 128, 1, 254]  # the open ends and far tails too
    cost = check_codec(logistic256(mean, log_scale, floor), x)
    information = logistic_information_bits(x, mean, log_scale, floor)
    # far-tail pixels are capped at 24 bits per binary decision: never above the model
    assert cost < information + 0.01 * information + 64
    if floor:  # the floor's model is what is coded: within 1% of its information
        assert cost > information - 0.01 * information - 64


@pytest.mark.parametrize("latents", [EqualMassLatents(8), GridLatents(7)], ids=["buckets", "grid"])
def test_latent_codecs_roundtrip(latents):
    rng = np.random.default_rng(2)
    mean, std = rng.normal(0, 1, (50, 4)), np.exp(rng.normal(-2, 1, (50, 4)))
    j = latents.posterior(mean, std).pop(seeded_coder(200))
    check_codec(latents.posterior(mean, std), j)
    check_codec(latents.prior(j.shape), j)
    z = latents.z(j)
    assert np.array_equal(z * 2**16, np.round(z * 2**16)), "decoder inputs must be on the exact grid"


def test_chain_codes_each_symbol_given_the_ones_before():
    """A Markov chain of bits: P(next = previous) = 0.9; the rate must be the chain's."""
    rng = np.random.default_rng(3)
    length, width = 40, 200
    bits = [rng.integers(0, 2, width).astype(np.uint8)]
    for _ in range(length - 1):
        bits.append(np.where(rng.random(width) < 0.9, bits[-1], 1 - bits[-1]).astype(np.uint8))

    def step(previous):
        p = np.full(width, 0.5) if previous is None else np.where(previous == 1, 0.9, 0.1)
        return bernoulli(p), lambda bit: bit
    cost = check_codec(chain(None, step, length), bits, equal=lambda a, b: all(map(np.array_equal, a, b)))
    information = width + sum(bernoulli_information(b, np.where(a == 1, 0.9, 0.1)) for a, b in zip(bits, bits[1:]))
    assert abs(cost - information) < 0.01 * information + 64


def test_masked_codes_only_the_masked_symbols():
    rng = np.random.default_rng(4)
    mask = rng.random((6, 10)) < 0.5
    x = np.where(mask, rng.integers(0, 2, mask.shape), 0).astype(np.uint8)
    cost = check_codec(masked(bernoulli(np.full(mask.sum(), 0.5)), mask), x)
    assert abs(cost - mask.sum()) <= 32


def vae_coding(kind, seed=None, **options):
    vae = seeded_vae("bernoulli") if kind == "binary" else seeded_vae("logistic256", seed=1)
    if seed is not None:
        vae = seeded_vae(vae.config.likelihood, seed=seed)
    return MLPCoding(checkpoint_of(vae, "x"), CodingSettings("amortized", **options))


def random_tiles(kind, count, seed=0):
    rng = np.random.default_rng(seed)
    ds = load_dataset("mnist10k-binary" if kind == "binary" else "mnist10k")
    x = ds.x_test[:count].reshape(count, -1).copy()
    mask = np.ones_like(x, dtype=bool)
    mask[-1, rng.integers(0, 784, 300)] = False  # an edge tile: padding is not coded
    x[~mask] = 0
    return x, mask


@pytest.mark.parametrize("kind", ["binary", "greyscale"])
def test_bits_back_codec_roundtrips_a_batch(kind):
    coding = vae_coding(kind)
    x, mask = random_tiles(kind, 5)
    coder = seeded_coder(200)  # enough initial bits for 5 images' latent pops
    start = coder.get_compressed().copy()
    coding.codec(mask).push(coder, x)
    assert np.array_equal(coding.codec(mask).pop(coder), x)
    assert np.array_equal(coder.get_compressed(), start)


@pytest.mark.parametrize("scheme", ["buckets", "grid"])
@pytest.mark.parametrize("kind", ["binary", "greyscale"])
def test_bits_back_chain_roundtrip(kind, scheme):
    coding = vae_coding(kind, latents=scheme, latent_bits=8 if scheme == "buckets" else 7)
    x, mask = random_tiles(kind, 150)
    words, schedule, warmup = push_batches(coding, x, mask, max_batch=64)
    assert sum(schedule) == 150 and schedule[0] == 1 and max(schedule) <= 64
    assert np.array_equal(pop_batches(coding, words, mask, schedule, warmup), x)


@pytest.mark.slow
@pytest.mark.train
def test_a_floored_greyscale_model_codes_at_its_elbo():
    from bbcompress.training.evaluate import elbo_bpd
    vae = seeded_vae("logistic256", seed=1, pixel_floor=1e-3)
    coding = MLPCoding(checkpoint_of(vae, "x"), CodingSettings("amortized"))
    x, mask = random_tiles("greyscale", 200)
    mask[:] = True
    words, schedule, warmup = push_batches(coding, x, mask)
    assert np.array_equal(pop_batches(coding, words, mask, schedule, warmup), x)
    realized = (32 * len(words) - seed_bits(vae.config.latent)) / x.size
    assert realized == pytest.approx(elbo_bpd(vae, x, samples=20), rel=0.02)


def test_decoding_with_other_weights_is_caught():
    coding, other = vae_coding("binary"), vae_coding("binary", seed=7)
    x, mask = random_tiles("binary", 20)
    words, schedule, warmup = push_batches(coding, x, mask)
    with pytest.raises(IntegrityError):
        pop_batches(other, words, mask, schedule, warmup)


def test_network_outputs_are_identical_across_batch_sizes_and_threads():
    coding = vae_coding("greyscale")
    x = load_dataset("mnist10k").x_test[:64].reshape(64, -1)
    z = np.round(np.random.default_rng(0).normal(0, 1, (64, 4)) * 2**16) / 2**16
    with threadpool_limits(2):
        full_mean, full_std = coding.encode(x)
        full_params = coding.decode(z)
    with threadpool_limits(1):
        one_by_one = [coding.encode(x[i:i + 1]) for i in range(0, 64, 1)]
        odd_batches = [coding.decode(z[i:i + 7]) for i in range(0, 64, 7)]
    assert np.array_equal(np.concatenate([m for m, _ in one_by_one]), full_mean)
    assert np.array_equal(np.concatenate([s for _, s in one_by_one]), full_std)
    assert np.array_equal(np.concatenate([p[0] for p in odd_batches]), full_params[0])
    assert np.array_equal(np.concatenate([p[1] for p in odd_batches]), full_params[1])


@pytest.mark.train
def test_exact_network_stays_close_to_the_float_model():
    vae = seeded_vae("bernoulli")
    coding = MLPCoding(checkpoint_of(vae, "x"), CodingSettings("amortized"))
    x = load_dataset("mnist10k-binary").x_test[:32].reshape(32, -1)
    mean, _ = coding.encode(x)
    with torch.no_grad():
        float_mean, _ = vae.double().encoder(torch.from_numpy(x.astype(np.float64)))
    assert np.abs(mean - float_mean.numpy()).max() < 1e-3


def test_nan_parameters_are_refused_before_the_coder_sees_them():
    with pytest.raises(CodingError):
        bernoulli_logits(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(CodingError):
        logistic256(np.array([1.0, np.nan]), np.zeros(2))


@pytest.mark.parametrize("kind", ["binary", "greyscale"])
def test_golden_bitstream(kind):
    """Fixed model and input -> fixed words: an accidental format change shows here."""
    coding = vae_coding(kind)
    x, mask = random_tiles(kind, 12)
    words, schedule, warmup = push_batches(coding, x, mask)
    digest = hashlib.sha256(words.astype("<u4").tobytes()).hexdigest()
    assert (schedule, digest) == GOLDEN[kind], (schedule, digest)


GOLDEN = {
    "binary": ([1, 9, 2], "ba7c8ec3554d7ff671505b37e115c7cd58049430251c1c55854b9b3d549fe57b"),
    "greyscale": ([1, 11], "cc0e263d056bfef25c7e752af10f094207b6e86ce5b0cf6d7831f512174d1805"),
}


def test_particles_taken_out_and_put_back_are_the_same():
    from bbcompress.codec.importance import with_chosen, without
    rng = np.random.default_rng(5)
    particles = rng.integers(0, 256, (30, 5, 3))
    chosen = rng.integers(0, 5, 30)
    others = without(particles, chosen)
    assert len(others) == 4
    assert np.array_equal(with_chosen(others, chosen, particles[np.arange(30), chosen]), particles)


def test_index_codec_roundtrips():
    from bbcompress.codec.importance import WEIGHT_UNIT, index_codec, uniform_index
    rng = np.random.default_rng(6)
    log_w = np.round(rng.normal(0, 5, (40, 8)) / WEIGHT_UNIT) * WEIGHT_UNIT
    k = rng.integers(0, 8, 40)
    check_codec(index_codec(log_w), k)
    assert check_codec(uniform_index(8, 40), k) == pytest.approx(40 * 3, abs=32)


@pytest.mark.parametrize("scheme", ["buckets", "grid"])
@pytest.mark.parametrize("kind", ["binary", "greyscale"])
def test_importance_sampled_chains_roundtrip(kind, scheme):
    coding = vae_coding(kind, latents=scheme, latent_bits=8 if scheme == "buckets" else 7, particles=3)
    x, mask = random_tiles(kind, 40)
    words, schedule, warmup = push_batches(coding, x, mask, max_batch=16)
    assert schedule[0] == 1 and max(schedule) <= 16
    assert np.array_equal(pop_batches(coding, words, mask, schedule, warmup), x)


@pytest.mark.slow
@pytest.mark.train
def test_more_particles_code_below_the_elbo_towards_the_iwae_bound():
    """Realized net rate: N=1 ~ -ELBO; N=8 below it and near IWAE-8 (which it estimates)."""
    from bbcompress.training.evaluate import elbo_bpd, iwae_bpd
    vae = seeded_vae("logistic256", seed=1, pixel_floor=1e-3)
    x, mask = random_tiles("greyscale", 150)
    mask[:] = True
    rates = {}
    for n in (1, 8):
        coding = MLPCoding(checkpoint_of(vae, "x"), CodingSettings("amortized", particles=n))
        words, schedule, warmup = push_batches(coding, x, mask)
        assert np.array_equal(pop_batches(coding, words, mask, schedule, warmup), x)
        rates[n] = (32 * len(words) - seed_bits(coding.pops_per_image(warm=True))) / x.size
    elbo, iwae8 = elbo_bpd(vae, x, samples=20), iwae_bpd(vae, x, samples=8)
    assert rates[8] < rates[1] - 0.5 * (elbo - iwae8)
    assert rates[8] == pytest.approx(iwae8, rel=0.02)


def test_importance_weights_are_identical_across_batch_sizes_and_threads():
    coding = vae_coding("greyscale", particles=4)
    x, mask = random_tiles("greyscale", 12)
    particles = np.random.default_rng(7).integers(0, 256, (12, 4, 4))
    with threadpool_limits(2):
        full = coding.log_weights(x, mask, particles)
    with threadpool_limits(1):
        parts = [coding.log_weights(x[i:i + 5], mask[i:i + 5], particles[i:i + 5]) for i in range(0, 12, 5)]
    assert np.array_equal(np.concatenate(parts), full)


def test_exact_backward_pass_is_the_gradient():
    from bbcompress.codec.exact import ExactMLP
    rng = np.random.default_rng(8)
    linears = [(rng.normal(0, 0.3, (20, 4)).astype(np.float32), rng.normal(0, 0.1, 20).astype(np.float32)),
               (rng.normal(0, 0.3, (7, 20)).astype(np.float32), rng.normal(0, 0.1, 7).astype(np.float32))]
    net = ExactMLP(linears, 2.0**-16, 4 * 2**16)
    z = np.round(rng.normal(0, 1, (5, 4)) * 2**16) / 2**16
    out, masks = net.forward(z * 2**16)
    upstream = rng.normal(0, 1, (5, 7))
    grad = net.backward(upstream, masks)
    numeric = np.zeros_like(z)
    for i in range(4):
        step = np.zeros_like(z)
        step[:, i] = 1e-3
        numeric[:, i] = ((net((z + step) * 2**16) - net((z - step) * 2**16)) * upstream).sum(1) / 2e-3
    assert np.abs(grad - numeric).max() < 0.02 * np.abs(numeric).max()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["binary", "greyscale"])
def test_refined_chains_roundtrip_with_masked_pixels(kind):
    coding = vae_coding(kind, refine_steps=3, particles=2)
    x, mask = random_tiles(kind, 30)
    words, schedule, warmup = push_batches(coding, x, mask, max_batch=8)
    assert np.array_equal(pop_batches(coding, words, mask, schedule, warmup), x)


def test_refinement_is_identical_across_batch_sizes_and_threads():
    coding = vae_coding("greyscale", refine_steps=4)
    x, mask = random_tiles("greyscale", 12)
    with threadpool_limits(2):
        full = coding.encode(x, mask)
    with threadpool_limits(1):
        parts = [coding.encode(x[i:i + 5], mask[i:i + 5]) for i in range(0, 12, 5)]
    assert np.array_equal(np.concatenate([m for m, _ in parts]), full[0])
    assert np.array_equal(np.concatenate([s for _, s in parts]), full[1])


@pytest.mark.slow
def test_refinement_lowers_the_rate_of_the_shipped_binary_model():
    from bbcompress.zoo import load_shipped
    checkpoint = load_shipped("mnist-binary")
    x = load_dataset("mnist10k-binary").x_test[:150].reshape(150, -1)
    mask = np.ones_like(x, dtype=bool)
    rates = []
    for steps in (0, 10):
        coding = MLPCoding(checkpoint, CodingSettings(checkpoint.default_encoder, refine_steps=steps))
        words, schedule, warmup = push_batches(coding, x, mask)
        assert np.array_equal(pop_batches(coding, words, mask, schedule, warmup), x)
        rates.append(32 * len(words) / x.size)
    assert rates[1] < 0.985 * rates[0], rates


def test_particles_warm_up_on_plain_bits_back_and_pay_no_more_initial_bits():
    plain, many = vae_coding("binary"), vae_coding("binary", particles=16)
    assert seed_bits(many.pops_per_image(warm=True)) == seed_bits(plain.pops_per_image())
    x, mask = random_tiles("binary", 60)
    words, schedule, warmup = push_batches(many, x, mask)
    assert 1 <= warmup < len(schedule)
    assert np.array_equal(pop_batches(many, words, mask, schedule, warmup), x)
    with pytest.raises(IntegrityError):  # decoding the warm-up batches with the full codec fails
        pop_batches(many, words, mask, schedule, 0)


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.parametrize("level", [1, 4])
def test_the_level_bound_is_the_rate_the_level_codes_at(level):
    from bbcompress.training.evaluate import level_bound_bpd
    from bbcompress.zoo import load_shipped
    checkpoint = load_shipped("mnist-binary")
    digits = load_dataset("mnist10k-binary").x_test[:200]
    particles, steps = checkpoint.config.spec.level(level)
    coding = MLPCoding(checkpoint, CodingSettings(checkpoint.default_encoder, particles=particles, refine_steps=steps))
    x = digits.reshape(200, -1)
    words, schedule, warmup = push_batches(coding, x, np.ones_like(x, dtype=bool))
    realized = (32 * len(words) - seed_bits(coding.pops_per_image(warm=True))) / x.size
    bound = level_bound_bpd(checkpoint, checkpoint.default_encoder, digits, level)
    assert realized == pytest.approx(bound, rel=0.015), (realized, bound)


def test_the_bucket_table_is_scipys_ndtri_bit_for_bit():
    """Bucket edges and centres come from a shipped table (no scipy import to build them);
    archives depend on its exact values, which must be scipy's, as they always were."""
    from scipy.special import ndtri

    from bbcompress.codec.latents import EqualMassLatents, normal_quantiles
    table = normal_quantiles()
    assert np.array_equal(table, ndtri(np.arange(len(table)) / (len(table) - 1)))
    for bits in (1, 6, 8, 12):
        count, latents = 1 << bits, EqualMassLatents(bits)
        assert np.array_equal(latents.edges, ndtri(np.arange(count + 1) / count))
        assert np.array_equal(latents.centres, np.round(ndtri((np.arange(count) + 0.5) / count) * 2**16) / 2**16)


def test_estimates_need_no_scipy_and_agree_with_the_exact_weights():
    from bbcompress.codec.latents import approximate_ndtr, ndtr
    x = np.linspace(-9, 9, 1001)
    assert np.allclose(approximate_ndtr(x), ndtr(x), rtol=1e-12, atol=1e-300)
