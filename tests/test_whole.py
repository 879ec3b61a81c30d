"""Whole images: a model that sees no position (a wide model without learned maps) codes
each image in one tile of its size class (64, 128 or 256; larger images in tiles of 256),
with the real context across what would be 28x28 tile borders (format version 6)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bbcompress.api import CodingOptions, compress_images, decompress_archive
from bbcompress.errors import ArchiveError, ModelMismatch
from bbcompress.families.config import ModelConfig
from bbcompress.families.wide import WideModel, to_checkpoint
from bbcompress.io.archive import TILE_SIDES, parse
from bbcompress.io.images import Image
from bbcompress.kinds import Kind
from bbcompress.sections import tile_side_of
from bbcompress.families.wide_coding import WideCoding
from bbcompress.training.data import load_dataset
from bbcompress.zoo import ModelSet
from helpers import assert_restored, saved_model, seeded

NO_MAPS = ModelConfig("logistic256", 784, (6,) * 3, 0, "relu", 0.001, "wide", 2, 0)
MAPS = ModelConfig("logistic256", 784, (6,) * 3, 0, "relu", 0.001, "wide", 2, 2)


@pytest.fixture(scope="module")
def whole_model(tmp_path_factory):
    return saved_model(tmp_path_factory, "whole", to_checkpoint(seeded(WideModel(NO_MAPS), 3, 0.1), {"data": "x"}))


@pytest.fixture(scope="module")
def mapped_model(tmp_path_factory):
    return saved_model(tmp_path_factory, "mapped", to_checkpoint(seeded(WideModel(MAPS), 3, 0.1), {"data": "x"}))


def mixed_images() -> list[Image]:
    """Digits (28x28: 28 tiles), a 45x61 crop of digits (one tile of 64) and a 300x200
    mosaic (two tiles of 256)."""
    digits = load_dataset("mnist10k").x_test[:40]
    mosaic = np.tile(np.concatenate(list(digits[:8]), axis=1), (11, 1))[:300, :200]
    images = [Image(f"d{i}.png", "L", d, Kind.GREYSCALE) for i, d in enumerate(digits[:3])]
    return images + [Image("crop.png", "L", mosaic[:45, :61].copy(), Kind.GREYSCALE),
                     Image("mosaic.png", "L", mosaic.copy(), Kind.GREYSCALE)]


def test_each_image_gets_the_smallest_tile_that_holds_it(whole_model, mapped_model):
    from bbcompress.checkpoint import load_checkpoint
    coding, mapped = WideCoding(load_checkpoint(whole_model)), WideCoding(load_checkpoint(mapped_model))
    assert [tile_side_of(h, w, coding) for h, w in ((28, 28), (45, 61), (64, 64), (65, 10), (300, 200))] \
        == [28, 64, 64, 28, 256]  # 65 x 10: narrow, in tiles of its short side
    assert coding.tile_steps(64) == 64 + 8 * 63  # 3 blocks: reach 7, slope 8
    assert [tile_side_of(h, w, coding, 600) for h, w in ((28, 28), (45, 61), (65, 10), (300, 200))] == [28, 64, 28, 64]
    assert [tile_side_of(h, w, coding) for h, w in ((1, 65535), (30, 1000), (200, 5000))] == [28, 64, 256]
    assert [tile_side_of(h, w, coding) for h, w in ((1, 256), (30, 200), (64, 256))] == [28, 64, 256]
    assert tile_side_of(300, 200, mapped) == 28  # learned maps: 28x28 tiles only
    from bbcompress.families.wide_coding import RING_BUDGET, WavefrontSteps
    for side in (28, 64, 256):  # a batch's rings within the budget
        tiles = coding.for_tiles(side)
        steps = WavefrontSteps(tiles.net, tiles.max_batch)
        held = sum(a.nbytes for a in [steps.pixels, *steps.vertical, *steps.horizontal])
        assert held <= RING_BUDGET


@pytest.mark.parametrize("level,tiles", [
    (4, [(28, ["d0.png", "d1.png", "d2.png"]), (64, ["crop.png", "mosaic.png"])]),  # mosaic: 5 x 4 tiles
    (7, [(28, ["d0.png", "d1.png", "d2.png"]), (64, ["crop.png"]), (256, ["mosaic.png"])]),  # 2 tiles
])
def test_images_are_coded_whole_and_come_back_exactly(whole_model, level, tiles):
    """The default levels take tiles of at most 1,010 decoding steps (this model: 64,
    568 steps), the top ones any."""
    images = mixed_images()
    models = ModelSet([whole_model])
    data = compress_images(images, models, CodingOptions(fallback=False, level=level)).to_bytes()
    archive = parse(data)
    assert data[8] == 6
    assert sorted((s.coder.tile_side, [i.name for i in s.images]) for s in archive.sections) == tiles
    assert sum(s.coder.schedule[0] for s in archive.sections if s.coder.tile_side > 28) == (21 if level < 7 else 3)
    assert_restored(images, decompress_archive(archive, models))
    assert_restored(images, decompress_archive(archive, models, threads=2))


def test_a_one_image_archive_keeps_its_tile_side_in_the_compact_header(whole_model):
    image = mixed_images()[3]
    models = ModelSet([whole_model])
    data = compress_images([image], models, CodingOptions(fallback=False)).to_bytes()
    archive = parse(data)
    assert archive.is_compact and archive.sections[0].coder.tile_side == 64
    assert_restored([image], decompress_archive(archive, models))


def test_digits_alone_keep_their_old_format(whole_model):
    """28x28 images stay in 28x28 tiles: the archive needs no newer reader."""
    images = mixed_images()[:3]
    data = compress_images(images, ModelSet([whole_model]), CodingOptions(fallback=False)).to_bytes()
    assert data[8] < 6


def test_large_tiles_are_refused_by_a_model_that_sees_positions(mapped_model):
    """A section of a model with learned maps doctored to claim 64x64 tiles (its weights
    match): refused by name, before any decoding."""
    from bbcompress.checkpoint import load_checkpoint
    from bbcompress.io.archive import Section
    from bbcompress.sections import model_images
    archive = compress_images(mixed_images()[3:4], ModelSet([mapped_model]), CodingOptions(fallback=False))
    header = archive.sections[0].header()
    assert "tile_side" not in header["coder"] and header["coder"]["schedule"] == [6]
    header["coder"].update(tile_side=64, schedule=[1])
    section = Section.from_header(header, archive.sections[0].words)
    with pytest.raises(ModelMismatch, match="64x64 tiles, which model .* cannot"):
        model_images(section, load_checkpoint(mapped_model))


@pytest.mark.parametrize("side", [0, 27, 100, 512])
def test_a_tile_side_outside_the_format_is_refused_at_parse(whole_model, side):
    images = mixed_images()[3:4]
    archive = compress_images(images, ModelSet([whole_model]), CodingOptions(fallback=False))
    header = archive.sections[0].header()
    header["coder"]["tile_side"] = side
    from bbcompress.io.archive import Section
    with pytest.raises(ValueError, match="tile side"):
        Section.from_header(json.loads(json.dumps(header)), archive.sections[0].words)
    assert 64 in TILE_SIDES


def test_a_v6_archive_is_refused_cleanly_by_a_reader_of_version_5(whole_model, monkeypatch):
    data = compress_images(mixed_images()[3:4], ModelSet([whole_model]), CodingOptions(fallback=False)).to_bytes()
    monkeypatch.setattr("bbcompress.io.archive.VERSION", 5)
    with pytest.raises(ArchiveError, match="newer than this bbcompress reads"):
        parse(data)


def test_info_says_which_sections_code_whole_images(whole_model, tmp_path):
    from helpers import run
    archive = tmp_path / "mixed.bbc"
    archive.write_bytes(compress_images(mixed_images(), ModelSet([whole_model]),
                                        CodingOptions(fallback=False)).to_bytes())
    result = run("info", archive)
    assert result.exit_code == 0, result.output
    assert result.output.count("in 64x64 tiles") == 1 and "256x256" not in result.output
    assert "chain" not in result.output


def test_a_cone_model_codes_whole_images_through_archives(tmp_path_factory):
    cone = ModelConfig("logistic256", 784, (6,) * 3, 0, "relu", 0.001, "wide", 2, 0, context="cone")
    path = saved_model(tmp_path_factory, "cone", to_checkpoint(seeded(WideModel(cone), 4, 0.1), {"data": "x"}))
    images, models = mixed_images(), ModelSet([path])
    archive = parse(compress_images(images, models, CodingOptions(fallback=False, level=7)).to_bytes())
    assert {s.coder.tile_side for s in archive.sections} == {28, 64, 256}
    assert_restored(images, decompress_archive(archive, models))


def test_a_greyscale_image_restored_as_rgb_in_large_tiles_needs_version_6(whole_model):
    """The highest need wins: restored as RGB (5) and in tiles of 64 (6)."""
    crop = mixed_images()[3]
    image = Image("grey-rgb.png", "RGB", crop.pixels, Kind.GREYSCALE)
    data = compress_images([image], ModelSet([whole_model]), CodingOptions(fallback=False)).to_bytes()
    section, = parse(data).sections
    assert section.version == 6 and data[8] == 8 and section.coder.tile_side == 64  # 8: one image


def test_the_decoding_work_of_a_large_tile_counts_its_pixels_and_steps(whole_model):
    from bbcompress.checkpoint import load_checkpoint
    from bbcompress.sections import decoding_work
    archive = compress_images(mixed_images()[3:], ModelSet([whole_model]), CodingOptions(fallback=False, level=7))
    checkpoint = load_checkpoint(whole_model)
    work = {s.coder.tile_side: decoding_work(s, checkpoint) for s in archive.sections}
    # one tile of 64: 6 tiles' pixels and 3x a batch's steps; two of 256: 84 each, 10x
    assert work == {64: 6 + 3 * 65, 256: 2 * 84 + 10 * 65}


def test_an_image_in_a_larger_tile_is_coded_as_if_alone(whole_model):
    """The padding of a tile is outside the image to the network (zero input, as beyond
    the tile): a 45 x 61 image's laws in a tile of 64 or 128 are those of the image alone."""
    from bbcompress.checkpoint import load_checkpoint
    from bbcompress.io.images import to_tiles
    coding = WideCoding(load_checkpoint(whole_model))
    pixels = mixed_images()[3].pixels
    alone = coding.shaped(45, 61).net(pixels.reshape(1, -1))[0]
    for side in (64, 128):
        tiles, masks = to_tiles(pixels, side)
        laws = coding.for_tiles(side).net(tiles, masks)[0].reshape(side, side, -1)[:45, :61]
        assert np.array_equal(laws.reshape(45 * 61, -1), alone)
        bits = coding.for_tiles(side).exact_bits(tiles, masks).sum()
        assert bits == coding.shaped(45, 61).exact_bits(pixels.reshape(1, -1), np.ones((1, 45 * 61), bool)).sum()


@pytest.mark.slow
def test_a_whole_image_model_shares_a_large_image_out_in_streams(whole_model):
    """A 320x320 image in tiles of 64 (25) at two threads: two streams of whole tiles,
    a few bytes more for the second stack."""
    rng = np.random.default_rng(5)
    pixels = np.clip(np.add.outer(np.arange(320), np.arange(320)) // 3 + rng.normal(0, 4, (320, 320)), 0, 255)
    image = Image("big.png", "L", pixels.astype(np.uint8), Kind.GREYSCALE)
    models = ModelSet([whole_model])
    two = compress_images([image], models, CodingOptions(fallback=False, threads=2)).to_bytes()
    one = compress_images([image], models, CodingOptions(fallback=False, threads=1)).to_bytes()
    section = parse(two).sections[0]
    assert section.coder.tile_side == 64 and [b for b, _, _ in section.coder.streams] == [1, 1]
    assert section.coder.schedule == [12, 13] and len(one) < len(two) < len(one) + 64
    assert_restored([image], decompress_archive(parse(two), models, threads=2))


@pytest.mark.slow
def test_more_threads_than_tiles_give_a_stream_a_tile(whole_model):
    """A 500x500 image at level 9 is four tiles of 256 (324 of 28, which ask for five
    streams at five threads): four streams, every tile coded (one was lost)."""
    rng = np.random.default_rng(6)
    image = Image("big.png", "L", rng.integers(90, 110, (500, 500), dtype=np.uint8), Kind.GREYSCALE)
    models = ModelSet([whole_model])
    data = compress_images([image], models, CodingOptions(fallback=False, threads=5, level=9)).to_bytes()
    section = parse(data).sections[0]
    assert section.coder.tile_side == 256 and section.coder.schedule == [1, 1, 1, 1]
    assert_restored([image], decompress_archive(parse(data), models, threads=2))


def test_a_binary_cone_model_codes_a_page_whole_at_its_estimated_rate(tmp_path_factory):
    """A document page model: 1-bit, whole images (no maps), a cone; a 300x400 page in
    tiles of 128 at the default level, in two streams with two threads."""
    from bbcompress.choice import estimated_bits
    from bbcompress.sections import coding_of
    config = ModelConfig("bernoulli", 784, (6,) * 3, 0, "relu", 0.0, "wide", 1, 0, context="cone")
    checkpoint = to_checkpoint(seeded(WideModel(config), 5, 0.3), {"data": "pages-64"})
    path = saved_model(tmp_path_factory, "page", checkpoint)
    rng = np.random.default_rng(3)
    page = np.zeros((300, 400), np.uint8)
    page[20:30, 10:390] = rng.random((10, 380)) < 0.4  # lines of "text"
    page[200:210, 10:300] = rng.random((10, 290)) < 0.4
    image = Image("page.pbm", "1", page, Kind.BINARY)
    models = ModelSet([path])
    data = compress_images([image], models, CodingOptions(fallback=False, threads=2)).to_bytes()
    archive = parse(data)
    assert archive.sections[0].coder.tile_side == 128 and archive.sections[0].coder.stacks == 2
    assert_restored([image], decompress_archive(archive, models, threads=1))
    options = CodingOptions()
    estimate = estimated_bits([image], coding_of(checkpoint, options.settings_for(checkpoint)),
                              tile_steps=options.tile_steps)[0]
    assert 32 * archive.sections[0].words.size == pytest.approx(estimate, abs=200)  # a word and 32 bits a stream
