"""The .bbc container: reading and writing, no coding.

Layout (all integers little-endian)::

    offset  size  field
    0       8     magic  89 42 42 43 0D 0A 1A 0A  ("\\x89BBC\\r\\n\\x1a\\n", PNG-style)
    8       1     format version: the lowest its sections need: 1; 2 when a section uses
                  importance-sampled bits-back ("particles") or per-image refinement
                  ("refine_steps"), batches warmed up ("warmup"); 3 when a section holds
                  classic-coded images; 4 for the compact header of a one-image archive
                  (below); 5 when a section holds a kind other than binary and greyscale
                  or an image restored in a mode other than "1" and "L" (colour, alpha,
                  16-bit) or a JPEG-XL or G4 blob; 6 when a model section codes tiles larger
                  than 28x28 ("tile_side"); 7 when a model section codes colour images
                  as planes (``kinds.PLANES``) or a binary image is a 1-bit JPEG-XL
                  blob ("jxl1"); 8 for the binary header of a one-image archive
                  (flag bit 1) or a model section in several streams ("streams"); 9
                  when a large binary image is 1-bit JPEG-XL blocks ("jxl1b"); 10 when
                  a colour image's planes are other than green and the differences
                  from it (an image entry's fifth field).
                  Readers refuse versions above theirs cleanly.
    9       1     flags: bit 0 set = the header is LZMA2-compressed (raw stream, no
                  container); bit 1 set (version 8 and later, never with bit 0) = the
                  header is a one-image archive's binary header (``compact_header``);
                  other bits reserved (a reader refuses flags it does not know)
    10      4     H: length of the stored header
    14      H     header: UTF-8 JSON, see below (compressed when flag bit 0 is set)
    14+H    4*W   payload: each section's ANS words (uint32), sections in order
    end-4   4     CRC-32 of every byte before it

Header JSON: ``{"sections": [section, ...]}``; each section holds the images coded by
one model::

    {"kind": "binary" | "greyscale" | "grey-alpha" | "rgb" | "rgba" | "grey16",
     "model": {"name": str, "encoder": str, "fingerprint": sha256 hex of the weights},
     "coder": {"latents": "buckets" | "grid", "latent_bits": int, "schedule": [int, ...],
               "initial_bits": int, "particles": int, "refine_steps": int, "warmup": int
               (the last three since version 2; absent means 1, 0, 0),
               "tile_side": 64 | 128 | 256 (since version 6; absent means 28),
               "streams": [[batches, warmup, words], ...] (since version 8; absent
               means one stream: the schedule's batches, "warmup", every word)},
     "images": [[name, width, height, mode(, colour transform)], ...]  (mode: the Pillow
               mode restored; the transform, since version 10 and in rgb model sections
               only: the index of ``kinds.COLOUR_TRANSFORMS`` its planes are, absent: 0),
     "words": W_section,
     "pixel_sha256": sha256 of the decoded pixels of the section's images in order,
     "content_sha256": sha256 of the kind and of each image's name, mode, size and pixels
                       (written since 0.2; when present, readers check it too)}

A classic section holds images no model codes well, each as one blob::

    {"kind": ..., "codec": "classic", "blobs": [["raw" | "png" | "webp" | "jxl" | "g4" | "jxl1" | "jxl1b", bytes], ...],
     "images": [...], "words": W, "pixel_sha256": ..., "content_sha256": ...}

its payload is the blobs back to back, zero-padded to whole words. Only classic
sections hold the kinds no model codes (grey-alpha, rgba, grey16); a model section of
rgb images (version 7) codes each image as three greyscale planes, in order (green, then
red and blue less green, ``kinds.to_planes``; since version 10 the image's own colour
transform), their tiles image after image. Pixels of
these kinds are hashed one byte a channel, channels interleaved, 16-bit values little-endian.

A one-image archive (no embedded models) is written with a binary header since format
version 8 (``compact_header``: ~20 bytes and the name; its payload is the classic blob
unpadded). Versions 4-7 wrote it as JSON: a one-image archive of those versions is
version 4 or above and its header is the same
fields without their keys, without the pixel checksum (the content checksum covers the
pixels; from version 4 "pixel_sha256" may be absent where "content_sha256" is present),
and with the first 128 bits of the content checksum (32 hex digits; readers take any
content checksum of at least 64 bits, as the binary header keeps; the CRC-32 guards
the bytes), so that a small image costs little
more than its own bits::

    [[kind, [name, encoder, fingerprint] | null,
      [latents, latent_bits, schedule, initial_bits, particles, refine_steps, warmup(, tile_side)] | null,
      blobs | null, images, words, content_sha256]]

Writers compress the header when that makes it smaller: with thousands of small images
the names and sizes would otherwise outweigh the ANS payload. Images are cut into 28x28
tiles, or the section's ``tile_side`` (row-major per image, images in order; the padding of
edge tiles is not coded); the ANS words hold all tiles of a section, on one stack or, in
"streams", on several: stream k holds the next batches of the schedule, pushed on its
own seeded stack, and its words follow stream k - 1's. Tiles larger than
28x28 are coded whole by a model that sees no position (a wide model without learned
maps): an image within one tile is coded whole, with no seams. Readers verify the CRC before trusting any field
and the pixel checksum after decoding. Archives of version 1 stay decodable by later
versions; the compressed bytes themselves may change between versions.

Size limits, for writers and readers alike: a stored header (H) and the header it
inflates to are at most 16 MiB (MAX_HEADER), the payload at most 1 GiB (MAX_PAYLOAD).
A reader takes an input only as far as its prefix and header declare (14 + H bytes,
then the payload's 4*W and the embedded models' bytes, then the CRC) and refuses
anything after it: a huge or endless input fails after at most 14 + 16 MiB + 1 GiB + 5
bytes, one that is not an archive after its first 14.
"""
from __future__ import annotations

import json
import lzma
import struct
import sys
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ArchiveError, BBCError, OutputExists
from ..kinds import COLOUR_TRANSFORMS, Kind
from .atomic import atomic_write_bytes, check_name_fits
from .classic import CODECS as CLASSIC_CODECS, NEW_CODECS
from .compact_header import CONTENT_BYTES, MAX_STREAMS, PAYLOAD_BYTES, pack_compact, unpack_compact
from .images import MAX_PIXELS, MAX_SIDE, RESTORED_MODES, tile_count
from .names import check_unique, name_parts

MAGIC = b"\x89BBC\r\n\x1a\n"
VERSION = 10  # the newest this code reads; it writes the lowest its sections need
MODES_VERSION = 5
TILE_SIDE_VERSION = 6
PLANES_VERSION = 7
TILE_SIDES = (28, 64, 128, 256)  # a section's tile side: 28 (every version), or larger (6)
# A decoder holds a section's tiles and their masks whole: a section of large tiles or
# planes (versions 6 and 7) may hold at most this many tile pixels, so that a small
# header of many 1x1 images cannot ask for 256x256 tiles each (670k of them: 260 GB).
# Honest sections stay far inside: their images hold at most MAX_PIXELS (2^27) pixels,
# padded to tiles by 1.04x for one large photo, up to ~18x only for tiny images.
MAX_PADDED_PIXELS = 1 << 30
COMPACT_VERSION = 4
BINARY_HEADER_VERSION = 8
STREAMS_VERSION = 8
COLOUR_TRANSFORM_VERSION = 10
# JSON compact headers (versions 4-7) kept the first 128 bits of the content sha256,
# binary ones (8) keep 64 (see compact_header); readers take any header with at least 64
CONTENT_HEX_MIN = 2 * CONTENT_BYTES
MAX_PARTICLES = 256
MAX_REFINE_STEPS = 1000
PREFIX = struct.Struct("<8sBBI")
HEADER_LZMA = 0x01
HEADER_BINARY = 0x02
LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
MAX_HEADER = 1 << 24  # a header stored or inflating beyond this is refused (no memory bombs)
# The most payload an archive may carry: 8 bytes per pixel of the 2^27 it may hold (raw
# pixels take 1; the fallback stores none above that, and a model rarely takes more
# than 1) and room for embedded models (a shipped model's weights: 0.2-10 MB).
MAX_PAYLOAD = 1 << 30
HEADER_ERRORS = (ValueError, KeyError, TypeError, IndexError, RecursionError, lzma.LZMAError)
# Format rules checked before anything is allocated (bits of latent precision per scheme)
LATENT_BITS = {"buckets": range(1, 13), "grid": range(1, 11)}
OLD_MODES = {Kind.BINARY: ("1", "L"), Kind.GREYSCALE: ("L",)}  # all that versions 1-4 hold
SUFFIX = ".bbc"


def expect(value, kind: type, what: str):
    """``value`` if it is a ``kind`` (bool is not an int here), else a ValueError naming it."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{what} must be {kind.__name__}, not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class ImageEntry:
    name: str
    width: int
    height: int
    mode: str
    colour_transform: int = 0  # which of ``kinds.COLOUR_TRANSFORMS`` its planes are (version 10)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width), as an image's"""
        return self.height, self.width

    def to_json(self) -> list:
        transform = [self.colour_transform] if self.colour_transform else []
        return [self.name, self.width, self.height, self.mode] + transform

    @classmethod
    def from_json(cls, entry) -> "ImageEntry":
        if len(expect(entry, list, "an image entry")) not in (4, 5):
            raise ValueError("an image entry is not [name, width, height, mode(, colour transform)]")
        name, width, height, mode, *transform = entry
        name_parts(expect(name, str, "an image name"))
        if transform and expect(transform[0], int, "a colour transform") not in range(1, len(COLOUR_TRANSFORMS)):
            raise ValueError(f"a colour transform of {transform[0]} (1-{len(COLOUR_TRANSFORMS) - 1}; 0 is no field)")
        for side in (expect(width, int, "a width"), expect(height, int, "a height")):
            if not 1 <= side <= MAX_SIDE:
                raise ValueError(f"image size {width}x{height} out of range")
        if width * height > MAX_PIXELS:
            raise ValueError(f"image {width}x{height} is larger than {MAX_PIXELS} pixels")
        return cls(name, width, height, expect(mode, str, "a mode"), *transform)


@dataclass(frozen=True)
class ModelRef:
    """Which weights coded a section: a model name, its encoder, and their sha256."""
    name: str
    encoder: str
    fingerprint: str

    def to_json(self) -> dict:
        return {"name": self.name, "encoder": self.encoder, "fingerprint": self.fingerprint}

    @classmethod
    def from_json(cls, entry) -> "ModelRef":
        expect(entry, dict, "model")
        return cls(*(expect(entry[key], str, f"model.{key}") for key in ("name", "encoder", "fingerprint")))


@dataclass(frozen=True)
class CoderSettings:
    """How a section's latents were discretized and its images batched on the stack."""
    latents: str
    latent_bits: int
    schedule: list[int]
    initial_bits: int = 0
    particles: int = 1  # > 1: importance-sampled bits-back (format version 2)
    refine_steps: int = 0  # > 0: per-image refinement of q (format version 2)
    warmup: int = 0  # leading batches coded with plain bits-back (format version 2)
    tile_side: int = TILE_SIDES[0]  # larger: whole-image tiles (format version 6)
    # (batches, warm-up batches, words) of each stream (format version 8): the section's
    # batches in runs, each pushed on its own stack, so that processes decode them side
    # by side; () is one stream of every batch, warmed up for ``warmup`` batches
    streams: tuple[tuple[int, int, int], ...] = ()

    @property
    def extended(self) -> bool:
        return (self.particles, self.refine_steps, self.warmup) != (1, 0, 0)

    @property
    def stacks(self) -> int:
        """The ANS stacks the section's streams are pushed on, each from its own seed."""
        return max(1, len(self.streams))

    def to_json(self) -> dict:
        settings = {"latents": self.latents, "latent_bits": self.latent_bits,
                    "schedule": list(self.schedule), "initial_bits": self.initial_bits}
        if self.extended:
            settings.update(particles=self.particles, refine_steps=self.refine_steps, warmup=self.warmup)
        if self.tile_side != TILE_SIDES[0]:
            settings.update(tile_side=self.tile_side)
        if self.streams:
            settings.update(streams=[list(stream) for stream in self.streams])
        return settings

    def stream_parts(self, words: int) -> list[tuple[int, int, int, int, int]]:
        """(first batch, batches, warm-up, first word, words) of each stream of a section
        of ``words`` words."""
        streams = self.streams or ((len(self.schedule), self.warmup, words),)
        batches, starts = np.cumsum([0] + [b for b, _, _ in streams]), np.cumsum([0] + [n for _, _, n in streams])
        return [(int(batches[i]), b, w, int(starts[i]), n) for i, (b, w, n) in enumerate(streams)]

    @classmethod
    def from_json(cls, entry) -> "CoderSettings":
        expect(entry, dict, "coder")
        schedule = [expect(n, int, "a batch size") for n in expect(entry["schedule"], list, "schedule")]
        latents, bits = expect(entry["latents"], str, "coder.latents"), entry["latent_bits"]
        if latents not in LATENT_BITS or expect(bits, int, "coder.latent_bits") not in LATENT_BITS[latents]:
            raise ValueError(f"unknown latent scheme {latents!r} or precision {bits}")
        if min(schedule, default=0) < 1:
            raise ValueError("a batch of the schedule is empty")
        particles = expect(entry.get("particles", 1), int, "coder.particles")
        steps = expect(entry.get("refine_steps", 0), int, "coder.refine_steps")
        warmup = expect(entry.get("warmup", 0), int, "coder.warmup")
        side = expect(entry.get("tile_side", TILE_SIDES[0]), int, "coder.tile_side")
        if side not in TILE_SIDES:
            raise ValueError(f"a tile side of {side} (one of {', '.join(map(str, TILE_SIDES))})")
        if not (1 <= particles <= MAX_PARTICLES and 0 <= steps <= MAX_REFINE_STEPS
                and 0 <= warmup <= len(schedule)):
            raise ValueError(f"particles {particles}, refinement steps {steps} or warm-up {warmup} "
                             f"out of range")
        return cls(latents, bits, schedule, expect(entry.get("initial_bits", 0), int, "coder.initial_bits"),
                   particles, steps, warmup, side, read_streams(entry.get("streams", []), len(schedule), warmup))


@dataclass
class Section:
    """Images of one kind coded one way: by a model (``model`` and ``coder`` set) or, one
    image per blob, by classic codecs (``blobs``: (codec, bytes) per image)."""
    kind: Kind
    model: ModelRef | None
    coder: CoderSettings | None
    images: list[ImageEntry]
    words: np.ndarray
    pixel_sha256: str | None  # absent from compact headers (the content checksum covers it)
    content_sha256: str | None = None  # absent in archives written before it existed
    blobs: list[tuple[str, int]] | None = None

    @property
    def is_classic(self) -> bool:
        return self.blobs is not None

    @property
    def version(self) -> int:
        """The format version this section needs."""
        needs = [MODES_VERSION] if any(image.mode not in OLD_MODES.get(self.kind, ()) for image in self.images) else []
        if self.is_classic:
            return max(needs + [3] + [NEW_CODECS[codec] for codec, _ in self.blobs if codec in NEW_CODECS])
        if self.coder.tile_side != TILE_SIDES[0]:
            needs.append(TILE_SIDE_VERSION)
        if self.kind.planes > 1:
            needs.append(PLANES_VERSION)
        if self.coder.streams:
            needs.append(STREAMS_VERSION)
        if any(image.colour_transform for image in self.images):
            needs.append(COLOUR_TRANSFORM_VERSION)
        return max(needs + [2 if self.coder.extended else 1])

    def header(self) -> dict:
        header = {"kind": str(self.kind)}
        if self.is_classic:
            header.update(codec="classic", blobs=[list(b) for b in self.blobs])
        else:
            header.update(model=self.model.to_json(), coder=self.coder.to_json())
        header.update(images=[i.to_json() for i in self.images], words=int(len(self.words)),
                      pixel_sha256=self.pixel_sha256)
        if self.content_sha256:
            header["content_sha256"] = self.content_sha256
        return header

    def binary_header(self) -> dict:
        """``header()`` with every coder value, defaults too (``compact_header`` packs them all)."""
        header = self.header()
        if self.coder:
            header["coder"] = asdict(self.coder)
        return header

    def blob_data(self) -> list[bytes]:
        data, start, found = self.words.astype("<u4").tobytes(), 0, []
        for _, size in self.blobs:
            found.append(data[start:start + size])
            start += size
        return found

    @classmethod
    def from_header(cls, entry, words: np.ndarray, pixel_checksum_optional: bool = False) -> "Section":
        expect(entry, dict, "a section")
        kind = Kind(expect(entry["kind"], str, "kind"))
        images = [ImageEntry.from_json(e) for e in expect(entry["images"], list, "images")]
        if not images or any(i.mode not in RESTORED_MODES[kind] for i in images):
            raise ValueError(f"a {kind} section holds no images or an image of another mode")
        if any(i.colour_transform for i in images) and (kind.planes == 1 or entry.get("codec") == "classic"):
            raise ValueError("a colour transform for an image not coded as planes")
        content = entry.get("content_sha256")
        pixels = entry.get("pixel_sha256") if pixel_checksum_optional else entry["pixel_sha256"]
        checksums = (None if pixels is None else expect(pixels, str, "pixel_sha256"),
                     None if content is None else expect(content, str, "content_sha256"))
        if pixels is None and content is None:
            raise ValueError("a section without its pixel checksum needs its content checksum")
        if content is not None and len(content) < CONTENT_HEX_MIN:
            raise ValueError("the content checksum is too short")
        if entry.get("codec", "model") == "classic":
            return cls(kind, None, None, images, words, *checksums, read_blobs(entry, images, words))
        if not kind.model_kind.has_models:
            raise ValueError(f"a model section of {kind} images, which no model codes")
        coder = CoderSettings.from_json(entry["coder"])
        if sum(coder.schedule) != kind.planes * sum(tile_count(i.height, i.width, coder.tile_side) for i in images):
            raise ValueError("the batch schedule does not match the images")
        if coder.streams and sum(n for _, _, n in coder.streams) != len(words):
            raise ValueError("the streams' words are not the section's")
        if too_many_tile_pixels(kind, images, coder.tile_side):
            raise ValueError(f"the section's tiles hold more than {MAX_PADDED_PIXELS} pixels")
        return cls(kind, ModelRef.from_json(entry["model"]), coder, images, words, *checksums)


def read_streams(entry, batches: int, warmup: int) -> tuple[tuple[int, int, int], ...]:
    """A coder's streams, checked against its schedule: two to MAX_STREAMS, each of at
    least one batch, the batches all the schedule's, and the section's own warm-up then 0."""
    if len(expect(entry, list, "coder.streams")) > MAX_STREAMS:
        raise ValueError(f"{len(entry):,} streams (at most {MAX_STREAMS})")
    streams = tuple(tuple(expect(n, int, "a stream's count") for n in expect(stream, list, "a stream"))
                    for stream in entry)
    if not streams:
        return ()
    if (len(streams) < 2 or warmup or any(len(s) != 3 for s in streams) or sum(s[0] for s in streams) != batches
            or any(not (b >= 1 and 0 <= w <= b and n >= 0) for b, w, n in streams)):
        raise ValueError("the coder's streams do not match its batches")
    return streams


def too_many_tile_pixels(kind: Kind, entries: list[ImageEntry], side: int) -> bool:
    """Whether a section of large tiles or planes (versions 6, 7) asks a decoder for more
    than MAX_PADDED_PIXELS pixels of tiles (of every plane); 28x28 tiles of one plane
    are as every version has read them."""
    if side == TILE_SIDES[0] and kind.planes == 1:
        return False
    return kind.planes * side**2 * sum(tile_count(e.height, e.width, side) for e in entries) > MAX_PADDED_PIXELS


def read_blobs(entry: dict, images: list, words: np.ndarray) -> list[tuple[str, int]]:
    blobs = [(expect(c, str, "a classic codec"), expect(n, int, "a blob size"))
             for c, n in expect(entry["blobs"], list, "blobs")]
    total = sum(size for _, size in blobs)
    if (len(blobs) != len(images) or any(c not in CLASSIC_CODECS or n < 0 for c, n in blobs)
            or not 4 * len(words) - 3 <= total <= 4 * len(words)):
        raise ValueError("classic blobs do not match the images or the payload")
    return blobs


@dataclass
@dataclass(frozen=True)
class EmbeddedModel:
    """A model's card and weights carried inside the archive (``compress --embed-model``),
    so it decodes where that model is not installed; checked by its fingerprint."""
    name: str
    card: dict
    weights: bytes

    def header(self) -> dict:
        return {"name": self.name, "card": self.card, "bytes": len(self.weights)}


@dataclass
class Archive:
    sections: list[Section] = field(default_factory=list)
    models: list[EmbeddedModel] = field(default_factory=list)
    # the size of the bytes it was parsed from (a file or standard input), for the rate
    # info prints; None for an archive built in memory
    stored_bytes: int | None = field(default=None, compare=False)

    @property
    def is_compact(self) -> bool:
        """One image and no embedded models: the compact header (format version 4)."""
        return self.image_count == 1 and not self.models and all(s.content_sha256 for s in self.sections)

    def to_bytes(self) -> bytes:
        payload = b"".join(s.words.astype("<u4").tobytes() for s in self.sections)
        if self.is_compact:
            section, = self.sections
            payload = payload[:sum(size for _, size in section.blobs)] if section.is_classic else payload
            header, flags = pack_compact(section.binary_header(), len(payload)), HEADER_BINARY
        else:
            header, flags = self.keyed_header()
        payload += b"".join(m.weights for m in self.models)
        if len(payload) > MAX_PAYLOAD:
            raise BBCError(f"the archive would carry {len(payload):,} bytes of payload, more than the "
                           f"{MAX_PAYLOAD:,} readers accept: compress these images into several archives")
        version = max([s.version for s in self.sections] + [3 if self.models else 1]
                      + [BINARY_HEADER_VERSION if self.is_compact else 1])
        body = PREFIX.pack(MAGIC, version, flags, len(header)) + header + payload
        return body + struct.pack("<I", zlib.crc32(body))

    def keyed_header(self) -> tuple[bytes, int]:
        """(stored header, flags): the JSON header, LZMA-compressed where that is smaller."""
        fields = {"sections": [s.header() for s in self.sections]}
        if self.models:
            fields["models"] = [m.header() for m in self.models]
        plain = json.dumps(fields, separators=(",", ":")).encode()
        packed = lzma.compress(plain, format=lzma.FORMAT_RAW, filters=header_filters(len(plain)))
        return (packed, HEADER_LZMA) if len(packed) < len(plain) else (plain, 0)

    @property
    def image_count(self) -> int:
        return sum(len(s.images) for s in self.sections)


def header_filters(size: int) -> list[dict]:
    """LZMA_FILTERS with a dictionary no larger than the header needs: the same stream (a
    dictionary that holds the whole input finds the same matches), without preset 9's
    64 MiB dictionary, whose set-up alone took 0.3 s of a one-image compress. The reader
    inflates with LZMA_FILTERS, whose dictionary is larger."""
    return [{**LZMA_FILTERS[0], "dict_size": max(4096, 1 << max(size - 1, 1).bit_length())}]


def parse(data: bytes, source: str = "archive") -> Archive:
    """Parse and verify an archive; every failure is an ArchiveError naming the cause."""
    if len(data) < PREFIX.size + 4 or not data.startswith(MAGIC):
        if data[: len(MAGIC)] == MAGIC[: len(data)]:
            raise ArchiveError(f"{source}: truncated archive")
        raise ArchiveError(f"{source}: not a bbcompress archive (wrong magic bytes)")
    body, (crc,) = data[:-4], struct.unpack("<I", data[-4:])
    if zlib.crc32(body) != crc:
        raise ArchiveError(f"{source}: archive is corrupted or truncated (CRC-32 mismatch)")
    _, version, flags, header_len = PREFIX.unpack_from(body)
    check_prefix(version, flags, header_len, source)
    if len(body) - PREFIX.size - header_len > MAX_PAYLOAD:
        raise ArchiveError(f"{source}: a payload over {MAX_PAYLOAD:,} bytes, more than any archive holds")
    try:
        header = decode_header(body[PREFIX.size:PREFIX.size + header_len], version, flags)
        payload = body[PREFIX.size + header_len:]
        if flags & HEADER_BINARY:  # an unpadded blob: its section reads whole words
            if len(payload) != header[PAYLOAD_BYTES]:
                raise ValueError("the payload is not as long as the header says")
            payload += bytes(-len(payload) % 4)
        sections, rest = read_sections(header, payload, version >= COMPACT_VERSION)
        models = read_models(header, rest)
        if any(s.version > version for s in sections) or (models and version < 3):
            raise ValueError(f"a section needs a format version above {version}")
        return Archive(sections, models, len(data))
    except HEADER_ERRORS as e:
        raise ArchiveError(f"{source}: malformed archive header ({e})") from None


def check_prefix(version: int, flags: int, header_len: int, source: str) -> None:
    """Refuse a prefix no archive this code reads starts with."""
    if version > VERSION:
        raise ArchiveError(f"{source}: format version {version} is newer than this bbcompress "
                           f"reads ({VERSION}); upgrade bbcompress")
    binary_ok = version >= BINARY_HEADER_VERSION and not flags & HEADER_LZMA
    if version < 1 or flags & ~(HEADER_LZMA | HEADER_BINARY) or (flags & HEADER_BINARY and not binary_ok):
        raise ArchiveError(f"{source}: unsupported format version {version} / flags {flags:#04x}")
    if header_len > MAX_HEADER:
        raise ArchiveError(f"{source}: archive is corrupted or not one: a header of {header_len:,} "
                           f"bytes (at most {MAX_HEADER:,})")


def decode_header(stored: bytes, version: int, flags: int):
    """The header as JSON values, a compact header in the keyed form (a binary one with
    its exact payload size under PAYLOAD_BYTES, which no JSON header may hold)."""
    if flags & HEADER_BINARY:
        return unpack_compact(stored)
    header = json.loads(inflate_header(stored) if flags & HEADER_LZMA else stored)
    if isinstance(header, dict) and PAYLOAD_BYTES in header:
        raise ValueError(f"a JSON header with {PAYLOAD_BYTES!r}")
    return expand_compact(header) if isinstance(header, list) and version >= COMPACT_VERSION else header


CODER_FIELDS = ("latents", "latent_bits", "schedule", "initial_bits", "particles", "refine_steps", "warmup",
                "tile_side")
MODEL_FIELDS = ("name", "encoder", "fingerprint")


def expand_compact(header: list) -> dict:
    """A compact header as the keyed one, for the same checks; the layout is strict."""
    sections = []
    for entry in header:
        kind, model, coder, blobs, images, words, content = expect(entry, list, "a compact section")
        section = {"kind": kind, "images": images, "words": words, "content_sha256": content}
        if blobs is None:
            section["model"] = dict(zip(MODEL_FIELDS, expect(model, list, "model"), strict=True))
            values = expect(coder, list, "coder")
            if len(values) not in (len(CODER_FIELDS) - 1, len(CODER_FIELDS)):
                raise ValueError("a compact coder holds 7 or 8 values")
            section["coder"] = dict(zip(CODER_FIELDS, values))
        elif model is None and coder is None:
            section.update(codec="classic", blobs=blobs)
        else:
            raise ValueError("a compact section is coded by a model or holds blobs, not both")
        sections.append(section)
    return {"sections": sections}


def inflate_header(stored: bytes) -> bytes:
    inflater = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)
    header = inflater.decompress(stored, max_length=MAX_HEADER)
    if not inflater.eof:
        raise ValueError("compressed header is truncated or too large")
    return header


def read_sections(header: dict, payload: bytes, pixel_checksum_optional: bool = False) -> tuple[list[Section], bytes]:
    """The sections, and the payload they leave (the embedded models')."""
    sections, offset = [], 0
    for entry in expect(expect(header, dict, "the header")["sections"], list, "sections"):
        count = expect(expect(entry, dict, "a section")["words"], int, "words")
        chunk = payload[offset:offset + 4 * count]
        if count < 0 or len(chunk) != 4 * count:
            raise ValueError("payload shorter than the header says")
        offset += 4 * count
        words = np.frombuffer(chunk, dtype="<u4").astype(np.uint32)
        sections.append(Section.from_header(entry, words, pixel_checksum_optional))
    entries = [e for s in sections for e in s.images]
    if sum(e.width * e.height for e in entries) > MAX_PIXELS:
        raise ValueError(f"the archive holds more than {MAX_PIXELS} pixels")
    check_unique([e.name for e in entries])
    return sections, payload[offset:]


def read_models(header: dict, payload: bytes) -> list[EmbeddedModel]:
    """The embedded models, which take the rest of the payload exactly."""
    models, offset = [], 0
    for entry in expect(header.get("models", []), list, "models"):
        expect(entry, dict, "an embedded model")
        size = expect(entry["bytes"], int, "an embedded model's size")
        if not 0 <= size <= len(payload) - offset:
            raise ValueError("payload shorter than the header says")
        models.append(EmbeddedModel(expect(entry["name"], str, "a model name"),
                                    expect(entry["card"], dict, "a model card"), payload[offset:offset + size]))
        offset += size
    if offset != len(payload):
        raise ValueError("payload longer than the header says")
    return models


def read_archive(path: str | Path) -> Archive:
    """Read and parse an archive file; ``-`` reads standard input."""
    source = "<stdin>" if str(path) == "-" else str(path)
    try:
        if str(path) == "-":
            data = read_declared(sys.stdin.buffer, source)
        else:
            with open(path, "rb") as stream:
                data = read_declared(stream, source)
    except OSError as e:
        raise ArchiveError(f"{path}: cannot read ({e.strerror})") from None
    return parse(data, source)


def read_declared(stream, source: str) -> bytes:
    """An archive's bytes, read only as far as its prefix and header declare (see the
    module docstring); what ends early is left to ``parse`` to name."""
    data = read_up_to(stream, PREFIX.size)
    if len(data) < PREFIX.size or not data.startswith(MAGIC):
        return data
    _, version, flags, header_len = PREFIX.unpack(data)
    check_prefix(version, flags, header_len, source)
    data += read_up_to(stream, header_len)
    if len(data) < PREFIX.size + header_len:
        return data
    try:
        payload = declared_payload(decode_header(data[PREFIX.size:], version, flags))
    except HEADER_ERRORS as e:
        raise ArchiveError(f"{source}: archive is corrupted or its header malformed ({e})") from None
    if payload > MAX_PAYLOAD:
        raise ArchiveError(f"{source}: archive is corrupted or not one: its header declares {payload:,} "
                           f"bytes of payload (at most {MAX_PAYLOAD:,})")
    data += read_up_to(stream, payload + 4)
    if len(data) == PREFIX.size + header_len + payload + 4 and stream.read(1):
        raise ArchiveError(f"{source}: archive is corrupted: more bytes follow the {len(data):,} its header declares")
    return data


def declared_payload(header) -> int:
    """The payload bytes a header says follow it: its sections' words, its embedded models."""
    if PAYLOAD_BYTES in expect(header, dict, "the header"):  # a binary one-image header says it exactly
        return header[PAYLOAD_BYTES]
    sections = expect(header["sections"], list, "sections")
    sizes = [4 * expect(expect(s, dict, "a section")["words"], int, "words") for s in sections]
    sizes += [expect(expect(m, dict, "an embedded model")["bytes"], int, "an embedded model's size")
              for m in expect(header.get("models", []), list, "models")]
    if min(sizes, default=0) < 0:
        raise ValueError("a negative size")
    return sum(sizes)


def read_up_to(stream, size: int, chunk: int = 1 << 24) -> bytes:
    """``size`` bytes, fewer where the input ends; read in chunks, so that memory grows
    with what arrives, not with what a header declares."""
    parts = []
    while size > 0 and (part := stream.read(min(size, chunk))):
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def check_writable(path: str | Path, force: bool = False) -> Path:
    """Fail early (before any coding) when ``path`` cannot be written without ``force``."""
    path = Path(path)
    check_name_fits(path)
    if not path.parent.is_dir():
        raise BBCError(f"cannot write {path}: {path.parent} is not a folder")
    if path.is_dir():
        raise BBCError(f"{path} is a directory")
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputExists(f"{path} already exists")
    return path


def write_archive(path: str | Path, archive: Archive, force: bool = False) -> int:
    """Write atomically; an existing file needs ``force``, even if it appears while this
    runs. Returns the size in bytes."""
    path = check_writable(path, force)
    data = archive.to_bytes()
    atomic_write_bytes(path, data, force)
    return len(data)
