"""Colour images coded by a greyscale model as three planes (green, red less green, blue
less green, mod 256: ``kinds.PLANES``), in archives of format version 7."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bbcompress.api import CodingOptions, compress_images, decompress_archive
from bbcompress.errors import ArchiveError, BBCError, ModelMismatch
from bbcompress.families.config import ModelConfig
from bbcompress.families.wide import LinearPredictor, WideModel, to_checkpoint
from bbcompress.io.archive import Section, parse
from bbcompress.io.images import Image
from bbcompress.kinds import COLOUR_TRANSFORMS, Kind, from_planes, to_planes
from bbcompress.training.data import load_dataset
from bbcompress.zoo import ModelSet
from helpers import assert_restored, run, saved_model, seeded

GOLDEN_TRANSFORM_3 = "08bfed9bd78c2f05"  # planes G, R-G, B-R of a 20x33 image, format 10
LINEAR = ModelConfig("logistic256", 784, (6,) * 3, 0, "relu", 0.001, "wide", 2, 0, context="cone",
                     predictor="linear")


@pytest.fixture(scope="module")
def photo_model(tmp_path_factory):
    """A greyscale model of whole images: numpy-drawn weights but for its linear
    predictor, at its start (left, then up: each mean a neighbour's level)."""
    model = seeded(WideModel(LINEAR), 5, 0.02)
    with torch.no_grad():
        model.predictor.weight.copy_(LinearPredictor(LINEAR.mixture).weight)
    return saved_model(tmp_path_factory, "planes", to_checkpoint(model, {"data": "x"}))


def colour_images() -> list[Image]:
    """Smooth colour images (a digit mosaic tinted three ways), one per tile size class."""
    digits = load_dataset("mnist10k").x_test[:16].astype(np.int64)
    mosaic = np.tile(np.concatenate(list(digits[:8]), axis=1), (4, 1))[:100, :130]
    rgb = np.stack([mosaic, 255 - mosaic, (mosaic + 60) % 256], axis=-1).astype(np.uint8)
    return [Image("tinted.png", "RGB", rgb, Kind.RGB),
            Image("small.png", "RGBA", rgb[:20, :33].copy(), Kind.RGB),
            Image("wrap.png", "RGB", np.dstack([rgb[:40, :40, :2], 255 - rgb[:40, :40, 1:2]]), Kind.RGB)]


@pytest.mark.parametrize("transform", range(len(COLOUR_TRANSFORMS)))
def test_planes_are_a_bijection_of_colour_pixels(transform):
    """Every pair of two channels' values, the third each of 256 in turn."""
    rng = np.random.default_rng(0)
    every = np.stack(np.meshgrid(np.arange(256), np.arange(256), indexing="ij"), -1).reshape(256, 256, 2)
    order = COLOUR_TRANSFORMS[transform].order
    for third in [rng.integers(0, 256, (256, 256))] + [np.full((256, 256), v) for v in (0, 1, 127, 128, 255)]:
        for pixels in (rng.integers(0, 256, (9, 11, 3)), np.dstack([every, third[..., None]])[..., np.argsort(order)]):
            pixels = pixels.astype(np.uint8)
            planes = to_planes(pixels, Kind.RGB, transform)
            assert len(planes) == 3 and all(p.dtype == np.uint8 and p.shape == pixels.shape[:2] for p in planes)
            assert np.array_equal(planes[0], pixels[..., order[0]])
            assert np.array_equal(from_planes(planes, Kind.RGB, transform), pixels)


def test_transform_0_is_format_7s_planes_and_1_the_channels():
    pixels = np.random.default_rng(2).integers(0, 256, (13, 17, 3)).astype(np.uint8)
    green = pixels[..., 1].astype(np.int64)
    expected = [pixels[..., 1]] + [(pixels[..., c] - green + 128) % 256 for c in (0, 2)]
    assert all(np.array_equal(a, b) for a, b in zip(to_planes(pixels, Kind.RGB), expected))
    assert all(np.array_equal(a, pixels[..., c]) for c, a in enumerate(to_planes(pixels, Kind.RGB, 1)))
    grey = pixels[..., 0].copy()
    assert to_planes(grey, Kind.GREYSCALE)[0] is grey
    assert Kind.RGB.model_kind == Kind.GREYSCALE and Kind.RGBA.model_kind == Kind.RGBA


def test_a_channel_that_repeats_another_takes_a_transform_that_predicts_it():
    """Blue equal to red: its plane less red is flat, and the estimate sees it."""
    from bbcompress.colour import with_colour_transform
    rng = np.random.default_rng(3)
    red = np.cumsum(rng.integers(-3, 4, (120, 90)), axis=1) % 256
    pixels = np.dstack([red, rng.integers(0, 256, red.shape), red]).astype(np.uint8)
    chosen = with_colour_transform(Image("x.png", "RGB", pixels, Kind.RGB)).colour_transform
    assert COLOUR_TRANSFORMS[chosen].name in ("G, R-G, B-R", "R, G-R, B-R")
    grey = Image("g.png", "L", red.astype(np.uint8), Kind.GREYSCALE)
    assert with_colour_transform(grey) is grey


def test_the_estimate_samples_a_bounded_part_of_any_image_and_never_a_pixel_itself():
    from bbcompress.colour import BLOCK_COLUMNS, BLOCK_ROWS, SAMPLE_PIXELS, sampled_blocks, with_colour_transform
    for shape in ((4096, 4096, 3), (9, 65535, 3), (65535, 9, 3), (300, 300, 3)):
        blocks = sampled_blocks(np.zeros(shape, np.uint8))
        assert SAMPLE_PIXELS // 2 <= sum(b.shape[0] * b.shape[1] for b in blocks) <= SAMPLE_PIXELS
        assert all(b.shape[0] <= BLOCK_ROWS and b.shape[1] <= BLOCK_COLUMNS for b in blocks)
    # one row or column: no pixel has its neighbours, so no transform is told apart
    line = np.random.default_rng(4).integers(0, 256, (1, 500, 3)).astype(np.uint8)
    line[..., 2] = line[..., 0]
    for pixels in (line, line.transpose(1, 0, 2).copy()):
        assert with_colour_transform(Image("l.png", "RGB", pixels, Kind.RGB)).colour_transform == 0


def test_an_image_not_coded_as_planes_records_no_transform(photo_model):
    """(A greyscale image carrying a transform, through the API, is written as any other.)"""
    from bbcompress.api import compress_section
    from bbcompress.checkpoint import load_checkpoint
    grey = Image("g.png", "L", colour_images()[1].pixels[..., 0].copy(), Kind.GREYSCALE, colour_transform=2)
    section = compress_section([grey], photo_model, load_checkpoint(photo_model))
    assert section.images[0].colour_transform == 0 and section.version < 10
    from bbcompress.io.archive import Archive
    assert_restored([grey], decompress_archive(parse(Archive([section]).to_bytes()), ModelSet([photo_model])))


def test_a_colour_transform_is_read_only_where_planes_are_and_from_version_10(photo_model):
    from dataclasses import replace
    import struct, zlib
    from bbcompress.api import compress_section
    from bbcompress.checkpoint import load_checkpoint
    from bbcompress.io.archive import Archive
    image = replace(colour_images()[1], colour_transform=3)
    section = compress_section([image], photo_model, load_checkpoint(photo_model))
    header = json.loads(json.dumps(section.header()))
    assert header["images"][0][4] == 3 and Section.from_header(header, section.words).images[0].colour_transform == 3
    for bad in (0, len(COLOUR_TRANSFORMS), "3", True):
        header["images"][0][4] = bad
        with pytest.raises(ValueError):
            Section.from_header(header, section.words)
    header["images"][0][4:] = [3, 1]
    with pytest.raises(ValueError, match="image entry"):
        Section.from_header(header, section.words)
    other = compress_section(colour_images()[2:], photo_model, load_checkpoint(photo_model))
    for data in (Archive([section]).to_bytes(), Archive([section, other]).to_bytes()):  # binary, JSON headers
        assert data[8] == 10
        restored = decompress_archive(parse(data), ModelSet([photo_model]))
        assert_restored([image], restored[:1])
        older = data[:8] + bytes([9]) + data[9:-4]
        with pytest.raises(ArchiveError, match="version above 9"):
            parse(older + struct.pack("<I", zlib.crc32(older)))


def test_colour_images_round_trip_through_a_greyscale_model_as_planes(photo_model):
    images, models = colour_images(), ModelSet([photo_model])
    data = compress_images(images, models, CodingOptions(fallback=False, level=7)).to_bytes()
    archive = parse(data)
    transforms = [entry.colour_transform for s in archive.sections for entry in s.images]
    assert data[8] == (10 if any(transforms) else 7)
    assert [(s.kind, s.is_classic) for s in archive.sections] == [(Kind.RGB, False)] * len(archive.sections)
    def by_name(found):  # sections hold images of one tile side each, in order of side
        return sorted(found, key=lambda image: image.name)
    assert_restored(by_name(images), by_name(decompress_archive(archive, models)))
    restored = by_name(decompress_archive(archive, models, threads=2))
    assert_restored(by_name(images), restored)
    assert [i.mode for i in restored] == ["RGBA", "RGB", "RGB"]


def test_the_planes_cost_what_the_model_charges_each_plane(photo_model):
    """The section's words are the exact rate of the three planes (within the stack's last words)."""
    from bbcompress.checkpoint import load_checkpoint
    from bbcompress.families.wide_coding import WideCoding
    image = colour_images()[0]
    data = compress_images([image], ModelSet([photo_model]), CodingOptions(fallback=False, level=7))
    side = data.sections[0].coder.tile_side
    coding = WideCoding(load_checkpoint(photo_model)).for_tiles(side)
    from bbcompress.io.images import to_tiles
    bits, transform = 0.0, data.sections[0].images[0].colour_transform
    for plane in to_planes(image.pixels, Kind.RGB, transform):
        tiles, masks = to_tiles(plane, side)
        bits += coding.exact_bits(tiles, masks).sum()
    assert bits <= 32 * len(data.sections[0].words) <= bits + 64


def test_with_the_fallback_a_planes_section_is_chosen_where_it_is_smaller(photo_model, monkeypatch):
    """(With raw pixels as the only classic codec, the model wins the smooth image.)"""
    from bbcompress.io.classic import encode
    monkeypatch.setattr("bbcompress.choice.best_encoding",
                        lambda pixels, kind, *args, **kwargs: ("raw", encode("raw", pixels, kind)))
    noise = np.random.default_rng(1).integers(0, 256, (30, 40, 3)).astype(np.uint8)
    images = colour_images()[:1] + [Image("noise.png", "RGB", noise, Kind.RGB)]
    models = ModelSet([photo_model])
    archive = parse(compress_images(images, models).to_bytes())
    coded = {image.name: s.is_classic for s in archive.sections for image in s.images}
    assert coded == {"tinted.png": False, "noise.png": True}
    assert_restored(sorted(images, key=lambda i: i.name),
                    sorted(decompress_archive(archive, models), key=lambda i: i.name))


def test_with_the_fallback_a_model_never_costs_a_colour_image_more_than_the_classic_codecs(photo_model):
    """(The single-image archive of a classic blob is the blob and ~120 header bytes.)"""
    noise = np.random.default_rng(1).integers(0, 256, (30, 40, 3)).astype(np.uint8)
    images = colour_images()[:1] + [Image("noise.png", "RGB", noise, Kind.RGB)]
    models = ModelSet([photo_model])
    archive = compress_images(images, models)
    for image in images:
        alone = compress_images([image], models).to_bytes()
        assert len(alone) <= len(compress_images([image], ModelSet()).to_bytes()) + 64
    assert_restored(images, decompress_archive(parse(archive.to_bytes()), models))


def test_a_planes_section_needs_version_7_and_a_greyscale_model(photo_model, tmp_path_factory, monkeypatch):
    images, models = colour_images()[1:2], ModelSet([photo_model])
    data = compress_images(images, models, CodingOptions(fallback=False)).to_bytes()
    binary = ModelConfig("bernoulli", 784, (4,) * 2, 0, "relu", 0.0, "wide", 1, 0)
    other = saved_model(tmp_path_factory, "binary", to_checkpoint(seeded(WideModel(binary), 6, 0.1), {"data": "x"}))
    from bbcompress.checkpoint import load_checkpoint
    from bbcompress.sections import check_model
    with pytest.raises(ModelMismatch, match="cannot be decoded by a model of binary images"):
        check_model(parse(data).sections[0], load_checkpoint(other))
    header = parse(data).sections[0].header()
    header["coder"]["schedule"] = [1]  # one plane's tiles, not three
    with pytest.raises(ValueError, match="schedule"):
        Section.from_header(json.loads(json.dumps(header)), parse(data).sections[0].words)
    monkeypatch.setattr("bbcompress.io.archive.VERSION", 6)
    with pytest.raises(ArchiveError, match="newer than this bbcompress reads"):
        parse(data)


def test_info_and_test_take_a_planes_archive(photo_model, tmp_path):
    from PIL import Image as PILImage
    source = tmp_path / "in" / "tinted.png"
    source.parent.mkdir()
    PILImage.fromarray(colour_images()[0].pixels).save(source)
    archive = tmp_path / "tinted.bbc"
    result = run("compress", source, "-o", archive, "-m", photo_model, "--no-fallback", "-q")
    assert result.exit_code == 0, result.output
    result = run("test", archive, "-m", photo_model)
    assert result.exit_code == 0, result.output
    result = run("info", archive)
    assert result.exit_code == 0 and "rgb" in result.output and "tiny-planes" in result.output, result.output
    from bbcompress.io.archive import read_archive
    transform = read_archive(archive).sections[0].images[0].colour_transform
    result = run("info", archive, "--files")
    assert f"tinted.png  130x100  mode RGB  planes {COLOUR_TRANSFORMS[transform].name}" in result.output, result.output


@pytest.mark.parametrize("transform, golden", [(0, "332abcaf9fe038b7"), (3, GOLDEN_TRANSFORM_3)])
def test_golden_planes_bitstream(photo_model, transform, golden):
    """A fixed model and colour image give these exact words: a change is a format change
    (transform 0, subtract green: format 7's planes; 3, G, R-G, B-R: format 10)."""
    import hashlib
    from dataclasses import replace
    from bbcompress.api import compress_section
    from bbcompress.checkpoint import load_checkpoint
    image = replace(colour_images()[1], colour_transform=transform)
    section = compress_section([image], photo_model, load_checkpoint(photo_model))
    assert section.version == (10 if transform else 7)
    assert hashlib.sha256(section.words.tobytes()).hexdigest()[:16] == golden


def test_a_section_may_not_ask_for_more_tile_pixels_than_a_decoder_holds(photo_model, monkeypatch):
    """A header of many 1x1 images in tiles of 256 (as planes: three each) is refused
    before anything is allocated; a writer refuses to write one."""
    header = parse(compress_images(colour_images()[1:2], ModelSet([photo_model]),
                                   CodingOptions(fallback=False)).to_bytes()).sections[0].header()
    count = 6000  # 6,000 x 3 x 65,536 > 2^30
    header["images"] = [[f"{i}.png", 1, 1, "RGB"] for i in range(count)]
    header["coder"].update(tile_side=256, schedule=[3 * count])
    with pytest.raises(ValueError, match="tiles hold more than"):
        Section.from_header(header, np.zeros(4, np.uint32))
    monkeypatch.setattr("bbcompress.io.archive.MAX_PADDED_PIXELS", 3 * 64 * 64 - 1)
    with pytest.raises(BBCError, match="more than a decoder takes"):
        compress_images(colour_images()[1:2], ModelSet([photo_model]), CodingOptions(fallback=False))


def test_colour_goes_to_the_classic_codecs_without_a_whole_image_model(tmp_path_factory):
    """A model of 28x28 tiles (learned maps) is no candidate for a photo's planes, even
    offered and without the fallback; the shipped digit models neither."""
    tiles = ModelConfig("logistic256", 784, (4,) * 2, 0, "relu", 0.001, "wide", 2, 2)
    path = saved_model(tmp_path_factory, "tiles", to_checkpoint(seeded(WideModel(tiles), 7, 0.1), {"data": "x"}))
    for models in (ModelSet([path]), ModelSet()):
        archive = compress_images(colour_images()[1:2], models, CodingOptions(fallback=False))
        assert [s.is_classic for s in archive.sections] == [True]
