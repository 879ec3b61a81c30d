"""The binary header of a one-image archive (format version 8, flag bit 1).

A one-image archive's header was JSON (version 4): ~95-120 bytes for a classic blob,
which put a small image's archive 113-137 bytes above its best classic encoding. The
same fields in bytes take ~20 plus the image's name. Layout (varint: unsigned LEB128,
at most 5 bytes, no redundant trailing zero groups)::

    u8      kind        (KINDS)
    u8      mode        (MODES: the Pillow mode restored)
    varint  width, varint height
    varint  name length in bytes, then the name in UTF-8
    8 B     the first 64 bits of the content SHA-256
    varint  payload bytes: exactly what follows the header, before the CRC-32
    u8      0: a classic blob, then u8 codec (CODECS); the payload is the blob, unpadded
            1: a model section, then
               varint+UTF-8 model name, varint+UTF-8 encoder, 32 B weights SHA-256,
               u8 latents (LATENTS), u8 latent bits, varint n, n varints (schedule),
               varints initial bits, particles, refine steps, warm-up, tile side,
               varint n (0: one stream), n x 3 varints (batches, warm-up, words),
               since version 10 a varint colour transform where it is not 0 (an
               image coded as planes: its index in ``kinds.COLOUR_TRANSFORMS``);
               the payload is the ANS words (a multiple of 4 bytes)

The content checksum is cut to 64 bits because the CRC-32 guards the bytes: it is there
to catch a decoder that restores other pixels, which slips past 64 bits with odds of
2^-64. The tables (and classic.CODECS) are append-only: a code keeps its meaning.
"""
from __future__ import annotations

from .classic import CODECS

KINDS = ("binary", "greyscale", "grey-alpha", "rgb", "rgba", "grey16")
MODES = ("1", "L", "LA", "RGB", "RGBA", "I;16", "I")
LATENTS = ("buckets", "grid")
CONTENT_BYTES = 8
FINGERPRINT_BYTES = 32
PAYLOAD_BYTES = "payload_bytes"  # the key under which the unpacked header says its payload size
CODER_VALUES = ("initial_bits", "particles", "refine_steps", "warmup", "tile_side")
VARINT_BYTES = 5
# The most streams a section may hold: a writer makes about as many as it has cores, and
# each stream is a decoding job (read before the streams themselves, so that a header of
# millions of them is refused at once).
MAX_STREAMS = 256


def pack_compact(section: dict, payload_bytes: int) -> bytes:
    """A one-image section header in bytes: ``Section.header()``'s keyed form, its coder
    with every value (``CoderSettings`` as a dict: the JSON form leaves defaults out)."""
    (name, width, height, mode, *transform), = section["images"]
    out = bytearray([KINDS.index(section["kind"]), MODES.index(mode)])
    out += varint(width) + varint(height) + text(name)
    out += bytes.fromhex(section["content_sha256"][:2 * CONTENT_BYTES]) + varint(payload_bytes)
    if section.get("blobs") is not None:
        (codec, _), = section["blobs"]
        return bytes(out + bytes([0, CODECS.index(codec)]))
    model, coder = section["model"], section["coder"]
    out += bytes([1]) + text(model["name"]) + text(model["encoder"]) + bytes.fromhex(model["fingerprint"])
    out += bytes([LATENTS.index(coder["latents"]), coder["latent_bits"]]) + varint(len(coder["schedule"]))
    out += b"".join(varint(n) for n in coder["schedule"])
    out += b"".join(varint(coder[key]) for key in CODER_VALUES)
    streams = coder["streams"]
    out += varint(len(streams)) + b"".join(varint(n) for stream in streams for n in stream)
    return bytes(out + b"".join(varint(t) for t in transform if t))


def unpack_compact(stored: bytes) -> dict:
    """The keyed header (``{"sections": [one section]}``) a binary one is, with the exact
    payload size under PAYLOAD_BYTES; a ValueError for any byte out of place."""
    reader = Reader(stored)
    kind, mode = reader.pick(KINDS, "kind"), reader.pick(MODES, "mode")
    width, height, name = reader.varint(), reader.varint(), reader.text()
    section = {"kind": kind, "images": [[name, width, height, mode]],
               "content_sha256": reader.take(CONTENT_BYTES).hex()}
    payload = reader.varint()
    coded_by = reader.byte()
    if coded_by == 0:
        section.update(codec="classic", blobs=[[reader.pick(CODECS, "codec"), payload]])
    elif coded_by == 1:
        section["model"] = {"name": reader.text(), "encoder": reader.text(),
                            "fingerprint": reader.take(FINGERPRINT_BYTES).hex()}
        latents, bits = reader.pick(LATENTS, "latent scheme"), reader.byte()
        schedule = [reader.varint() for _ in range(reader.count())]
        section["coder"] = {"latents": latents, "latent_bits": bits, "schedule": schedule,
                            **{key: reader.varint() for key in CODER_VALUES}}
        count = reader.count()
        if count > MAX_STREAMS:
            raise ValueError(f"{count:,} streams (at most {MAX_STREAMS})")
        streams = [[reader.varint() for _ in range(3)] for _ in range(count)]
        if streams:
            section["coder"]["streams"] = streams
        if reader.offset < len(stored):  # a colour transform (the archive's version is checked later)
            section["images"][0].append(reader.varint())
        if payload % 4:
            raise ValueError("a model section's payload is not whole 32-bit words")
    else:
        raise ValueError(f"a one-image section coded by {coded_by}, not a blob (0) or a model (1)")
    if reader.offset != len(stored):
        raise ValueError("bytes after the one-image header")
    section["words"] = -(-payload // 4)
    return {"sections": [section], PAYLOAD_BYTES: payload}


def varint(value: int) -> bytes:
    if not 0 <= value < 1 << 7 * VARINT_BYTES:
        raise ValueError(f"{value} does not fit a header varint")
    out = bytearray()
    while True:
        out.append(value & 0x7F | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def text(value: str) -> bytes:
    data = value.encode()
    return varint(len(data)) + data


class Reader:
    """Reads a binary header front to back; every overrun or odd value is a ValueError."""

    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise ValueError("the one-image header ends early")
        self.offset += size
        return self.data[self.offset - size:self.offset]

    def byte(self) -> int:
        return self.take(1)[0]

    def pick(self, table: tuple, what: str):
        code = self.byte()
        if code >= len(table):
            raise ValueError(f"unknown {what} code {code}")
        return table[code]

    def varint(self) -> int:
        value = 0
        for shift in range(0, 7 * VARINT_BYTES, 7):
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if byte == 0 and shift:
                    raise ValueError("an over-long varint")
                return value
        raise ValueError("a varint longer than 5 bytes")

    def count(self) -> int:
        """A length that cannot exceed the bytes left (each item takes at least one)."""
        count = self.varint()
        if count > len(self.data) - self.offset:
            raise ValueError("a list longer than the header")
        return count

    def text(self) -> str:
        return self.take(self.count()).decode()
