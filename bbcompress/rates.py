"""Bits per dimension of an archive's sections, read from the header alone (what ``info``
and ``compress`` print)."""
from __future__ import annotations

from dataclasses import dataclass

from .io.archive import Archive, Section
from .io.names import restored_name
from .kinds import COLOUR_TRANSFORMS


@dataclass(frozen=True)
class SectionRate:
    kind: str
    images: int
    pixels: int  # dimensions: pixels times channels
    total_bits: int
    initial_bits: int

    @property
    def bits_per_dim(self) -> float:
        return self.total_bits / self.pixels

    @property
    def net_bits_per_dim(self) -> float:
        return (self.total_bits - self.initial_bits) / self.pixels


def section_rate(section: Section) -> SectionRate:
    pixels = section_dims(section)
    if section.is_classic:
        return SectionRate(str(section.kind), len(section.images), pixels,
                           8 * sum(size for _, size in section.blobs), 0)
    return SectionRate(str(section.kind), len(section.images), pixels, 32 * len(section.words),
                       section.coder.stacks * section.coder.initial_bits)  # each stack starts from a seed


def file_bits_per_dim(archive: Archive, size_bytes: int) -> float:
    """The rate of the archive as a file: every byte (prefix, header, payload, embedded
    models, CRC) over the pixels of all its images. What a user compares with PNG."""
    return 8 * size_bytes / sum(section_dims(s) for s in archive.sections)


def section_dims(section: Section) -> int:
    """What a rate is per: pixels, times the channels of a colour or alpha kind (bits per
    sub-pixel, as the field reports colour images)."""
    return section.kind.channels * sum(e.width * e.height for e in section.images)


def archive_rates(archive: Archive) -> list[dict]:
    """One row per section: model, images, bits and bits/dim (JSON-ready)."""
    rows = []
    for section in archive.sections:
        rate = section_rate(section)
        model, encoder = ("classic", "+".join(sorted({c for c, _ in section.blobs}))) if section.is_classic \
            else (section.model.name, section.model.encoder)
        rows.append({"kind": rate.kind, "model": model, "encoder": encoder,
                     "images": rate.images, "pixels": rate.pixels, "bits": rate.total_bits,
                     "initial_bits": rate.initial_bits, "bits_per_dim": rate.bits_per_dim,
                     "net_bits_per_dim": rate.net_bits_per_dim,
                     "tile_side": None if section.is_classic else section.coder.tile_side,
                     "streams": 0 if section.is_classic else section.coder.stacks})
    return rows


def archive_info(archive: Archive) -> list[dict]:
    """``archive_rates`` with each section's files listed (what ``info`` shows)."""
    rows = archive_rates(archive)
    for row, section in zip(rows, archive.sections):
        row["files"] = [{"name": e.name, "width": e.width, "height": e.height, "mode": e.mode,
                         "restored_as": restored_name(e.name)} for e in section.images]
        if not section.is_classic and section.kind.planes > 1:  # which planes the model coded
            for entry, listed in zip(section.images, row["files"]):
                listed["planes"] = COLOUR_TRANSFORMS[entry.colour_transform].name
    return rows
