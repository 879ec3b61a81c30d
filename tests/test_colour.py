"""Colour, alpha, palette and 16-bit images end to end: read, coded by the simplest kind
that holds them, restored in their own mode with the same values; what cannot be kept
exactly refused in one line."""
from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import bbcompress
from bbcompress.errors import ArchiveError, ImageError, IntegrityError
from bbcompress.io.archive import parse
from bbcompress.io.images import decode_image, read_image
from bbcompress.kinds import Kind
from helpers import assert_clean_failure, run

RNG = np.random.default_rng(5)
NOISE_RGB = RNG.integers(0, 256, (23, 31, 3), dtype=np.uint8)


def smooth_rgb(height=40, width=52) -> np.ndarray:
    """An image PNG and WebP compress (so the classic choice is not just raw)."""
    y, x = np.mgrid[:height, :width]
    return np.stack([(x * 4) % 256, (y * 5) % 256, (x + y) % 256], axis=2).astype(np.uint8)


def with_alpha(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.concatenate([rgb, alpha[..., None]], axis=2)


GREY = RNG.integers(0, 256, (23, 31), dtype=np.uint8)
TRANSLUCENT = RNG.integers(0, 256, (23, 31), dtype=np.uint8)
OPAQUE = np.full((23, 31), 255, np.uint8)
FILES = {  # name: (array Pillow saves, the kind it is coded as)
    "rgb.png": (smooth_rgb(), Kind.RGB),
    "noise.tif": (NOISE_RGB, Kind.RGB),
    "rgb.bmp": (NOISE_RGB, Kind.RGB),
    "rgb.ppm": (NOISE_RGB, Kind.RGB),
    "rgba.png": (with_alpha(NOISE_RGB, TRANSLUCENT), Kind.RGBA),
    "clear-under-zero-alpha.png": (with_alpha(NOISE_RGB, TRANSLUCENT * (TRANSLUCENT > 128)), Kind.RGBA),
    "opaque-rgba.png": (with_alpha(NOISE_RGB, OPAQUE), Kind.RGB),
    "grey-as-rgb.png": (np.repeat(GREY[..., None], 3, axis=2), Kind.GREYSCALE),
    "grey-as-rgba.tif": (with_alpha(np.repeat(GREY[..., None], 3, axis=2), TRANSLUCENT), Kind.GREY_ALPHA),
    "la.png": (np.stack([GREY, TRANSLUCENT], axis=2), Kind.GREY_ALPHA),
    "opaque-la.png": (np.stack([GREY, OPAQUE], axis=2), Kind.GREYSCALE),
    "bilevel-rgb.png": (np.repeat((GREY > 128)[..., None] * np.uint8(255), 3, axis=2), Kind.BINARY),
    "deep.png": (RNG.integers(0, 1 << 16, (23, 31), dtype=np.uint16), Kind.GREY16),
    "deep.tif": (RNG.integers(0, 1 << 16, (23, 31), dtype=np.uint16), Kind.GREY16),
    "deep.pgm": (RNG.integers(0, 1 << 16, (23, 31), dtype=np.uint16), Kind.GREY16),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("colour") / "in"
    folder.mkdir()
    for name, (array, _) in FILES.items():
        Image.fromarray(array).save(folder / name)
    Image.fromarray(smooth_rgb()).save(folder / "lossless.webp", lossless=True)
    Image.fromarray(smooth_rgb()).quantize(7).save(folder / "palette.png")
    Image.fromarray(smooth_rgb()).quantize(7).save(folder / "palette.gif")
    return folder


def file_values(path) -> tuple[str, np.ndarray]:
    with Image.open(path) as image:
        return image.mode, np.asarray(image)


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_mode_is_coded_as_the_simplest_kind_that_holds_it(folder, name):
    image = read_image(folder / name)
    assert image.kind == FILES[name][1]
    assert image.mode == file_values(folder / name)[0]


def test_every_supported_mode_round_trips_through_the_command_line(folder, tmp_path):
    archive, out = tmp_path / "c.bbc", tmp_path / "out"
    result = run("compress", folder, "-o", archive)
    assert result.exit_code == 0, result.output
    assert "palette.png: a palette image: stored and restored as RGB" in result.stderr
    assert run("decompress", archive, "-o", out).exit_code == 0
    for source in folder.iterdir():
        mode, values = file_values(source)
        restored = out / "in" / (source.name if source.suffix in (".png", ".tif", ".bmp", ".ppm", ".pgm")
                                 else source.name + ".png")
        restored_mode, restored_values = file_values(restored)
        if mode == "P":  # the one change: a palette image comes back as its colours
            mode, values = "RGB", np.asarray(Image.open(source).convert("RGB"))
        assert restored_mode == mode, source.name
        assert np.array_equal(restored_values, values), source.name
    assert run("test", archive).exit_code == 0


def test_colour_archives_are_version_5_and_rates_count_sub_pixels(folder, tmp_path):
    both = tmp_path / "both.bbc"
    assert run("compress", folder / "rgb.png", folder / "lossless.webp", "-o", both).exit_code == 0
    assert both.read_bytes()[8] == 5  # version 8 alone: a one-image archive's binary header
    archive = tmp_path / "rgb.bbc"
    assert run("compress", folder / "rgb.png", "-o", archive).exit_code == 0
    data = archive.read_bytes()
    info = json.loads(run("info", archive, "--json").stdout)
    section, = info["sections"]
    assert section["kind"] == "rgb" and section["model"] == "classic"
    assert section["pixels"] == 40 * 52 * 3
    assert info["bits_per_dim"] == pytest.approx(8 * len(data) / (40 * 52 * 3))


def test_a_colour_image_never_costs_more_than_its_best_classic_file_and_a_header(folder, tmp_path):
    png = Image.open(folder / "rgb.png")
    best_classic = min(len(encoded(png, "PNG", optimize=True)), len(encoded(png, "WEBP", lossless=True)))
    data = bbcompress.compress([smooth_rgb()])
    assert len(data) <= best_classic + 64


def encoded(image, fmt, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_grey_images_keep_the_formats_they_had():
    data = bbcompress.compress([GREY, GREY > 128])
    assert data[8] < 5


@pytest.mark.parametrize("array", [NOISE_RGB, with_alpha(NOISE_RGB, TRANSLUCENT),
                                   np.stack([GREY, TRANSLUCENT], axis=2),
                                   RNG.integers(0, 1 << 16, (9, 8), dtype=np.uint16)],
                         ids=["rgb", "rgba", "grey-alpha", "uint16"])
def test_the_python_api_takes_and_gives_back_colour_arrays(array):
    (name, back), = bbcompress.decompress(bbcompress.compress([array]))
    assert back.dtype == array.dtype and np.array_equal(back, array)


def png_16_bit_rgb() -> bytes:
    """A 16-bit RGB PNG, which Pillow would read as 8 bits a channel."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    rows = b"".join(b"\0" + bytes(range(48)) for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def saved(array_or_image, fmt: str) -> io.BytesIO:
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("source, name, message", [
    (lambda: io.BytesIO(png_16_bit_rgb()), "deep-colour.png", "16-bit RGB is not supported"),
    (lambda: saved(Image.new("CMYK", (4, 4)), "TIFF"), "print.tif", "mode CMYK is not supported"),
    (lambda: saved(np.zeros((4, 4), np.float32), "TIFF"), "floats.tif", "mode F is not supported"),
    (lambda: saved(with_alpha(NOISE_RGB, TRANSLUCENT), "PNG"), "alpha.bmp", "BMP cannot restore a RGBA image"),
    (lambda: saved(np.stack([GREY, TRANSLUCENT], axis=2), "PNG"), "alpha.ppm", "PPM cannot restore a LA image"),
], ids=["rgb16", "cmyk", "float", "rgba-as-bmp", "la-as-ppm"])
def test_what_cannot_be_kept_exactly_is_refused_in_one_line(source, name, message):
    with pytest.raises(ImageError) as caught:
        decode_image(source(), name, name)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_command_line_refuses_16_bit_colour_in_one_line(tmp_path):
    path = tmp_path / "deep-colour.png"
    path.write_bytes(png_16_bit_rgb())
    assert_clean_failure(run("compress", path, "-o", tmp_path / "x.bbc"))
    assert not (tmp_path / "x.bbc").exists()


def rewritten(data: bytes, change) -> bytes:
    """``data`` with its (plain JSON) header changed by ``change`` and the CRC redone."""
    archive = parse(data)
    header = {"sections": [s.header() for s in archive.sections]}
    change(header)
    plain = json.dumps(header).encode()
    body = data[:8] + bytes([data[8], 0]) + struct.pack("<I", len(plain)) + plain
    payload = b"".join(s.words.astype("<u4").tobytes() for s in archive.sections)
    body += payload
    return body + struct.pack("<I", zlib.crc32(body))


def test_a_header_claiming_the_wrong_kind_or_mode_is_refused_before_decoding():
    data = bbcompress.compress([smooth_rgb(), smooth_rgb()])  # keyed header: two images
    assert parse(rewritten(data, lambda h: None)).image_count == 2  # the rewriting itself is sound

    def grey_kind(header):
        header["sections"][0]["kind"] = "greyscale"

    def model_coded(header):
        header["sections"][0].update(codec="model", model={"name": "m", "encoder": "none", "fingerprint": "0"},
                                     coder={"latents": "grid", "latent_bits": 8, "schedule": [4]})

    def deep_mode(header):
        header["sections"][0]["images"][0][3] = "I;16"
    for change in (model_coded, deep_mode):
        with pytest.raises(ArchiveError):
            parse(rewritten(data, change))
    with pytest.raises(IntegrityError, match="does not decode"):  # a colour blob is not read as grey
        bbcompress.decompress(rewritten(data, grey_kind))


def test_older_versions_cannot_claim_colour():
    data = bytearray(bbcompress.compress([smooth_rgb(), smooth_rgb()]))
    data[8] = 4
    body = bytes(data[:-4])
    with pytest.raises(ArchiveError, match="version above 4"):
        parse(body + struct.pack("<I", zlib.crc32(body)))
