"""Archive sections: a group of images of one kind coded by one model on one stack (or
stored by classic codecs), and back, verified against the section's checksums.

A model's coding is built in one way on both sides: from ``CodingSettings``, which the
writer derives from its options and records in the section's header, and the reader
takes from that header.
"""
from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np

from .checkpoint import Checkpoint
from .codec.bits_back import Coding, CodingSettings, Progress, batch_limit, pop_batches, push_batches
from .codec.core import seed_bits
from .errors import BBCError, IntegrityError, ModelMismatch
from .io.archive import (MAX_PADDED_PIXELS, TILE_SIDES, CoderSettings, ImageEntry, ModelRef, Section,
                         too_many_tile_pixels)
from .io.checksums import content_sha256, pixel_sha256
from .io.classic import decode as classic_decode
from .io.images import TILE_SIDE, Image, from_tiles, tile_count, to_tiles
from .kinds import from_planes, to_planes
from .workers import Task
from .zoo import OPT_IN_LEVEL

Classic = tuple[Image, str, bytes]  # image, classic codec, its bytes

# Decoding work, in tile passes (one tile through a model's networks once: each particle
# and refinement step is a pass), is bounded by what the payload can hold, so that a
# 300-byte header cannot ask for 171,396 tiles at 8 particles and 50 steps (26-150 CPU
# hours). Honest archives stay far inside the bound: the cheapest tiles measured (blank
# ones, shipped models, levels 1-9) cost 24-35 bits each, so a tile of 408 passes (level
# 9) brings 0.75+ words, 1,500+ passes' worth; every archive of at most one pass a tile
# (any local model, level 1) fits in FREE_WORK whatever its size: the most a tiny
# archive can ask is what the largest archive of the default models takes (an hour for
# greyscale, minutes for binary). Compress refuses what decoders would.
FREE_WORK = 1 << 18  # passes any archive may ask: 171,396 tiles and their batches fit
WORK_PER_WORD = 2048  # passes each payload word (32 bits) may add
# A batch costs more than its tiles: numpy calls for the whole batch (an mlp's batch of
# one at level 1: 4 ms, ~30 tiles' passes) and, decoded pixel by pixel through a causal
# head, 784 raster steps whatever its size (0.14 s binary, 1.1-1.2 s greyscale and conv:
# 45-100 of the same model's tiles).
BATCH_WORK = 32
RASTER_BATCH_WORK = 64


def coding_of(checkpoint: Checkpoint, settings: CodingSettings) -> Coding:
    """The model's coding, by its family."""
    return checkpoint.config.spec.coding(checkpoint, settings)


# A batch of tiles of side s decodes in s + slope (s - 1) sequential steps (the model's
# wavefront: slope 15 for the window above, 4 for a cone), however many tiles it holds,
# and with few pixels a step the per-step overhead dominates. Measured with ``python -m
# benchmarks.whole`` (one thread, loaded machine; benchmarks/results/whole-*.md): a
# window-above model (2 epochs on photos-64) decoded a 1024x1024 photo in tiles of 28 /
# 64 / 128 / 256 at 12.5 / 13 / 20 / 27 s/MP; a cone the 1024x1024 photo at 15.8 / 13.9 / 12.3 / 17.2 s/MP (2 epochs) and one
# 256x256 crop at 26 / 31 / 45 / 90 (4 epochs), for 2.3% / 3.0% / 3.3% fewer bits than
# tiles of 28 on six such crops. So the default levels take the largest tile of at most
# TILE_STEPS steps (the window above: 64, 1,009 steps; a cone: 128, 636), the top any.
TILE_STEPS = 1010
TILE_STEPS_OF_LEVEL = {level: TILE_STEPS if level < OPT_IN_LEVEL else None for level in range(1, 10)}


def tile_side_of(height: int, width: int, coding: Coding, max_steps: int | None = None) -> int:
    """The side of the tiles an image is coded in: 28; or, by a model that codes whole
    images (it sees no position), the smallest side of ``TILE_SIDES`` that holds it
    among those it decodes in at most ``max_steps`` steps (None: any), so the image is
    coded whole; a larger or a narrow image (its shorter side under a quarter of its
    longer) in the smallest that holds its shorter side, at most the largest allowed (a
    strip of 1 x 256 in one tile of 256 would be 99.6% padding, and take 4,081 steps
    instead of 433)."""
    if not getattr(coding, "whole_images", False):
        return TILE_SIDE
    sides = [side for side in TILE_SIDES
             if side == TILE_SIDE or max_steps is None or coding.tile_steps(side) <= max_steps]
    longest, shortest = max(height, width), min(height, width)
    fits = longest if longest <= sides[-1] and 4 * shortest >= longest else shortest
    return next((side for side in sides if side >= fits), sides[-1])


def tiled(coding: Coding, side: int, model_name: str = "this model") -> Coding:
    """``coding`` for tiles of ``side`` (28: itself)."""
    if side == TILE_SIDE:
        return coding
    if not getattr(coding, "whole_images", False):
        raise ModelMismatch(f"this section codes {side}x{side} tiles, which {model_name} cannot: "
                            f"it codes 28x28 tiles only")
    return coding.for_tiles(side)


def in_tile_units(report: Progress | None, units: int, tiles: int) -> Progress | None:
    """Progress in ``tiles`` (large ones) reported as ``units`` (28x28 tiles), the same total."""
    if report is None or units == tiles:
        return report
    done = [0, 0]  # tiles done, units reported

    def step(count: int) -> None:
        done[0] += count
        reached = units * done[0] // tiles
        report(reached - done[1])
        done[1] = reached
    return step


def recorded_settings(section: Section) -> CodingSettings:
    """The settings a model section was coded with, as its header records them."""
    coder = section.coder
    return CodingSettings(section.model.encoder, coder.latents, coder.latent_bits, coder.particles,
                          coder.refine_steps)


def image_entries(images: list[Image], planes: bool = True) -> list[ImageEntry]:
    """The header's entries of ``images``; with their colour transforms if coded as ``planes``."""
    return [ImageEntry(i.name, i.size[1], i.size[0], i.mode, i.colour_transform if planes and i.kind.planes > 1 else 0)
            for i in images]


def model_section(images: list[Image], model_name: str, checkpoint: Checkpoint, coding: Coding,
                  settings: CodingSettings, max_batch: int | None = None,
                  progress: Progress | None = None, tile_steps: int | None = None) -> Section:
    """``images`` (all of one kind) coded by ``coding``, built from ``checkpoint`` and
    ``settings``, as one section on one stack, in this process."""
    task = model_section_task(images, model_name, checkpoint, coding, settings, max_batch, tile_steps)
    return task.join([job(progress) for job in task.jobs])


def model_section_task(images: list[Image], model_name: str, checkpoint: Checkpoint, coding: Coding,
                       settings: CodingSettings, max_batch: int | None = None, tile_steps: int | None = None,
                       streams: int = 1) -> Task[Section]:
    """``images`` (all of one kind) coded by ``coding``, built from ``checkpoint`` and
    ``settings``, as one section (images of a kind its model codes as planes: their
    planes, each image's in order), its tiles in ``streams`` runs of about equal length,
    each a job that pushes it on its own stack (as many as there are tiles at most)."""
    kind = images[0].kind
    if checkpoint.config.kind != kind.model_kind:
        raise BBCError(f"model {model_name} codes {checkpoint.config.kind} images, not {kind} ones")
    side = max(tile_side_of(*image.size, coding, tile_steps) for image in images)
    if too_many_tile_pixels(kind, image_entries(images), side):
        raise BBCError(f"these {len(images):,} images take more than {MAX_PADDED_PIXELS:,} pixels of "
                       f"{side}x{side} tiles, more than a decoder takes: put them in several archives")
    coding = tiled(coding, side, model_name)
    batch = min(max_batch or coding.max_batch, batch_limit(coding))  # large tiles: fewer a batch
    count = kind.planes * sum(tile_count(*image.size, side) for image in images)
    streams = min(streams, count)  # ``stream_count`` counts 28x28 tiles: fewer of 256 may hold them
    cuts = [count * k // streams for k in range(streams + 1)]
    jobs = [partial(push_stream, images, side, coding, batch, start, stop, share(tile_total(images), start, stop, count))
            for start, stop in zip(cuts, cuts[1:])]
    model = ModelRef(model_name, settings.encoder, checkpoint.fingerprint(settings.encoder))
    return Task(jobs, partial(pushed_section, images, count, model, CoderSettings(
        settings.latents, settings.latent_bits, [], seed_bits(coding.pops_per_image(warm=True)), coding.particles,
        coding.refine_steps, 0, side)))


def share(units: int, start: int, stop: int, count: int) -> int:
    """The progress units (28x28 tiles) of tiles ``start`` to ``stop`` of ``count``."""
    return units * stop // count - units * start // count


def section_tiles(images: list[Image], side: int) -> tuple[np.ndarray, np.ndarray]:
    """(tiles, masks) of ``images`` in a section's order: each image's planes in turn."""
    tiles, masks = zip(*(to_tiles(plane, side) for image in images
                         for plane in to_planes(image.pixels, image.kind, image.colour_transform)))
    return np.concatenate(tiles), np.concatenate(masks)


def push_stream(images: list[Image], side: int, coding: Coding, batch: int, start: int, stop: int, units: int,
                progress: Progress | None = None) -> tuple[np.ndarray, list[int], int]:
    """Tiles ``start`` to ``stop`` of a section pushed on a stack of their own:
    (words, batch sizes, warm-up batches). Only the images that hold them are tiled."""
    counts = np.array([image.kind.planes * tile_count(*image.size, side) for image in images])
    ends = np.cumsum(counts)
    first, last = int(np.searchsorted(ends, start, "right")), int(np.searchsorted(ends, stop, "left"))
    offset = int(ends[first] - counts[first])  # the section's index of the first image's first tile
    tiles, masks = section_tiles(images[first:last + 1], side)
    return push_batches(coding, tiles[start - offset:stop - offset], masks[start - offset:stop - offset], batch,
                        in_tile_units(progress, units, stop - start))


def pushed_section(images: list[Image], count: int, model: ModelRef, coder: CoderSettings,
                   streams: list[tuple[np.ndarray, list[int], int]]) -> Section:
    """The section of ``images`` (``count`` tiles) whose streams were pushed as ``streams``."""
    schedule = [size for _, sizes, _ in streams for size in sizes]
    if sum(schedule) != count:
        raise BBCError("the streams do not hold every tile of the section")  # a writer's bug, never written
    parts = tuple((len(sizes), warmup, len(words)) for words, sizes, warmup in streams) if len(streams) > 1 else ()
    coder = replace(coder, schedule=schedule, warmup=0 if parts else streams[0][2], streams=parts)
    kind = images[0].kind
    return Section(kind, model, coder, image_entries(images), np.concatenate([words for words, _, _ in streams]),
                   pixel_sha256(images), content_sha256(kind, images))


def tile_total(images) -> int:
    """28x28 tiles of ``images`` (or of image entries): the unit of progress and work."""
    return sum(tile_count(*image.size) for image in images)


def check_batch(model_name: str, coding: Coding, max_batch: int | None) -> None:
    """Refuse, before coding, batches larger than a decoder takes (``batch_limit``)."""
    if max_batch and max_batch > batch_limit(coding):
        raise BBCError(f"--batch {max_batch}: model {model_name} at this level decodes at most "
                       f"{batch_limit(coding):,} images a batch")


def classic_section(chosen: list[Classic]) -> Section:
    images = [image for image, _, _ in chosen]
    payload = b"".join(data for *_, data in chosen)
    words = np.frombuffer(payload + b"\0" * (-len(payload) % 4), dtype="<u4").astype(np.uint32)
    return Section(images[0].kind, None, None, image_entries(images, planes=False), words, pixel_sha256(images),
                   content_sha256(images[0].kind, images), [(c, len(d)) for _, c, d in chosen])


def verified(section: Section, images: list[Image]) -> list[Image]:
    if (section.pixel_sha256 is not None and pixel_sha256(images) != section.pixel_sha256) or (
            section.content_sha256 and not content_sha256(section.kind, images).startswith(section.content_sha256)):
        raise IntegrityError("decoded pixels do not match the archive's checksum (a decoding "
                             "mismatch or corruption): nothing was written")
    return images


def classic_images(section: Section) -> list[Image]:
    """A classic section's images, verified."""
    images = []
    for entry, (codec, _), data in zip(section.images, section.blobs, section.blob_data()):
        try:
            pixels = classic_decode(codec, data, section.kind, entry.width, entry.height)
        except (ValueError, OSError, SyntaxError) as e:
            raise IntegrityError(f"a classic-coded image does not decode ({e})") from None
        images.append(Image(entry.name, entry.mode, pixels, section.kind))
    return verified(section, images)


def decoding_work(section: Section, checkpoint: Checkpoint | None) -> int:
    """Tile passes decoding ``section`` takes (see FREE_WORK); a classic section none."""
    if section.is_classic:
        return 0
    coder = section.coder
    passes = coder.particles * (1 + coder.refine_steps)
    per_batch = passes + (RASTER_BATCH_WORK if checkpoint.config.has_head else BATCH_WORK)
    side = coder.tile_side  # a large tile: the 28x28 tiles of its pixels, and ~side / 28 x the steps
    pixels, steps = -(-side**2 // TILE_SIDE**2), -(-side // TILE_SIDE)
    return sum(coder.schedule) * passes * pixels + len(coder.schedule) * per_batch * steps


def work_over_bound(sections: list[Section], checkpoints: list[Checkpoint | None]) -> str | None:
    """Why decoding ``sections`` (by ``checkpoints``, None for classic ones) asks more
    work than their payload justifies; None when it does not."""
    work = sum(decoding_work(s, c) for s, c in zip(sections, checkpoints))
    words = sum(len(s.words) for s in sections)
    limit = FREE_WORK + WORK_PER_WORD * words
    if work <= limit:
        return None
    return (f"decoding takes {work:,} tile passes (tiles x particles x refinement steps, and "
            f"batches), more than {4 * words:,} bytes of coded data may ask ({limit:,})")


def check_model(section: Section, checkpoint: Checkpoint) -> None:
    """Refuse a model other than the one the section was written with."""
    encoder = section.model.encoder
    if checkpoint.config.kind != section.kind.model_kind:
        raise ModelMismatch(f"a {section.kind} section cannot be decoded by a model of "
                            f"{checkpoint.config.kind} images")
    if not checkpoint.has_encoder(encoder) or checkpoint.fingerprint(encoder) != section.model.fingerprint:
        raise ModelMismatch(f"this archive was written with model {section.model.name!r} "
                            f"(encoder {encoder}, weights {section.model.fingerprint[:12]}); "
                            f"the model offered has other weights")


def model_images(section: Section, checkpoint: Checkpoint, progress: Progress | None = None) -> list[Image]:
    """A model section's images, verified against its checksums, decoded in this process."""
    task = model_images_task(section, checkpoint)
    return task.join([job(progress) for job in task.jobs])


def model_images_task(section: Section, checkpoint: Checkpoint) -> Task[list[Image]]:
    """A model section's images, verified against its checksums: a job for each of its
    streams, then one that joins their tiles."""
    check_model(section, checkpoint)
    coding = tiled(coding_of(checkpoint, recorded_settings(section)), section.coder.tile_side,
                   f"model {section.model.name!r}")
    masks = np.concatenate([to_tiles(np.ones((e.height, e.width), np.uint8), section.coder.tile_side)[1]
                            for e in section.images for _ in range(section.kind.planes)])
    ends = np.cumsum([0] + section.coder.schedule)
    count, units = int(ends[-1]), tile_total(section.images)
    jobs = [partial(pop_stream, coding, masks[ends[first]:ends[first + batches]],
                    section.coder.schedule[first:first + batches], warmup, section.words[start:start + words],
                    share(units, int(ends[first]), int(ends[first + batches]), count))
            for first, batches, warmup, start, words in section.coder.stream_parts(len(section.words))]
    return Task(jobs, partial(joined_images, section))


def pop_stream(coding: Coding, masks: np.ndarray, schedule: list[int], warmup: int, words: np.ndarray,
               units: int, progress: Progress | None = None) -> np.ndarray:
    """The tiles of a section's stream: its batches (``schedule``) of tiles (``masks``)."""
    return pop_batches(coding, words, masks, schedule, warmup, in_tile_units(progress, units, len(masks)))


def joined_images(section: Section, streams: list[np.ndarray]) -> list[Image]:
    """A section's images from its streams' tiles, verified."""
    side, kind, tiles = section.coder.tile_side, section.kind, np.concatenate(streams)
    images, start = [], 0
    for entry in section.images:
        count = tile_count(entry.height, entry.width, side)
        planes = [from_tiles(tiles[start + i * count:start + (i + 1) * count], entry.height, entry.width, side)
                  for i in range(kind.planes)]
        pixels = from_planes(planes, kind, entry.colour_transform)
        images.append(Image(entry.name, entry.mode, pixels, kind, colour_transform=entry.colour_transform))
        start += count * kind.planes
    return verified(section, images)
