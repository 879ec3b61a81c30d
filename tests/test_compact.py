"""One-image archives: the compact header (format version 4), as small as the image's
own bits allow, and as strictly checked as the keyed header."""
from __future__ import annotations

import io
import json
import lzma

import numpy as np
import pytest
from PIL import Image as PILImage

from bbcompress.api import CodingOptions, compress_images, decompress_archive
from bbcompress.errors import ArchiveError, IntegrityError
from bbcompress.io.archive import LZMA_FILTERS, PREFIX, parse
from bbcompress.io.classic import NEW_CODECS
from bbcompress.io.images import Image
from bbcompress.kinds import Kind
from bbcompress.zoo import ModelSet
from bbcompress.training.data import load_dataset
from helpers import repack


def stored_header(data: bytes):
    _, version, flags, length = PREFIX.unpack_from(data)
    stored = data[PREFIX.size:PREFIX.size + length]
    plain = lzma.decompress(stored, format=lzma.FORMAT_RAW, filters=LZMA_FILTERS) if flags & 1 else stored
    return version, json.loads(plain), data[PREFIX.size + length:-4]


def png_bytes(pixels: np.ndarray, kind: Kind) -> int:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels.astype(bool) if kind == Kind.BINARY else pixels).save(buffer, "PNG", optimize=True)
    return len(buffer.getvalue())


@pytest.mark.slow
@pytest.mark.parametrize("name,pixels,kind", [
    ("white", np.ones((256, 256), np.uint8), Kind.BINARY),
    ("flat", np.full((256, 256), 128, np.uint8), Kind.GREYSCALE),
    ("digit", load_dataset("mnist10k").x_test[0], Kind.GREYSCALE),
])
def test_one_image_costs_at_most_its_png_and_64_bytes(name, pixels, kind):
    image = Image(f"{name}.png", "1" if kind == Kind.BINARY else "L", pixels, kind)
    data = compress_images([image], ModelSet()).to_bytes()
    version, header, _ = stored_header(data)
    blobs = parse(data).sections[0].blobs or []
    # compact (4), or 5 where a blob's codec is newer than version 4 (JPEG-XL, G4)
    assert version == max([4] + [NEW_CODECS[codec] for codec, _ in blobs if codec in NEW_CODECS])
    assert isinstance(header, list)
    assert len(data) <= png_bytes(pixels, kind) + 64
    assert np.array_equal(decompress_archive(parse(data), ModelSet())[0].pixels, pixels)


def test_two_images_keep_the_keyed_header(tiny_models):
    grey = load_dataset("mnist10k").x_test[:2]
    images = [Image(f"{i}.png", "L", d, Kind.GREYSCALE) for i, d in enumerate(grey)]
    data = compress_images(images, ModelSet([tiny_models["greyscale"]]), CodingOptions(level=1, fallback=False)).to_bytes()
    version, header, _ = stored_header(data)
    assert version == 1 and isinstance(header, dict)


@pytest.fixture()
def compact():
    image = Image("d.png", "L", load_dataset("mnist10k").x_test[0], Kind.GREYSCALE)
    return stored_header(compress_images([image], ModelSet()).to_bytes())


def test_a_compact_header_under_an_older_version_is_refused(compact):
    _, header, payload = compact
    with pytest.raises(ArchiveError, match="malformed"):
        parse(repack(json.dumps(header), payload, version=3))


@pytest.mark.parametrize("change", ["arity", "model-and-blobs", "short-checksum", "no-checksum"])
def test_malformed_compact_headers_are_refused(compact, change):
    version, header, payload = compact
    section = header[0]
    if change == "arity":
        section.append(0)
    elif change == "model-and-blobs":
        section[3] = [["png", 4]]
    elif change == "short-checksum":
        section[6] = section[6][:31]
    else:
        section[6] = None
    with pytest.raises(ArchiveError, match="malformed"):
        parse(repack(json.dumps(header), payload, version=version))


@pytest.mark.slow
def test_a_wrong_truncated_checksum_is_caught_after_decoding(compact):
    version, header, payload = compact
    header[0][6] = ("0" if header[0][6][0] != "0" else "1") + header[0][6][1:]
    archive = parse(repack(json.dumps(header), payload, version=version))
    with pytest.raises(IntegrityError):
        decompress_archive(archive, ModelSet())
