"""One-image archives: the compact header, as small as the image's own bits allow and as
strictly checked as the keyed header. Written in bytes since format version 8
(``compact_header``); the JSON form of versions 4-7 keeps decoding."""
from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage

from bbcompress.api import CodingOptions, classic_encoding_job, compress_images, decompress_archive
from bbcompress.errors import ArchiveError, IntegrityError
from bbcompress.io.archive import MAGIC, PREFIX, Archive, parse
from bbcompress.io.checksums import content_sha256
from bbcompress.io.classic import NEW_CODECS
from bbcompress.io.compact_header import PAYLOAD_BYTES, pack_compact, unpack_compact, varint
from bbcompress.io.images import Image
from bbcompress.kinds import Kind
from bbcompress.zoo import ModelSet
from bbcompress.training.data import load_dataset
from helpers import json_compact_section, repack, unpack_archive

CAMERA_NAME = "IMG_20241130_153012.png"  # a camera's file name: 23 bytes


def stored(data: bytes) -> tuple[int, int, bytes, bytes]:
    """(version, flags, stored header, payload) of an archive's bytes."""
    _, version, flags, length = PREFIX.unpack_from(data)
    return version, flags, data[PREFIX.size:PREFIX.size + length], data[PREFIX.size + length:-4]


def assemble(header: bytes, payload: bytes, version: int = 8, flags: int = 2) -> bytes:
    """An archive of these bytes with a valid CRC-32: only the reader's checks refuse it."""
    body = PREFIX.pack(MAGIC, version, flags, len(header)) + header + payload
    return body + struct.pack("<I", zlib.crc32(body))


def png_bytes(pixels: np.ndarray, kind: Kind) -> int:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels.astype(bool) if kind == Kind.BINARY else pixels).save(buffer, "PNG", optimize=True)
    return len(buffer.getvalue())


def classic_archive(pixels: np.ndarray, name: str = CAMERA_NAME, kind: Kind = Kind.GREYSCALE) -> bytes:
    image = Image(name, "1" if kind == Kind.BINARY else "L", pixels, kind)
    return Archive([classic_encoding_job([image], 7, None)]).to_bytes()


def photo_like(side: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.arange(side), np.arange(side)) * 2
    return np.clip(ramp + rng.normal(0, 6, (side, side)), 0, 255).astype(np.uint8)


def test_a_classic_image_costs_its_blob_and_at_most_64_bytes():
    data = classic_archive(photo_like())
    version, flags, header, payload = stored(data)
    (codec, size), = parse(data).sections[0].blobs
    assert flags == 2 and version == max(8, NEW_CODECS.get(codec, 0))
    assert len(payload) == size  # the blob, unpadded
    assert len(data) - size <= 64, (len(data), size, len(header))


def test_the_binary_header_round_trips_its_fields():
    data = classic_archive(photo_like(), name="dir é/ünïcode.png")
    keyed, payload = unpack_archive(data)
    section = keyed["sections"][0]
    assert section["images"] == [["dir é/ünïcode.png", 48, 48, "L"]]
    assert len(section["content_sha256"]) == 16 and section["words"] == -(-len(stored(data)[3]) // 4)
    restored, = decompress_archive(parse(data), ModelSet())
    assert np.array_equal(restored.pixels, photo_like()) and restored.name == "dir é/ünïcode.png"


def test_a_model_section_header_packs_and_unpacks_exactly():
    section = {"kind": "rgb", "images": [["a.png", 300, 2, "RGBA"]], "content_sha256": "ab" * 32,
               "model": {"name": "photos-greyscale-wide-v1", "encoder": "none", "fingerprint": "cd" * 32},
               "coder": {"latents": "grid", "latent_bits": 10, "schedule": [3, 200, 70000], "initial_bits": 512,
                         "particles": 4, "refine_steps": 9, "warmup": 0, "tile_side": 128,
                         "streams": [[1, 1, 500], [2, 0, 501]]}}
    unpacked = unpack_compact(pack_compact(section, 4 * 1001))
    assert unpacked.pop(PAYLOAD_BYTES) == 4004
    assert unpacked == {"sections": [{**section, "content_sha256": "ab" * 8, "words": 1001}]}


@pytest.mark.slow
@pytest.mark.parametrize("name,pixels,kind", [
    ("white", np.ones((256, 256), np.uint8), Kind.BINARY),
    ("flat", np.full((256, 256), 128, np.uint8), Kind.GREYSCALE),
    ("digit", load_dataset("mnist10k").x_test[0], Kind.GREYSCALE),
])
def test_one_image_costs_at_most_its_png_and_64_bytes(name, pixels, kind):
    image = Image(f"{name}.png", "1" if kind == Kind.BINARY else "L", pixels, kind)
    data = compress_images([image], ModelSet()).to_bytes()
    assert stored(data)[1] == 2
    assert len(data) <= png_bytes(pixels, kind) + 64
    assert np.array_equal(decompress_archive(parse(data), ModelSet())[0].pixels, pixels)


def test_two_images_keep_the_keyed_header(tiny_models):
    grey = load_dataset("mnist10k").x_test[:2]
    images = [Image(f"{i}.png", "L", d, Kind.GREYSCALE) for i, d in enumerate(grey)]
    data = compress_images(images, ModelSet([tiny_models["greyscale"]]), CodingOptions(level=1, fallback=False)).to_bytes()
    version, flags, header, _ = stored(data)
    assert version == 1 and flags & 2 == 0


@pytest.fixture()
def digit_archive():
    image = Image("d.png", "L", load_dataset("mnist10k").x_test[0], Kind.GREYSCALE)
    return compress_images([image], ModelSet()).to_bytes()


def as_json_compact(data: bytes) -> tuple[list, bytes]:
    """A one-image archive's header as versions 4-7 wrote it (JSON, with 128 bits of the
    content checksum, which the binary header cuts to 64), and its payload."""
    keyed, payload = unpack_archive(data)
    section = keyed["sections"][0]
    section["content_sha256"] = content_sha256(Kind(section["kind"]), decompress_archive(parse(data), ModelSet()))
    return [json_compact_section(section)], payload


def test_a_json_compact_header_of_version_4_keeps_decoding(digit_archive):
    header, payload = as_json_compact(digit_archive)
    restored, = decompress_archive(parse(repack(json.dumps(header), payload, version=4)), ModelSet())
    assert np.array_equal(restored.pixels, load_dataset("mnist10k").x_test[0])


def test_a_compact_header_under_an_older_version_is_refused(digit_archive):
    header, payload = as_json_compact(digit_archive)
    with pytest.raises(ArchiveError, match="malformed"):
        parse(repack(json.dumps(header), payload, version=3))


@pytest.mark.parametrize("change", ["arity", "model-and-blobs", "short-checksum", "no-checksum"])
def test_malformed_json_compact_headers_are_refused(digit_archive, change):
    header, payload = as_json_compact(digit_archive)
    section = header[0]
    if change == "arity":
        section.append(0)
    elif change == "model-and-blobs":
        section[3] = [["png", 4]]
    elif change == "short-checksum":
        section[6] = section[6][:15]
    else:
        section[6] = None
    with pytest.raises(ArchiveError, match="malformed"):
        parse(repack(json.dumps(header), payload, version=4))


def binary_cases(header: bytes, payload: bytes) -> dict[str, tuple[bytes, bytes, int, int]]:
    """(header, payload, version, flags) each one thing off a good binary archive's."""
    name_end = 2 + len(varint(48)) * 2 + 1 + len(CAMERA_NAME)
    return {
        "version 7": (header, payload, 7, 2),
        "with LZMA": (header, payload, 8, 3),
        "unknown flag": (header, payload, 8, 6),
        "truncated": (header[:-1], payload, 8, 2),
        "trailing byte": (header + b"\0", payload, 8, 2),
        "kind code": (bytes([6]) + header[1:], payload, 8, 2),
        "mode code": (header[:1] + bytes([7]) + header[2:], payload, 8, 2),
        "codec code": (header[:-1] + bytes([99]), payload, 8, 2),
        "coded by": (header[:-2] + bytes([2]) + header[-1:], payload, 8, 2),
        "payload short": (header, payload[:-1], 8, 2),
        "payload long": (header, payload + b"\0", 8, 2),
        "bad UTF-8": (header[:name_end - 1] + b"\xff" + header[name_end:], payload, 8, 2),
        "over-long varint": (header[:2] + b"\xb0\x80\x00" + header[3:], payload, 8, 2),
    }


@pytest.mark.parametrize("case", list(binary_cases(b"", b"")))
def test_malformed_binary_headers_are_refused(case):
    _, _, header, payload = stored(classic_archive(photo_like()))
    with pytest.raises(ArchiveError):
        parse(assemble(*binary_cases(header, payload)[case]))


PLAIN_CODER = {"initial_bits": 0, "particles": 1, "refine_steps": 0, "warmup": 0, "tile_side": 28}


def test_a_model_payload_of_part_words_is_refused():
    section = {"kind": "greyscale", "images": [["a.png", 28, 28, "L"]], "content_sha256": "ab" * 32,
               "model": {"name": "m", "encoder": "none", "fingerprint": "cd" * 32},
               "coder": {"latents": "buckets", "latent_bits": 8, "schedule": [1], **PLAIN_CODER, "streams": []}}
    with pytest.raises(ArchiveError, match="whole 32-bit words"):
        parse(assemble(pack_compact(section, 6), bytes(6)))


@pytest.mark.slow
@pytest.mark.parametrize("form", ["binary", "json"])
def test_a_wrong_truncated_checksum_is_caught_after_decoding(digit_archive, form):
    if form == "json":
        header, payload = as_json_compact(digit_archive)
        header[0][6] = ("0" if header[0][6][0] != "0" else "1") + header[0][6][1:]
        archive = parse(repack(json.dumps(header), payload, version=4))
    else:
        version, flags, header, payload = stored(digit_archive)
        at = header.index(bytes.fromhex(parse(digit_archive).sections[0].content_sha256))
        archive = parse(assemble(header[:at] + bytes([header[at] ^ 1]) + header[at + 1:], payload, version, flags))
    with pytest.raises(IntegrityError):
        decompress_archive(archive, ModelSet())


def one_image_header(blob_codec: int, blob: bytes, name: str = "a") -> bytes:
    """A binary one-image header of a 3x2 greyscale image stored as ``blob``."""
    return bytes([1, 1]) + varint(3) + varint(2) + varint(len(name)) + name.encode() + bytes(8) \
        + varint(len(blob)) + bytes([0, blob_codec])


@pytest.mark.parametrize("codec", [0, 1, 2, 3])  # raw, png, webp, jxl
def test_a_junk_blob_is_a_clean_integrity_error(codec):
    blob = b"\xff\x0a\x00\x01\x02"  # a JPEG-XL codestream's signature, then junk
    archive = parse(assemble(one_image_header(codec, blob), blob))
    with pytest.raises(IntegrityError):
        decompress_archive(archive, ModelSet())


def test_coded_words_ending_in_zero_are_a_clean_integrity_error(digit_archive):
    version, flags, header, payload = stored(digit_archive)
    archive = parse(assemble(header, payload[:-4] + bytes(4), version, flags))
    with pytest.raises(IntegrityError, match="zero word"):
        decompress_archive(archive, ModelSet())


def test_more_streams_than_a_section_may_hold_are_refused_before_they_are_read():
    from bbcompress.io.compact_header import MAX_STREAMS
    section = {"kind": "greyscale", "images": [["a.png", 28, 28, "L"]], "content_sha256": "ab" * 32,
               "model": {"name": "m", "encoder": "none", "fingerprint": "cd" * 32},
               "coder": {"latents": "buckets", "latent_bits": 8, "schedule": [1] * (MAX_STREAMS + 1),
                         **PLAIN_CODER, "streams": [[1, 0, 1]] * (MAX_STREAMS + 1)}}
    with pytest.raises(ArchiveError, match="streams"):
        parse(assemble(pack_compact(section, 4 * (MAX_STREAMS + 1)), bytes(4 * (MAX_STREAMS + 1))))
