import numpy as np
import pytest
import torch

from bbcompress.errors import CheckpointError
from bbcompress.checkpoint import load_checkpoint
from bbcompress.families.mlp import state_arrays, from_checkpoint
from bbcompress.training.config import RefineConfig
from bbcompress.training.data import load_dataset
from bbcompress.training.evaluate import elbo_bpd
from bbcompress.training.refine import attach_encoder, mixture_batches, refine_encoder
from bbcompress.training.steps import as_pixels

from helpers import checkpoint_of, seeded_vae

pytestmark = pytest.mark.train  # every test refines an encoder or runs the torch model


@pytest.fixture()
def checkpoint():
    return checkpoint_of(seeded_vae("bernoulli", hidden=(32,), latent=3), "mnist10k-binary")


@pytest.mark.slow
def test_the_decoder_is_bit_for_bit_unchanged(checkpoint):
    images = load_dataset("mnist10k-binary").x_train[:200]
    before = {k: v.copy() for k, v in checkpoint.decoder.items()}
    for method, samples in (("self-consistent", "prior"), ("self-consistent", "posterior"), ("optimal", "prior")):
        refine_encoder(checkpoint, images, RefineConfig(method, "mnist10k-binary", epochs=1,
                                                        model_samples=samples, batch_size=50))
    assert all(np.array_equal(before[k], checkpoint.decoder[k]) for k in before)


@pytest.mark.parametrize("alpha,expected_model_share", [(0.0, 0.0), (1.0, 1.0), (0.5, 0.5), (0.3, 0.3)])
@pytest.mark.parametrize("source", ["prior", "posterior"])
def test_minibatches_mix_model_samples_and_training_images(checkpoint, alpha, expected_model_share, source):
    x = as_pixels(load_dataset("mnist10k-binary").x_train[:300])
    config = RefineConfig("self-consistent", "mnist10k-binary", alpha=alpha, model_samples=source)
    vae = from_checkpoint(checkpoint)
    training_rows = {tuple(row.tolist()) for row in x}
    data_count = round(100 * (1 - expected_model_share))  # training images first, then samples
    for images in mixture_batches(vae, vae.encoder, x, config, torch.Generator().manual_seed(0)):
        assert len(images) == 100
        for row in images[:data_count]:
            assert tuple(row.tolist()) in training_rows
        assert set(images[data_count:].unique().tolist()) <= {0.0, 1.0}


@pytest.mark.slow
def test_optimal_lowers_the_elbo_of_the_split_it_fits(checkpoint):
    test = load_dataset("mnist10k-binary").x_test[:300]
    before = elbo_bpd(from_checkpoint(checkpoint), test)
    encoder, made = refine_encoder(checkpoint, test, RefineConfig("optimal", "mnist10k-binary", "test", epochs=3))
    assert elbo_bpd(from_checkpoint(checkpoint), test, encoder=encoder) < before - 0.01
    assert made["bound_not_deployable"] is True


def test_an_encoder_cannot_join_another_decoder(checkpoint, tmp_path):
    other = checkpoint_of(seeded_vae("bernoulli", hidden=(32,), latent=3, seed=5), "mnist10k-binary")
    encoder, made = refine_encoder(other, load_dataset("mnist10k-binary").x_train[:100],
                                   RefineConfig("self-consistent", "mnist10k-binary", epochs=1))
    with pytest.raises(CheckpointError, match="another decoder"):
        checkpoint.add_encoder("self-consistent", state_arrays(encoder), made, other.decoder_sha256)
    attach_encoder(checkpoint, "mine", encoder, made)
    checkpoint.save(tmp_path / "c")
    loaded = load_checkpoint(tmp_path / "c")
    assert set(loaded.encoders) == {"amortized", "mine"}
    assert loaded.encoder_info["mine"]["method"] == "self-consistent"
    assert loaded.fingerprint("mine") != loaded.fingerprint("amortized")


@pytest.mark.slow
def test_refine_command_adds_a_named_encoder(tmp_path, checkpoint):
    from click.testing import CliRunner
    from bbcompress.cli import main
    checkpoint.save(tmp_path / "c")
    args = ["refine", str(tmp_path / "c"), "--method", "self-consistent", "--epochs", "1", "-q"]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert "self-consistent" in load_checkpoint(tmp_path / "c").encoders
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "already has an encoder" in again.stderr
    cheat = CliRunner().invoke(main, args[:-1] + ["--split", "test"])
    assert cheat.exit_code == 1 and "training images only" in cheat.stderr


@pytest.mark.slow
def test_keep_best_returns_the_encoder_of_the_lowest_validation_point(checkpoint):
    data = load_dataset("mnist10k-binary")
    fit, valid = data.x_train[:300], data.x_train[300:500]
    config = RefineConfig("optimal", "mnist10k-binary", "train", epochs=6, lr=0.02)  # large lr: a bumpy curve
    encoder, made = refine_encoder(checkpoint, fit, config, valid, curve_every=1, keep_best=True)
    best_epoch, best_bpd = min(made["curve_bpd"], key=lambda point: point[1])
    assert made["kept_epoch"] == best_epoch and len(made["curve_bpd"]) == 6
    assert elbo_bpd(from_checkpoint(checkpoint), valid, encoder=encoder) == pytest.approx(best_bpd, abs=1e-6)


def test_the_card_recommended_encoder_is_the_default(checkpoint):
    assert checkpoint.default_encoder == "amortized"
    encoder, made = refine_encoder(checkpoint, load_dataset("mnist10k-binary").x_train[:100],
                                   RefineConfig("self-consistent", "mnist10k-binary", epochs=1))
    attach_encoder(checkpoint, "self-consistent", encoder, made)
    checkpoint.info["default_encoder"] = "self-consistent"
    assert checkpoint.default_encoder == "self-consistent"
    checkpoint.info["default_encoder"] = "gone"
    assert checkpoint.default_encoder == "amortized"
