import json
import math

import pytest
import torch

from bbcompress.errors import BBCError, CheckpointError
from bbcompress.checkpoint import load_checkpoint
from bbcompress.families.config import ModelConfig
from bbcompress.families.mlp import VAE, logistic256_log_prob, from_checkpoint
from bbcompress.training.config import COSINE_END, TrainConfig
from bbcompress.training.data import load_dataset
from bbcompress.training.evaluate import elbo_bpd, iwae_bpd
from bbcompress.training.steps import as_pixels, guarded_step
from bbcompress.training.train import epoch_lr, prepare_folder, train

from helpers import checkpoint_of, seeded_vae


@pytest.mark.train
@pytest.mark.parametrize("mean_range,log_scale_range", [
    ((-0.5, 255.5), (-7, 7)),      # the full range the decoder can produce
    ((-0.5, 3), (-7, -4)),         # sharp, at the open lower end
    ((252, 255.5), (-7, -4)),      # sharp, at the open upper end
    ((100, 150), (5, 7)),          # nearly flat
])
@pytest.mark.parametrize("floor", [0.0, 1e-3])
def test_discretized_logistic_sums_to_one(mean_range, log_scale_range, floor):
    g = torch.Generator().manual_seed(0)
    mean = torch.empty(1, 500, dtype=torch.float64).uniform_(*mean_range, generator=g)
    log_scale = torch.empty(1, 500, dtype=torch.float64).uniform_(*log_scale_range, generator=g)
    levels = torch.arange(256, dtype=torch.float64).view(-1, 1)
    log_p = logistic256_log_prob(levels, mean, log_scale, floor)
    total = torch.logsumexp(log_p, dim=0).exp()
    assert torch.allclose(total, torch.ones_like(total), atol=1e-9)
    if floor:  # no level costs more than log2(256 / floor) bits
        assert (-log_p / math.log(2)).max() <= math.log2(256 / floor) + 1e-9


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.parametrize("likelihood,data", [("bernoulli", "mnist10k-binary"), ("logistic256", "mnist10k")])
def test_elbo_is_below_the_iwae_bound(likelihood, data):
    vae = seeded_vae(likelihood)
    images = load_dataset(data).x_test[:200]
    # BPD is -bound: a tighter (larger) bound means fewer bits
    assert iwae_bpd(vae, images, samples=50) < elbo_bpd(vae, images, samples=10)


@pytest.mark.slow
@pytest.mark.train
def test_a_short_training_run_lowers_train_bpd(tmp_path):
    ds = load_dataset("mnist10k-binary")
    small = ds.first(500, 100)
    config = ModelConfig("bernoulli", 784, (64, 64), 4)
    torch.manual_seed(0)
    before = elbo_bpd(VAE(config), small.x_train)
    state = train(config, TrainConfig(ds.name, epochs=3, checkpoint_every=3), small, tmp_path,
                  report=lambda event: None)
    assert elbo_bpd(state.vae, small.x_train) < before - 0.05
    card = json.loads((tmp_path / "epoch-0003.json").read_text())
    assert card["epoch"] == 3 and card["train_bpd"] < before


@pytest.mark.slow
@pytest.mark.train
def test_interrupted_training_resumes_to_identical_weights(tmp_path):
    ds = load_dataset("mnist10k-binary")
    small = ds.first(300, 50)
    config = ModelConfig("bernoulli", 784, (32,), 3)
    quiet = dict(report=lambda event: None)
    train(config, TrainConfig(ds.name, epochs=4, checkpoint_every=2), small, tmp_path / "a", **quiet)
    train(config, TrainConfig(ds.name, epochs=2, checkpoint_every=2), small, tmp_path / "b", **quiet)
    train(config, TrainConfig(ds.name, epochs=4, checkpoint_every=2), small, tmp_path / "b",
          resume=True, **quiet)
    a = (tmp_path / "a" / "epoch-0004.safetensors").read_bytes()
    assert a == (tmp_path / "b" / "epoch-0004.safetensors").read_bytes()


@pytest.mark.train
def test_a_cosine_schedule_falls_from_the_rate_to_its_end_and_a_constant_one_stays():
    cosine = TrainConfig("d", epochs=9, lr=1e-3, schedule="cosine")
    rates = [epoch_lr(cosine, epoch) for epoch in range(9)]
    assert rates[0] == pytest.approx(1e-3) and rates[-1] == pytest.approx(1e-3 * COSINE_END)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert rates[4] == pytest.approx(1e-3 * (1 + COSINE_END) / 2)  # half way: the mean
    assert {epoch_lr(TrainConfig("d", epochs=9, lr=3e-4), e) for e in range(9)} == {3e-4}
    with pytest.raises(ValueError, match="unknown schedule"):
        TrainConfig("d", schedule="linear")


@pytest.mark.train
def test_a_run_starts_from_a_checkpoint_of_its_configuration_only(tmp_path):
    ds = load_dataset("mnist10k-binary")
    small = ds.first(200, 50)
    config = ModelConfig("bernoulli", 784, (32,), 3)
    train(config, TrainConfig(ds.name, epochs=1, checkpoint_every=1), small, tmp_path / "a", report=lambda e: None)
    start = str(tmp_path / "a" / "epoch-0001")
    state = prepare_folder(tmp_path / "b", config, TrainConfig(ds.name, start_from=start), resume=False)
    trained = from_checkpoint(load_checkpoint(start)).state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in state.vae.state_dict().items())
    other = ModelConfig("bernoulli", 784, (16,), 3)
    with pytest.raises(BBCError, match="differs from this run"):
        prepare_folder(tmp_path / "c", other, TrainConfig(ds.name, start_from=start), resume=False)


@pytest.mark.slow
@pytest.mark.train
def test_a_cosine_run_resumes_only_to_the_epochs_that_fixed_its_rates(tmp_path):
    ds = load_dataset("mnist10k-binary")
    small = ds.first(100, 20)
    config = ModelConfig("bernoulli", 784, (16,), 2)
    cosine = TrainConfig(ds.name, epochs=2, checkpoint_every=1, schedule="cosine")
    train(config, cosine, small, tmp_path, report=lambda e: None)
    longer = TrainConfig(ds.name, epochs=4, checkpoint_every=1, schedule="cosine")
    with pytest.raises(BBCError, match="--start-from .*epoch-0002"):
        train(config, longer, small, tmp_path, resume=True, report=lambda e: None)


@pytest.mark.train
def test_resuming_with_other_settings_names_each_one(tmp_path):
    ds = load_dataset("mnist10k-binary")
    small = ds.first(100, 20)
    config = ModelConfig("bernoulli", 784, (8,), 2)
    train(config, TrainConfig(ds.name, epochs=1, checkpoint_every=1), small, tmp_path, report=lambda e: None)
    with pytest.raises(BBCError, match=r"other settings: hidden \[8\] \(now \[4\]\), lr 0.001 \(now 0.002\)$"):
        train(ModelConfig("bernoulli", 784, (4,), 2), TrainConfig(ds.name, epochs=2, checkpoint_every=1, lr=0.002),
              small, tmp_path, resume=True, report=lambda e: None)


@pytest.mark.train
def test_checkpoint_roundtrip_gives_identical_outputs(tmp_path, binary_vae):
    checkpoint_of(binary_vae, "mnist10k-binary").save(tmp_path / "m")
    loaded = from_checkpoint(load_checkpoint(tmp_path / "m.json"))
    x = as_pixels(load_dataset("mnist10k-binary").x_test[:20])
    assert torch.equal(loaded.encoder(x)[0], binary_vae.encoder(x)[0])
    z = torch.randn(5, 4)
    assert torch.equal(loaded.decoder(z), binary_vae.decoder(z))


def test_bad_checkpoints_are_refused_clearly(tmp_path, binary_vae):
    checkpoint_of(binary_vae, "mnist10k-binary").save(tmp_path / "m")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(CheckpointError, match="not a bbcompress checkpoint"):
        load_checkpoint(tmp_path / "other")
    weights = tmp_path / "m.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-3] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="modified or corrupted"):
        load_checkpoint(tmp_path / "m")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing")


@pytest.mark.train
def test_a_non_finite_step_is_skipped_and_leaves_the_weights_alone():
    layer = torch.nn.Linear(3, 1)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    before = [p.clone() for p in layer.parameters()]
    x = torch.tensor([[1.0, float("inf"), 0.0]])
    assert not guarded_step(optimizer, (layer(x) * 0).sum())  # finite-looking loss? no: inf * 0 = NaN
    assert not guarded_step(optimizer, torch.log(torch.zeros(())) * layer.weight.sum())  # -inf loss
    assert all(torch.equal(a, b) for a, b in zip(before, layer.parameters()))
    assert guarded_step(optimizer, layer(torch.ones(1, 3)).sum())
    assert not torch.equal(before[0], layer.weight)
