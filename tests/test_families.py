"""The family registry: every entry is complete and coherent, and nothing outside
bbcompress/families/ branches on a family's name."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bbcompress.families import FAMILIES, LEVELS, family
from bbcompress.families.config import ModelConfig

PACKAGE = Path(__file__).resolve().parents[1] / "bbcompress"
LIKELIHOODS = ("bernoulli", "logistic256")


@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_has_every_level_and_a_default_configuration(name):
    spec = FAMILIES[name]
    assert set(spec.levels) == set(LEVELS)
    assert all(particles >= 1 and steps >= 0 for particles, steps in spec.levels.values())
    assert not spec.has_latent or spec.encoder_shapes(spec.config_from_options("bernoulli", 784)), name
    assert spec.coding.max_batch >= 1
    for likelihood in LIKELIHOODS:
        config = spec.config_from_options(likelihood, 784, **spec.defaults)
        assert config.family == name and config.spec is spec
        assert ModelConfig(**config.to_json()) == config, "a card's config reads back as the same config"


@pytest.mark.slow
@pytest.mark.train
@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_the_registrys_shapes_are_the_torch_modules(name, likelihood):
    """What the coder expects of a checkpoint (the registry's shapes) is what the family's
    torch module stores, and a checkpoint of it codes and decodes an image."""
    from bbcompress.codec.bits_back import CodingSettings, pop_batches, push_batches
    from bbcompress.families.networks import build, to_checkpoint

    spec = FAMILIES[name]
    config = spec.config_from_options(likelihood, 784, hidden=(8, 8), latent=2 if spec.has_latent else None,
                                      mixture=2, features=3, width=4)
    checkpoint = to_checkpoint(build(config), {}, {"method": "amortized"})
    assert {k: v.shape for k, v in checkpoint.decoder.items()} == config.decoder_shapes()
    coding = spec.coding(checkpoint, CodingSettings("amortized" if spec.has_latent else "none"))
    x = (np.arange(2 * 784).reshape(2, 784) % (2 if likelihood == "bernoulli" else 256)).astype(np.uint8)
    mask = np.ones(x.shape, dtype=bool)
    words, schedule, warmup = push_batches(coding, x, mask)
    assert np.array_equal(pop_batches(coding, words, mask, schedule, warmup), x)


def test_an_unknown_family_is_a_clear_error():
    with pytest.raises(ValueError, match="family must be one of"):
        family("nonesuch")
    with pytest.raises(ValueError, match="family must be one of"):
        ModelConfig("bernoulli", family="nonesuch")


def test_nothing_outside_the_families_branches_on_a_family_name():
    names = "|".join(map(re.escape, FAMILIES))
    pattern = re.compile(rf"""family\s*[!=]=|["']({names})["']""")
    offenders = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
                 for path in PACKAGE.rglob("*.py") if "families" not in path.relative_to(PACKAGE).parts
                 for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders
