"""Per-image model choice: each image goes to the installed model of its kind that
codes it cheapest, one section per model used."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from bbcompress.api import CodingOptions, compress_images, roundtrip
from bbcompress.rates import section_rate
from bbcompress.io.images import images_from_array
from bbcompress.kinds import Kind
from bbcompress.checkpoint import Checkpoint
from bbcompress.zoo import OPT_IN_LEVEL, ModelSet, load_shipped, models_folder
from bbcompress.training.data import load_dataset


def inverted(checkpoint: Checkpoint) -> Checkpoint:
    """The same model for images with 0 and 1 swapped, exactly: the encoder's first layer
    sees 1 - x (W' = -W, b' = b + W 1) and the decoder's logits change sign."""
    def first_layer_flipped(state):
        state = dict(state)
        w, b = state["net.0.weight"], state["net.0.bias"]
        state["net.0.weight"], state["net.0.bias"] = -w, (b + w.astype(np.float64).sum(1)).astype(b.dtype)
        return state
    last = max(int(k.split(".")[1]) for k in checkpoint.decoder)
    decoder = dict(checkpoint.decoder)
    for part in ("weight", "bias"):
        decoder[f"net.{last}.{part}"] = -decoder[f"net.{last}.{part}"]
    encoders = {name: first_layer_flipped(state) for name, state in checkpoint.encoders.items()}
    return Checkpoint(checkpoint.config, decoder, encoders, dict(checkpoint.encoder_info),
                      {**checkpoint.info, "data": "inverted digits"})


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A models folder with the shipped MLP digit models plus an inverted-digit binary model."""
    folder = tmp_path_factory.mktemp("zoo")
    for name in ("mnist-binary", "mnist-greyscale"):
        for path in models_folder().glob(f"{name}.*"):
            shutil.copy(path, folder / path.name)
    inverted(load_shipped("mnist-binary")).save(folder / "mnist-binary-inverted")
    return folder


@pytest.mark.slow
def test_each_image_goes_to_the_model_that_codes_it_cheapest(zoo, monkeypatch):
    monkeypatch.setenv("BBCOMPRESS_MODELS", str(zoo))
    digits = load_dataset("mnist10k-binary").x_test[:200]
    plain = images_from_array(digits[:100], Kind.BINARY)
    flipped = images_from_array(1 - digits[100:], Kind.BINARY, suffix=".pbm")
    mixed = compress_images(plain + flipped, ModelSet())
    used = {s.model.name: {i.name for i in s.images} for s in mixed.sections}
    assert used == {"mnist-binary": {i.name for i in plain},
                    "mnist-binary-inverted": {i.name for i in flipped}}
    alone = [compress_images(group, ModelSet([name])) for group, name in
             ((plain, "mnist-binary"), (flipped, "mnist-binary-inverted"))]
    bits = sum(section_rate(s).total_bits for s in mixed.sections)
    assert bits <= 1.01 * sum(section_rate(a.sections[0]).total_bits for a in alone)
    data, decoded = roundtrip(plain + flipped, ModelSet())
    by_name = {i.name: i.pixels for i in decoded}
    assert all(np.array_equal(by_name[i.name], i.pixels) for i in plain + flipped)


@pytest.mark.slow
def test_a_model_forced_with_model_codes_everything(zoo, monkeypatch):
    monkeypatch.setenv("BBCOMPRESS_MODELS", str(zoo))
    flipped = images_from_array(1 - load_dataset("mnist10k-binary").x_test[:20], Kind.BINARY)
    archive = compress_images(flipped, ModelSet(["mnist-binary"]), CodingOptions(fallback=False))
    assert [s.model.name for s in archive.sections] == ["mnist-binary"]


@pytest.mark.parametrize("flag", ["retired", "opt_in"])
def test_retired_and_opt_in_models_are_not_candidates_below_the_top_levels(zoo, monkeypatch, tmp_path, flag):
    import json
    for path in zoo.iterdir():
        shutil.copy(path, tmp_path / path.name)
    card = tmp_path / "mnist-binary-inverted.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), flag: True}))
    monkeypatch.setenv("BBCOMPRESS_MODELS", str(tmp_path))
    assert [name for name, _ in ModelSet().candidates(Kind.BINARY)] == ["mnist-binary"]
    top = {name for name, _ in ModelSet().candidates(Kind.BINARY, level=OPT_IN_LEVEL)}
    assert top == ({"mnist-binary", "mnist-binary-inverted"} if flag == "opt_in" else {"mnist-binary"}), \
        "the top levels' tier takes opt-in models, never retired ones"
    inverted = images_from_array(1 - load_dataset("mnist10k-binary").x_test[:3], Kind.BINARY)
    archive = compress_images(inverted, ModelSet(["mnist-binary-inverted"]), CodingOptions(fallback=False))
    assert [s.model.name for s in archive.sections] == ["mnist-binary-inverted"], "asked for by name, it codes"


def test_a_small_group_that_cannot_pay_its_initial_bits_joins_the_others():
    from bbcompress.choice import merge_small_groups
    estimates = np.array([[100.0, 100.0, 100.0, 50.0],    # model 0: the cheapest for image 3
                          [60.0, 60.0, 60.0, 90.0]])      # model 1: for images 0..2
    chosen = {1: [(0, "a"), (1, "b"), (2, "c")], 0: [(3, "d")]}
    merged = merge_small_groups({k: list(v) for k, v in chosen.items()}, estimates, [800, 32])
    assert merged == {1: [(0, "a"), (1, "b"), (2, "c"), (3, "d")]}, "40 bits saved < 800 initial"
    kept = merge_small_groups({k: list(v) for k, v in chosen.items()}, estimates, [10, 32])
    assert kept == chosen, "a group that pays for its section stays"


@pytest.mark.slow
def test_a_second_section_must_pay_for_its_header_too():
    """Two near-equal models (the shipped greyscale local models): splitting 400 digits
    between them saved 36 payload bytes and cost 212 header bytes. The default choice
    must code them no larger than the better model alone."""
    digits = images_from_array(load_dataset("mnist10k").x_test[:400], Kind.GREYSCALE)
    options = CodingOptions(fallback=False, level=1)
    chosen = compress_images(digits, ModelSet(), options)
    alone = compress_images(digits, ModelSet(["mnist-greyscale-local-v2"]), options)
    assert len(chosen.to_bytes()) <= len(alone.to_bytes()), [(s.model.name, len(s.images)) for s in chosen.sections]


def test_a_group_pays_for_saying_which_images_it_holds():
    """Five of ten images 6 bits cheaper under model 0 do not pay for the log2 C(10, 5) =
    8 bits a header needs to name them; 2 bits cheaper each (10 in all), they do."""
    from bbcompress.choice import merge_small_groups
    chosen = {1: [(i, str(i)) for i in range(5)], 0: [(i, str(i)) for i in range(5, 10)]}
    for saving, kept in ((1.2, False), (2.0, True)):
        estimates = np.full((2, 10), 100.0)
        estimates[0, :5] = 150.0  # model 1's images stay with it either way
        estimates[0, 5:] -= saving
        merged = merge_small_groups({k: list(v) for k, v in chosen.items()}, estimates, [0, 0])
        assert (merged == chosen) is kept, (saving, merged)


def test_a_model_beaten_on_its_own_data_is_not_a_candidate():
    """Only the best model per training set (by its card's validation rate) is estimated;
    one without rates is kept, and models of other data are never compared."""
    from bbcompress.zoo import undominated
    cards = {"old": {"data": "d", "valid_bpd_by_encoder": {"amortized": 1.8, "self-consistent": 1.7}},
             "new": {"data": "d", "valid_bpd": 1.2, "valid_bpd_by_encoder": {"none": 1.1}},
             "other": {"data": "e", "valid_bpd_by_encoder": {"none": 3.0}},
             "unrated": {"data": "f"}}
    assert sorted(undominated(cards)) == ["new", "other", "unrated"]
    cards["old"]["valid_bpd_by_encoder"]["self-consistent"] = 1.0
    assert sorted(undominated(cards)) == ["old", "other", "unrated"]


def test_models_says_which_are_not_estimated_below_the_opt_in_levels():
    """`bbcompress models` names, for a model beaten on its own data, the model that is
    estimated instead; opt-in and retired models are not counted against the others."""
    from bbcompress.zoo import beaten_below_opt_in, never_estimated
    cards = {"old": {"data": "d", "valid_bpd": 1.3}, "new": {"data": "d", "valid_bpd": 1.2},
             "slow": {"data": "d", "valid_bpd": 1.0, "opt_in": True},
             "gone": {"data": "d", "valid_bpd": 0.9, "retired": True},
             "other": {"data": "e", "valid_bpd": 3.0}}
    assert beaten_below_opt_in(cards) == {"old": "new"}
    cards["slower"] = {"data": "d", "valid_bpd": 0.95, "opt_in": True}
    assert never_estimated(cards) == {"old": "new", "slow": "slower"}  # opt-in, beaten by a better opt-in one


def test_a_large_image_is_estimated_on_a_sample_unless_a_model_may_win(monkeypatch):
    """Noise goes to a classic codec after 128 tiles per model, not all 400; a mosaic of
    digits, where a model wins, is then estimated on every tile and coded by the model."""
    from bbcompress.choice import SAMPLE_TILES, plan
    from bbcompress.families.local_coding import LocalCoding
    from bbcompress.io.images import Image
    from bbcompress.kinds import Kind
    from bbcompress.sections import coding_of
    from bbcompress.training.data import load_dataset
    from bbcompress.zoo import ModelSet

    estimated = []
    original = LocalCoding.estimate_bits
    monkeypatch.setattr(LocalCoding, "estimate_bits", lambda self, x, mask: estimated.append(len(x)) or original(self, x, mask))
    candidates = ModelSet().candidates(Kind.GREYSCALE)
    codings = [coding_of(c, CodingOptions().settings_for(c)) for _, c in candidates]
    noise = np.random.default_rng(0).integers(0, 256, (560, 560), dtype=np.uint8)
    chosen = plan([Image("noise.png", "L", noise, Kind.GREYSCALE)], candidates, codings)
    assert len(chosen.classic) == 1 and sum(estimated) == SAMPLE_TILES * len(codings)
    estimated.clear()
    digits = load_dataset("mnist10k").x_test[:400].reshape(20, 20, 28, 28).swapaxes(1, 2).reshape(560, 560)
    chosen = plan([Image("digits.png", "L", digits, Kind.GREYSCALE)], candidates, codings)
    assert not chosen.classic and sum(estimated) == (SAMPLE_TILES + 400) * len(codings)
