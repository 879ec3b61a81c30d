"""Inputs at and past the limits (issue 23): the largest images the archive allows, the
classic codecs' own limits, inputs that claim more than they hold, endless inputs, and
output names at the file system's limit. Each case restores exactly or fails with one
``bbcompress: error:`` line, within bounded memory."""
from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from bbcompress.api import classic_section, decompress_archive, roundtrip
from bbcompress.io.archive import PREFIX, Archive, parse
from bbcompress.io.classic import CODECS, best_encoding, decode, encode
from bbcompress.io.images import MAX_PIXELS, read_image
from bbcompress.io.images import Image as BBImage
from bbcompress.kinds import Kind
from bbcompress.zoo import ModelSet
from bbcompress.training.data import load_dataset
from helpers import address_space_cap, assert_clean_failure, repack, run, run_in_child

BINARY, GREYSCALE = Kind.BINARY, Kind.GREYSCALE


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, rows: bytes = b"") -> bytes:
    """An 8-bit greyscale PNG whose header says ``width`` x ``height``, with ``rows``
    (filtered scanlines) as its only image data: a file may claim any size."""
    idat = png_chunk(b"IDAT", rows) if rows else b""
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + idat + png_chunk(b"IEND", b""))


def flat_png(width: int, height: int, value: int = 0) -> bytes:
    """A flat greyscale PNG, compressed a batch of rows at a time (never whole in memory)."""
    packer, batch = zlib.compressobj(6), 256
    row = b"\0" + bytes([value]) * width
    rows = [packer.compress(row * min(batch, height - top)) for top in range(0, height, batch)]
    return png_declaring(width, height, b"".join(rows) + packer.flush())


# --- 0. the largest images: every classic codec restores them -----------------------------

# (height, width) of the largest image each codec may hold: 2^27 pixels, and for lossless
# WebP sides of at most 16,383 pixels.
LARGEST = {"raw": (8192, 16384), "png": (8192, 16384), "webp": (8192, 16383)}


@pytest.mark.slow
@pytest.mark.parametrize("codec, kind", [("raw", GREYSCALE), ("png", GREYSCALE), ("png", BINARY),
                                         ("webp", GREYSCALE)])
def test_the_largest_image_the_limits_allow_restores_with_every_classic_codec(codec, kind):
    height, width = LARGEST[codec]
    assert height * width <= MAX_PIXELS < (height + 1) * width
    pixels = np.full((height, width), 1 if kind == BINARY else 200, np.uint8)
    pixels[::97, ::89] = 0  # a little content: flat enough to code in seconds
    image = BBImage("big.png", "1" if kind == BINARY else "L", pixels, kind)
    data = Archive([classic_section([(image, codec, encode(codec, pixels, kind))])]).to_bytes()
    assert np.array_equal(decompress_archive(parse(data), ModelSet())[0].pixels, pixels)


@pytest.mark.parametrize("blob", [png_declaring(60000, 60000), flat_png(150, 100)], ids=["3.6-gigapixels", "150x100"])
def test_a_classic_blob_larger_than_its_header_says_is_one_error_line(tmp_path, blob):
    """A 100x100 image's blob claiming more pixels (past Pillow's bomb error, or only its
    warning) is refused like any corrupted archive, and nothing is written."""
    image = BBImage("x.png", "L", np.full((100, 100), 7, np.uint8), GREYSCALE)
    archive = tmp_path / "bomb.bbc"
    archive.write_bytes(Archive([classic_section([(image, "png", blob)])]).to_bytes())
    for command in (["decompress", archive, "-o", tmp_path / "out"], ["test", archive]):
        with address_space_cap():
            assert_clean_failure(run(*command))
    assert not (tmp_path / "out").exists()


# --- 19, 21. input images: sizes checked before decoding, codecs that cannot hold them skipped

@pytest.mark.slow
def test_an_input_claiming_more_pixels_than_the_limit_is_refused_before_decoding(tmp_path):
    """A 140 KB PNG of 12000x12000 (144 MP, over the 2^27 limit, under twice Pillow's
    bomb threshold) is refused from its header, within 64 MiB of what refusing a missing
    file takes (decoding it took 1.9 GiB more before)."""
    image = tmp_path / "huge.png"
    image.write_bytes(flat_png(12000, 12000))
    assert image.stat().st_size < 200_000
    _, baseline_rss = run_in_child([["compress", tmp_path / "missing.png"]], tmp_path)
    results, peak_rss = run_in_child([["compress", image, "-o", tmp_path / "huge.bbc"]], tmp_path)
    assert results[0]["crash"] is None and results[0]["exit"] == 1, results[0]
    assert results[0]["stderr"].startswith("bbcompress: error:") and results[0]["stderr"].count("\n") == 1
    assert "12000x12000" in results[0]["stderr"]
    assert peak_rss < baseline_rss + 64 * (1 << 20), f"{(peak_rss - baseline_rss) / (1 << 20):.0f} MiB more"


@pytest.mark.slow
def test_an_input_between_pillows_bomb_threshold_and_the_limit_is_read_without_a_warning(tmp_path):
    """10000x9000 (90 MP): over Pillow's warning threshold, within the archive's limit."""
    path = tmp_path / "flat.png"
    path.write_bytes(flat_png(10000, 9000, 77))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = read_image(path)
    assert image.pixels.shape == (9000, 10000) and image.kind == GREYSCALE and image.pixels[0, 0] == 77


def tiff_with_a_broken_second_frame() -> bytes:
    """A 30x20 TIFF whose 'next frame' offset points into its pixels (zeros): Pillow
    finds a frame without dimensions there (TypeError: Missing dimensions)."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(buffer, format="TIFF")
    data = bytearray(buffer.getvalue())
    first = struct.unpack_from("<I", data, 4)[0]
    entries = struct.unpack_from("<H", data, first)[0]
    struct.pack_into("<I", data, first + 2 + 12 * entries, len(data) - 400)
    return bytes(data)


def test_a_corrupted_tiff_is_one_error_line(tmp_path):
    image = tmp_path / "broken.tif"
    image.write_bytes(tiff_with_a_broken_second_frame())
    result = run("compress", image, "-o", tmp_path / "broken.bbc")
    assert_clean_failure(result)
    assert "broken.tif" in result.stderr and not (tmp_path / "broken.bbc").exists()


def digit_strip(count: int = 600) -> np.ndarray:
    """``count`` greyscale test digits side by side: 28 x 28*count."""
    return np.concatenate(list(load_dataset("mnist10k").x_test[:count]), axis=1)


@pytest.mark.parametrize("shape", [(28, 16800), (16800, 28), (16384, 1)])
def test_the_best_encoding_skips_a_codec_that_cannot_hold_the_image(shape):
    pixels = np.full(shape, 9, np.uint8)
    codec, data = best_encoding(pixels, GREYSCALE)
    assert codec in CODECS and codec != "webp"
    assert np.array_equal(decode(codec, data, GREYSCALE, shape[1], shape[0]), pixels)


@pytest.mark.slow
@pytest.mark.parametrize("transpose", [False, True], ids=["28x16800", "16800x28"])
def test_a_strip_of_digits_wider_than_webp_allows_compresses_and_restores(tmp_path, tiny_models, transpose):
    pixels = digit_strip().T.copy() if transpose else digit_strip()
    Image.fromarray(pixels).save(tmp_path / "strip.png")
    archive, out = tmp_path / "strip.bbc", tmp_path / "out"
    result = run("compress", tmp_path / "strip.png", "-o", archive, "-m", tiny_models["greyscale"])
    assert result.exit_code == 0, result.output
    assert run("decompress", archive, "-o", out, "-m", tiny_models["greyscale"]).exit_code == 0
    assert np.array_equal(np.asarray(Image.open(out / "strip.png")), pixels)


# --- 19. archives are read as far as their header says, never without bound ---------------

class EndlessInput(io.RawIOBase):
    """``head``, then zero bytes for ever; counts what is read, and stops a reader that
    goes past ``budget`` (a RuntimeError) rather than let it take the machine's memory."""

    def __init__(self, head: bytes = b"", budget: int = 64 << 20):
        self.head, self.budget, self.consumed = head, budget, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        if self.consumed + len(view) > self.budget:
            raise RuntimeError(f"read past {self.budget} bytes")
        head = self.head[self.consumed:self.consumed + len(view)]
        view[:len(head)] = head
        view[len(head):] = bytes(len(view) - len(head))
        self.consumed += len(view)
        return len(view)


@pytest.fixture(scope="module")
def one_archive(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("one")
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (20, 30), dtype=np.uint8)).save(folder / "n.png")
    assert run("compress", folder / "n.png", "-o", folder / "n.bbc", "-q").exit_code == 0
    return (folder / "n.bbc").read_bytes()


def endless_heads(archive: bytes) -> dict[str, tuple[bytes, int]]:
    """Inputs that never end, each with the most a reader may take of them."""
    magic = archive[:8]
    declaring = repack({"sections": [{"words": 1 << 40}]}, b"")[:-4]  # prefix and header only
    return {
        "zeros": (b"", PREFIX.size),
        "a header of 4 GiB": (magic + struct.pack("<BBI", 1, 0, 0xFFFFFFFF), PREFIX.size),
        "a header of zeros": (magic + struct.pack("<BBI", 1, 1, 100), PREFIX.size + 100),
        "4 TiB of words declared": (declaring, len(declaring)),
        "an archive, then zeros": (archive, len(archive) + 1),
    }


@pytest.mark.parametrize("case", ["zeros", "a header of 4 GiB", "a header of zeros", "4 TiB of words declared",
                                  "an archive, then zeros"])
@pytest.mark.parametrize("command", ["test", "info"])
def test_an_endless_stdin_fails_after_a_bounded_read(one_archive, case, command):
    head, most = endless_heads(one_archive)[case]
    stream = EndlessInput(head)
    assert_clean_failure(run(command, "-", input=stream))
    assert stream.consumed <= most, f"read {stream.consumed:,} bytes"


def test_info_of_dev_zero_fails_at_once():
    with address_space_cap():  # before: read /dev/zero until MemoryError (~2.9 GB)
        result = run("info", "/dev/zero")
    assert_clean_failure(result)
    assert "not a bbcompress archive" in result.stderr


def test_an_archive_is_read_whole_from_a_file_and_from_stdin(tmp_path, one_archive):
    (tmp_path / "n.bbc").write_bytes(one_archive)
    assert run("test", tmp_path / "n.bbc").exit_code == 0
    assert run("test", "-", input=one_archive).exit_code == 0


def test_writers_and_readers_share_the_payload_limit(monkeypatch, one_archive):
    """What a reader refuses is never written (here with the limit lowered to 64 bytes)."""
    import bbcompress.io.archive as container
    from bbcompress.errors import ArchiveError, BBCError
    archive = parse(one_archive)
    monkeypatch.setattr(container, "MAX_PAYLOAD", 64)
    assert sum(4 * len(s.words) for s in archive.sections) > 64
    with pytest.raises(BBCError, match="readers accept"):
        archive.to_bytes()
    with pytest.raises(ArchiveError, match="more than any archive holds"):
        parse(one_archive)
    assert_clean_failure(run("test", "-", input=one_archive))


# --- 20. standard output closed -----------------------------------------------------------

def test_compress_to_a_closed_stdout_is_one_error_line(tmp_path):
    Image.fromarray(np.full((28, 28), 9, np.uint8)).save(tmp_path / "x.png")
    result = subprocess.run([sys.executable, "-m", "bbcompress", "compress", str(tmp_path / "x.png"), "-c"],
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120,
                            preexec_fn=lambda: os.close(1))  # as `bbcompress ... >&-` runs it
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("bbcompress: error:"), result.stderr


# --- 22. names at the file system's limit (255 bytes a component) --------------------------

def small_image(folder, name: str = "x.png"):
    Image.fromarray(np.random.default_rng(6).integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / name)
    return folder / name


def test_an_output_name_of_250_utf8_bytes_is_written(tmp_path, tiny_models):
    """The atomic writer's temporary name must fit where the name itself fits."""
    output = tmp_path / ("é" * 123 + ".bbc")
    assert len(os.fsencode(output.name)) == 250
    result = run("compress", small_image(tmp_path), "-o", output, "-m", tiny_models["greyscale"])
    assert result.exit_code == 0, result.output
    assert run("test", output, "-m", tiny_models["greyscale"]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([output.name, "x.png"])


@pytest.mark.parametrize("output, reason", [("é" * 126 + ".bbc", "file name too long (256 bytes; at most 255)"),
                                            ("missing-folder/x.bbc", "missing-folder is not a folder")],
                         ids=["name-of-256-bytes", "missing-folder"])
def test_an_output_path_that_cannot_be_written_fails_before_coding(tmp_path, tiny_models, monkeypatch, output,
                                                                    reason):
    import bbcompress.api

    def no_coding(*args, **kwargs):
        raise AssertionError("coded before the output path was checked")

    monkeypatch.setattr(bbcompress.api, "compress_images", no_coding)
    result = run("compress", small_image(tmp_path), "-o", tmp_path / output, "-m", tiny_models["greyscale"])
    assert_clean_failure(result)
    assert reason in result.stderr


def test_a_stored_name_of_254_utf8_bytes_is_restored(tmp_path, tiny_models):
    name = "é" * 125 + ".png"
    source = small_image(tmp_path, name)
    archive, out = tmp_path / "long.bbc", tmp_path / "out"
    assert run("compress", source, "-o", archive, "-m", tiny_models["greyscale"]).exit_code == 0
    result = run("decompress", archive, "-o", out, "-m", tiny_models["greyscale"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == [name]
    assert np.array_equal(np.asarray(Image.open(out / name)), np.asarray(Image.open(source)))


# --- 9. one image alone costs at most its optimized PNG and the container ------------------

CONTAINER_BYTES = 64  # prefix, binary one-image header with a short name, CRC: 46 measured


def printed_page(height: int = 160, width: int = 400, seed: int = 3) -> np.ndarray:
    """Lines of random 5x7 glyphs, dark on a light page, edges blurred (3x3 box), a little
    noise: like a scanned page of print, where PNG is the best classic codec."""
    rng = np.random.default_rng(seed)
    glyphs, ink = rng.random((40, 7, 5)) < 0.45, np.zeros((height, width))
    for top in range(6, height - 14, 14):
        for left in range(4, width - 8, 7):
            ink[top:top + 7, left:left + 5] = glyphs[rng.integers(40)]
    soft = sum(np.roll(np.roll(ink, dy, 0), dx, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    return np.clip(230 - 190 * soft + rng.normal(0, 2.5, ink.shape), 0, 255).round().astype(np.uint8)


def scikit_image_text() -> np.ndarray:
    return pytest.importorskip("skimage.data").text()  # checks the promise; never tuned on


def optimized_png_bytes(pixels: np.ndarray) -> int:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return buffer.tell()


@pytest.mark.slow
@pytest.mark.parametrize("make", [printed_page, scikit_image_text], ids=["printed page", "scikit-image text"])
def test_one_image_costs_at_most_its_optimized_png_and_the_container(make):
    pixels = make()
    data, decoded = roundtrip([BBImage("page.png", "L", pixels, GREYSCALE)], ModelSet())
    assert np.array_equal(decoded[0].pixels, pixels)
    section, png = parse(data).sections[0], optimized_png_bytes(pixels)
    assert section.is_classic and section.blobs[0][1] <= png, (section.blobs, png)
    assert len(data) <= png + CONTAINER_BYTES, (len(data), png)


@pytest.mark.slow
def test_a_50_megapixel_colour_photo_compresses_and_restores_in_bounded_memory(tmp_path):
    """A flat 8000x6250 RGB image (150 MB of pixels) through compress and decompress in a
    child capped at 3 GiB of address space: the classic codecs hold it whole, so memory
    is about seven times its pixels, not more (measured 0.87 and 1.1 GB peak)."""
    source, archive = tmp_path / "flat.png", tmp_path / "flat.bbc"
    Image.new("RGB", (8000, 6250), (120, 200, 40)).save(source)
    results, peak_rss = run_in_child([["compress", source, "-o", archive, "-q"],
                                      ["decompress", archive, "-o", tmp_path / "out", "-q"]],
                                     tmp_path, timeout=300, address_space=3 << 30)
    assert [r["exit"] for r in results] == [0, 0], results
    assert archive.stat().st_size < 4000 and peak_rss < 1.5 * (1 << 30), peak_rss
    with Image.open(tmp_path / "out" / "flat.png") as restored:
        assert restored.mode == "RGB" and restored.size == (8000, 6250)
        assert restored.getextrema() == ((120, 120), (200, 200), (40, 40))
