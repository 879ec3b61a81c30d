"""The command line as a user meets it: roundtrips and every kind of bad input."""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from bbcompress.api import CodingOptions, compress_images, decompress_archive, roundtrip
from bbcompress.cli import main
from bbcompress.errors import ArchiveError
from bbcompress.io.archive import parse
from bbcompress.io.images import Image as BBImage
from bbcompress.kinds import Kind
from bbcompress.zoo import ModelSet
from bbcompress.training.data import load_dataset
from helpers import (assert_clean_failure, assert_restored, checkpoint_of, model_args, repack, run,
                     seeded_vae, unpack_archive)

BINARY, GREYSCALE = Kind.BINARY, Kind.GREYSCALE


@pytest.fixture()
def sample_folder(tmp_path):
    """A folder with binary PBM, 0/255 PNG, greyscale PNG and an odd-sized PGM."""
    folder = tmp_path / "digits"
    folder.mkdir()
    binary, grey = load_dataset("mnist10k-binary").x_test, load_dataset("mnist10k").x_test
    for i in range(3):
        Image.fromarray(binary[i].astype(bool)).save(folder / f"b{i}.pbm")
        Image.fromarray(grey[i]).save(folder / f"g{i}.png")
    Image.fromarray((binary[3] * 255).astype(np.uint8)).save(folder / "black-white.png")
    odd = np.random.default_rng(0).integers(0, 256, (45, 61), dtype=np.uint8)
    Image.fromarray(odd).save(folder / "odd.pgm")
    return folder


def assert_same_images(original: Path, restored: Path):
    for path in sorted(original.iterdir()):
        a, b = Image.open(path), Image.open(restored / path.name)
        assert a.mode == b.mode and a.size == b.size, path
        assert np.array_equal(np.asarray(a), np.asarray(b)), path


@pytest.mark.slow
def test_folder_roundtrip_keeps_names_modes_and_pixels(tmp_path, sample_folder, tiny_models):
    archive = tmp_path / "a.bbc"
    result = run("compress", sample_folder, "-o", archive, *model_args(tiny_models), "--no-fallback", "-q")
    assert result.exit_code == 0, result.output
    info = run("info", archive, "--files")
    assert "8 image(s)" in info.output and "odd.pgm  61x45" in info.output
    out = tmp_path / "out"
    result = run("decompress", archive, "-o", out, "-m", tiny_models["greyscale"], "-m", tiny_models["binary"])
    assert result.exit_code == 0, result.output
    assert_same_images(sample_folder, out / "digits")
    assert run("test", archive, *model_args(tiny_models)).exit_code == 0
    # outputs get the user's usual permissions, not a temporary file's private 0600
    umask = os.umask(0)
    os.umask(umask)
    for written in [archive, *(out / "digits").iterdir()]:
        assert written.stat().st_mode & 0o777 == 0o666 & ~umask, written


@pytest.mark.slow
def test_existing_outputs_are_not_overwritten_without_force(tmp_path, sample_folder, tiny_models):
    archive = tmp_path / "a.bbc"
    assert run("compress", sample_folder, "-o", archive, *model_args(tiny_models), "--no-fallback", "-q").exit_code == 0
    before = archive.read_bytes()
    assert_clean_failure(run("compress", sample_folder, "-o", archive, *model_args(tiny_models), "--no-fallback"))
    assert archive.read_bytes() == before
    assert run("compress", sample_folder, "-o", archive, *model_args(tiny_models), "--no-fallback", "-f", "-q").exit_code == 0
    out = tmp_path / "out"
    assert run("decompress", archive, "-o", out, *model_args(tiny_models), "-q").exit_code == 0
    assert_clean_failure(run("decompress", archive, "-o", out, *model_args(tiny_models)))


@pytest.fixture()
def archive_bytes(tmp_path, tiny_models):
    folder = tmp_path / "in"
    folder.mkdir()
    for i, digit in enumerate(load_dataset("mnist10k-binary").x_test[:3]):
        Image.fromarray(digit.astype(bool)).save(folder / f"{i}.png")
    archive = tmp_path / "a.bbc"
    assert run("compress", folder, "-o", archive, "-m", tiny_models["binary"], "--no-fallback", "-q").exit_code == 0
    return archive.read_bytes()


def decompress_fails_cleanly(tmp_path, data, tiny_models):
    bad = tmp_path / "bad.bbc"
    bad.write_bytes(data)
    out = tmp_path / "bad-out"
    result = run("decompress", bad, "-o", out, "-m", tiny_models["binary"])
    assert_clean_failure(result)
    assert not out.exists() or not any(out.rglob("*")), "a partial output was written"
    assert bad.read_bytes() == data, "the input was changed"
    return result.stderr


def test_truncated_archives_are_refused(tmp_path, archive_bytes, tiny_models):
    for length in (0, 5, 20, len(archive_bytes) // 2, len(archive_bytes) - 1):
        decompress_fails_cleanly(tmp_path, archive_bytes[:length], tiny_models)


def test_every_single_byte_flip_is_caught(tmp_path, archive_bytes, tiny_models):
    for position in range(len(archive_bytes)):
        flipped = bytearray(archive_bytes)
        flipped[position] ^= 0x5A
        # the magic bytes are checked first, then the CRC-32 over every other byte
        reason = "wrong magic bytes" if position < 8 else "CRC-32 mismatch"
        with pytest.raises(ArchiveError, match=reason):
            parse(bytes(flipped))
    flipped = bytearray(archive_bytes)
    flipped[len(flipped) // 2] ^= 1
    assert "corrupted" in decompress_fails_cleanly(tmp_path, bytes(flipped), tiny_models)


def with_fixed_crc(data: bytes) -> bytes:
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))


def test_wrong_magic_newer_version_and_unknown_flags(tmp_path, archive_bytes, tiny_models):
    assert "not a bbcompress archive" in decompress_fails_cleanly(tmp_path, b"PK" + archive_bytes[2:], tiny_models)
    from bbcompress.io.archive import VERSION
    newer = with_fixed_crc(archive_bytes[:8] + bytes([VERSION + 1]) + archive_bytes[9:])
    assert "newer" in decompress_fails_cleanly(tmp_path, newer, tiny_models)
    flags = with_fixed_crc(archive_bytes[:9] + bytes([4]) + archive_bytes[10:])
    assert "flags" in decompress_fails_cleanly(tmp_path, flags, tiny_models)


def test_behind_a_valid_crc_a_changed_payload_or_pixel_checksum_is_caught(tmp_path, archive_bytes, tiny_models):
    """A changed payload word is caught by the coder (its ANS stack does not end where it
    began: no payload flip of this archive gets as far as the pixel checksum); a changed
    pixel checksum by the check of the decoded pixels."""
    damaged = bytearray(archive_bytes)
    damaged[-8] ^= 0x10  # the last payload word
    message = decompress_fails_cleanly(tmp_path, with_fixed_crc(bytes(damaged)), tiny_models)
    assert "the ANS stack did not return to its initial state" in message
    header, payload = unpack_archive(archive_bytes)
    (section,) = header["sections"]
    digest = section["pixel_sha256"]
    section["pixel_sha256"] = ("0" if digest[0] != "0" else "1") + digest[1:]
    message = decompress_fails_cleanly(tmp_path, repack(header, payload, archive_bytes[8]), tiny_models)
    assert "decoded pixels do not match the archive's checksum" in message


def test_decoding_with_another_model_is_refused(tmp_path, archive_bytes, tiny_models):
    other = tmp_path / "other"
    checkpoint_of(seeded_vae("bernoulli", seed=9), "mnist10k-binary").save(other)
    bad = tmp_path / "a.bbc"
    bad.write_bytes(archive_bytes)
    result = run("decompress", bad, "-o", tmp_path / "o", "-m", other)
    assert_clean_failure(result)
    assert "other weights" in result.stderr


def test_bad_inputs_to_compress(tmp_path, tiny_models):
    cmyk, floats, junk = tmp_path / "cmyk.tif", tmp_path / "floats.tif", tmp_path / "junk.png"
    Image.new("CMYK", (28, 28)).save(cmyk)
    Image.fromarray(np.full((28, 28), 0.5, dtype=np.float32)).save(floats)
    junk.write_bytes(b"this is not an image")
    out = tmp_path / "x.bbc"
    for inputs, message in [([], "no input"), ([cmyk], "mode CMYK"), ([floats], "mode F"),
                            ([junk], "cannot read"), ([tmp_path / "missing.png"], "no such file")]:
        result = run("compress", *inputs, "-o", out, *model_args(tiny_models), "--no-fallback")
        assert_clean_failure(result)
        assert message in result.stderr
        assert not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no input images" in run("compress", empty, "-o", out).stderr


def test_unsafe_stored_names_are_refused(tmp_path):
    from bbcompress.io.paths import output_path
    from bbcompress.errors import BBCError
    for name in ("../evil.png", "/etc/passwd", "a/../../b.png"):
        with pytest.raises(BBCError):
            output_path(tmp_path, name)


def roundtrip_in_memory(images, tiny_models, **options):
    data, restored = roundtrip(images, ModelSet(list(tiny_models.values())),
                               CodingOptions(fallback=False, **options))
    archive = parse(data)
    by_name = {image.name: image for image in restored}
    for image in images:
        assert np.array_equal(by_name[image.name].pixels, image.pixels)
        assert by_name[image.name].mode == image.mode
    return archive


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 70), st.integers(1, 70), st.sampled_from(["1", "L", "L01"]),
                          st.integers(0, 2**32 - 1)), min_size=1, max_size=4))
def test_random_images_of_random_sizes_roundtrip(tiny_models, shapes):
    images = []
    for index, (height, width, mode, seed) in enumerate(shapes):
        rng = np.random.default_rng(seed)
        if mode == "L":
            pixels = rng.integers(0, 256, (height, width), dtype=np.uint8)
            kind = BINARY if np.isin(pixels, (0, 255)).all() else GREYSCALE
            pixels = pixels // 255 if kind == BINARY else pixels
        else:
            pixels, kind = (rng.random((height, width)) < rng.random()).astype(np.uint8), BINARY
        images.append(BBImage(f"img{index}.png", mode[0], pixels, kind))
    roundtrip_in_memory(images, tiny_models, max_batch=3)


@pytest.mark.slow
def test_archive_decodes_under_other_thread_counts(tmp_path, tiny_models):
    from threadpoolctl import threadpool_limits
    grey = load_dataset("mnist10k").x_test[:40]
    images = [BBImage(f"{i}.png", "L", digit, GREYSCALE) for i, digit in enumerate(grey)]
    models = ModelSet(list(tiny_models.values()))
    for encode_threads, decode_threads in ((2, 1), (1, 2)):
        with threadpool_limits(encode_threads):
            data = compress_images(images, models, CodingOptions(max_batch=16, fallback=False)).to_bytes()
        with threadpool_limits(decode_threads):
            restored = decompress_archive(parse(data), models)
        assert_restored(images, restored)


def test_headers_are_compressed_and_plain_headers_still_read(archive_bytes):
    from bbcompress.io.archive import PREFIX, inflate_header
    _, version, flags, length = PREFIX.unpack_from(archive_bytes)
    assert flags == 1
    stored = archive_bytes[PREFIX.size:PREFIX.size + length]
    plain = inflate_header(stored)
    assert len(stored) < len(plain)
    rest = archive_bytes[PREFIX.size + length:-4]
    legacy = with_fixed_crc(PREFIX.pack(archive_bytes[:8], version, 0, len(plain)) + plain + rest + b"\0" * 4)
    a, b = parse(archive_bytes), parse(legacy)
    assert [s.header() for s in a.sections] == [s.header() for s in b.sections]
    broken = with_fixed_crc(archive_bytes[:PREFIX.size] + stored[:-3] + b"\0\0\0" + rest + b"\0" * 4)
    with pytest.raises(Exception, match="malformed archive header"):
        parse(broken)


def test_cli_batch_default_is_the_models(tmp_path, tiny_models, monkeypatch):
    """Without --batch each model codes in its own batch size (its coding's max_batch, the
    library's default); --batch overrides it."""
    from bbcompress.families.mlp_coding import MLPCoding
    batch = next(p for p in main.commands["compress"].params if p.name == "max_batch")
    assert batch.default is None and CodingOptions().max_batch is None
    monkeypatch.setattr(MLPCoding, "max_batch", 5)  # the tiny model's own size: small, to show in 16 images
    folder = tmp_path / "in"
    folder.mkdir()
    for i, digit in enumerate(load_dataset("mnist10k").x_test[:16]):
        Image.fromarray(digit).save(folder / f"{i:02d}.png")
    largest = {}
    for extra in ([], ["--batch", 3]):
        archive = tmp_path / f"batch{len(extra)}.bbc"
        result = run("compress", folder, "-o", archive, "-m", tiny_models["greyscale"], "--no-fallback",
                     "-T", 1, "-q", *extra)
        assert result.exit_code == 0, result.output
        (section,) = parse(archive.read_bytes()).sections
        assert sum(section.coder.schedule) == 16
        largest[tuple(extra)] = max(section.coder.schedule)
    assert largest == {(): 5, ("--batch", 3): 3}, largest


@pytest.mark.parametrize("level", [*range(1, 7), *(pytest.param(n, marks=pytest.mark.slow) for n in (7, 8, 9))])
def test_every_level_decodes_under_other_thread_counts(tiny_models, level):
    from threadpoolctl import threadpool_limits
    grey, binary = load_dataset("mnist10k").x_test[:5], load_dataset("mnist10k-binary").x_test[:5]
    images = ([BBImage(f"g{i}.png", "L", d, GREYSCALE) for i, d in enumerate(grey)]
              + [BBImage(f"b{i}.pbm", "1", d, BINARY) for i, d in enumerate(binary)])
    models = ModelSet(list(tiny_models.values()))
    with threadpool_limits(2):
        data = compress_images(images, models, CodingOptions(max_batch=3, level=level, fallback=False)).to_bytes()
    assert data[8] == (1 if level == 1 else 2), "format version 2 only where it is needed"
    with threadpool_limits(1):
        restored = {image.name: image for image in decompress_archive(parse(data), models)}
    assert all(np.array_equal(a.pixels, restored[a.name].pixels) for a in images)


def test_top_level_codes_a_single_image_and_bad_levels_are_refused(tmp_path, tiny_models):
    image = tmp_path / "one.png"
    Image.fromarray(load_dataset("mnist10k").x_test[0]).save(image)
    archive = tmp_path / "one.bbc"
    assert run("compress", image, "-o", archive, "--level", 9, *model_args(tiny_models), "--no-fallback", "-q").exit_code == 0
    assert run("test", archive, *model_args(tiny_models), "-q").exit_code == 0
    for bad in (0, 10):
        assert_clean_failure(run("compress", image, "-o", tmp_path / "x.bbc", "--level", bad))
