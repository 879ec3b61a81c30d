"""Images <-> .bbc archives: groups images by kind, drives the coder, checks integrity.

This is the library face of the `compress`, `decompress`, `test` and `info` commands.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .archive import Archive, ImageEntry, Section
from .checkpoint import Checkpoint
from .coder import DEFAULT_MAX_BATCH, decode_chain, encode_chain, seed_bits
from .coding_networks import bits_back_for
from .errors import BBCError, IntegrityError, ModelMismatch
from .images import BINARY, GREYSCALE, Image, from_tiles, tile_count, to_tiles
from .registry import kind_of

Progress = Callable[[int], None]  # called with the number of tiles just coded


@dataclass(frozen=True)
class CodingOptions:
    encoder: str | None = None  # None: each model's default encoder
    latents: str = "buckets"
    latent_bits: int = 8
    max_batch: int = DEFAULT_MAX_BATCH


def pixel_sha256(images: list[Image]) -> str:
    digest = hashlib.sha256()
    for image in images:
        digest.update(np.ascontiguousarray(image.pixels, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def compress_section(kind: str, images: list[Image], model_name: str, checkpoint: Checkpoint,
                     options: CodingOptions, progress: Progress | None = None) -> Section:
    if kind_of(checkpoint) != kind:
        raise BBCError(f"model {model_name} codes {kind_of(checkpoint)} images, not {kind} ones")
    tiles, masks = zip(*(to_tiles(image.pixels) for image in images))
    encoder = options.encoder or checkpoint.default_encoder
    bits_back = bits_back_for(checkpoint.vae(encoder).eval(), options.latents, options.latent_bits)
    words, schedule = encode_chain(bits_back, np.concatenate(tiles), np.concatenate(masks),
                                   options.max_batch, progress)
    model = {"name": model_name, "encoder": encoder, "fingerprint": checkpoint.fingerprint(encoder)}
    coder = {"latents": options.latents, "latent_bits": options.latent_bits, "schedule": schedule,
             "initial_bits": seed_bits(checkpoint.config.latent)}
    entries = [ImageEntry(i.name, i.pixels.shape[1], i.pixels.shape[0], i.mode) for i in images]
    return Section(kind, model, coder, entries, words, pixel_sha256(images))


def compress_images(images: list[Image], models: dict[str, tuple[str, Checkpoint]],
                    options: CodingOptions, progress: Progress | None = None) -> Archive:
    """One section per image kind present, each coded with ``models[kind]``."""
    if not images:
        raise BBCError("no images to compress")
    names = [image.name for image in images]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise BBCError(f"two inputs would be stored under the same name {duplicate!r}")
    archive = Archive()
    for kind in (BINARY, GREYSCALE):
        group = [image for image in images if image.kind == kind]
        if group:
            name, checkpoint = models[kind]
            archive.sections.append(compress_section(kind, group, name, checkpoint, options, progress))
    return archive


def decompress_section(section: Section, checkpoint: Checkpoint,
                       progress: Progress | None = None) -> list[Image]:
    encoder = section.model["encoder"]
    if encoder not in checkpoint.encoders or checkpoint.fingerprint(encoder) != section.model["fingerprint"]:
        raise ModelMismatch(f"this archive was written with model {section.model['name']!r} "
                            f"(encoder {encoder}, weights {section.model['fingerprint'][:12]}); "
                            f"the model offered has other weights: pass the right one with --model")
    bits_back = bits_back_for(checkpoint.vae(encoder).eval(), section.coder["latents"],
                              int(section.coder["latent_bits"]))
    masks = np.concatenate([to_tiles(np.ones((e.height, e.width), np.uint8))[1] for e in section.images])
    tiles = decode_chain(bits_back, section.words, masks, list(section.coder["schedule"]), progress)
    images, start = [], 0
    for entry in section.images:
        count = tile_count(entry.height, entry.width)
        pixels = from_tiles(tiles[start:start + count], entry.height, entry.width)
        images.append(Image(entry.name, entry.mode, pixels, section.kind))
        start += count
    if pixel_sha256(images) != section.pixel_sha256:
        raise IntegrityError("decoded pixels do not match the archive's checksum (a decoding "
                             "mismatch or corruption): nothing was written")
    return images


def decompress_archive(archive: Archive, resolve: Callable[[Section], Checkpoint],
                       progress: Progress | None = None) -> list[Image]:
    images = []
    for section in archive.sections:
        images.extend(decompress_section(section, resolve(section), progress))
    return images


@dataclass(frozen=True)
class SectionRate:
    kind: str
    images: int
    pixels: int
    total_bits: int
    initial_bits: int

    @property
    def bits_per_dim(self) -> float:
        return self.total_bits / self.pixels

    @property
    def net_bits_per_dim(self) -> float:
        return (self.total_bits - self.initial_bits) / self.pixels


def section_rate(section: Section) -> SectionRate:
    pixels = sum(e.width * e.height for e in section.images)
    return SectionRate(section.kind, len(section.images), pixels, 32 * len(section.words),
                       int(section.coder.get("initial_bits", 0)))
