"""The library's pipeline: images <-> .bbc archives (compress, decompress, test, info).

Images are grouped by kind; each group is cut into 28x28 tiles, coded by one model's
bits-back codec on one stack, and stored as one archive section with the model's
fingerprint and a SHA-256 of its pixels. The CLI, the demo, the benchmarks and the
tests all go through these functions. No torch: the coder runs on numpy arrays.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from .codec.bits_back import pop_batches, push_batches
from .codec.core import seed_bits
from .errors import BBCError, IntegrityError, ModelMismatch, OutputExists
from .io.archive import Archive, CoderSettings, EmbeddedModel, ImageEntry, ModelRef, Section, parse
from .choice import Classic, plan
from .io.classic import decode as classic_decode
from .io.images import MAX_PIXELS, Image, from_tiles, tile_count, to_tiles
from .io.names import check_storable, restored_name
from .io.paths import expand_inputs, output_path, read_inputs, refuse_unsafe_target, restore_image
from .kinds import Kind
from .model.checkpoint import Checkpoint
from .model.codings import Coding, coding_of
from .model.local_coding import LocalCoding
from .model.zoo import ModelSet
from .parallel import run_jobs

Progress = Callable[[int], None]  # called with the number of tiles just coded


# Compression level -> (importance-sampled particles, per-image refinement steps); level 1
# is plain bits-back. Refinement buys more per second than particles (300 digits, one
# core: 10 steps -3.1% binary / -3.5% greyscale at 1/5 and 1/8 of level 1's speed; 4
# particles -2.2% / -0.7% at 1/2 and 1/4), so the ladder climbs by steps and adds
# particles at the top. Rates and speeds of each level: benchmarks/results/levels.md.
LEVELS = {1: (1, 0), 2: (1, 3), 3: (1, 5), 4: (1, 10), 5: (1, 15), 6: (1, 20), 7: (1, 30),
          8: (4, 30), 9: (8, 50)}
# The default: the first refinement steps give the most per second; level 4 keeps
# hundreds of 28x28 images per second each way on one core.
DEFAULT_LEVEL = 4
# A conv VAE has no exact backward pass to refine with: its levels add particles only.
# Each particle costs a decoder and a head pass per image on both sides; the gains
# shrink with each doubling (validation IWAE-K of the conv model: K = 2, 4, 8, 16 gain
# 0.005, 0.009, 0.011, 0.013 bits/dim over the ELBO), so the default level takes 2.
CONV_PARTICLES = {1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 4, 7: 6, 8: 8, 9: 16}


def level_settings(config, level: int) -> tuple[int, int]:
    """(particles, refinement steps) of a compression level for a model's family (a
    local model has no latent: every level codes it the same way)."""
    if config.family == "conv":
        return CONV_PARTICLES[level], 0
    return LEVELS[level] if config.family == "mlp" else (1, 0)


@dataclass(frozen=True)
class CodingOptions:
    encoder: str | None = None  # None: each model's default encoder
    latents: str = "buckets"
    latent_bits: int = 8
    max_batch: int | None = None  # None: the model's own (DEFAULT_MAX_BATCH for the MLP family)
    level: int = DEFAULT_LEVEL  # 1 (fastest) .. 9 (smallest): see LEVELS
    fallback: bool = True  # images a classic codec stores smaller go to a classic section
    embed_models: bool = False  # carry the weights of every model used inside the archive
    threads: int = 1  # chains coded side by side (processes); the archive depends on it

    def __post_init__(self):
        if self.level not in LEVELS:
            raise BBCError(f"level {self.level} is not one of {min(LEVELS)}..{max(LEVELS)}")


def pixel_sha256(images: list[Image]) -> str:
    digest = hashlib.sha256()
    for image in images:
        digest.update(np.ascontiguousarray(image.pixels, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def content_sha256(kind: Kind, images: list[Image]) -> str:
    """Covers everything a restored file depends on, so no header field can change it unnoticed."""
    digest = hashlib.sha256(f"{kind}\n".encode())
    for image in images:
        height, width = image.pixels.shape
        digest.update(f"{len(image.name)}:{image.name}|{image.mode}|{width}x{height}|".encode())
        digest.update(np.ascontiguousarray(image.pixels, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def tile_total(images: list[Image]) -> int:
    return sum(tile_count(*image.pixels.shape) for image in images)


def encoder_for(checkpoint: Checkpoint, options: CodingOptions) -> str:
    """The encoder asked for, else the card's; "none" for a model without a latent."""
    return options.encoder or checkpoint.default_encoder if checkpoint.config.has_latent else "none"


def coding_for(checkpoint: Checkpoint, options: CodingOptions) -> Coding:
    return coding_of(checkpoint, encoder_for(checkpoint, options), options.latents,
                     options.latent_bits, *level_settings(checkpoint.config, options.level))


def compress_section(images: list[Image], model_name: str, checkpoint: Checkpoint,
                     options: CodingOptions = CodingOptions(), progress: Progress | None = None,
                     coding: Coding | None = None) -> Section:
    """One section: ``images`` (all of one kind) coded by ``checkpoint`` (through
    ``coding`` when the caller has built it for these options already)."""
    kind = images[0].kind
    if checkpoint.config.kind != kind:
        raise BBCError(f"model {model_name} codes {checkpoint.config.kind} images, not {kind} ones")
    tiles, masks = zip(*(to_tiles(image.pixels) for image in images))
    encoder = encoder_for(checkpoint, options)
    coding = coding or coding_for(checkpoint, options)
    words, schedule, warmup = push_batches(coding, np.concatenate(tiles), np.concatenate(masks),
                                           options.max_batch or coding.max_batch, progress)
    model = ModelRef(model_name, encoder, checkpoint.fingerprint(encoder))
    coder = CoderSettings(options.latents, options.latent_bits, schedule,
                          seed_bits(coding.pops_per_image(warm=True)), coding.particles,
                          coding.refine_steps, warmup)
    entries = [ImageEntry(i.name, i.pixels.shape[1], i.pixels.shape[0], i.mode) for i in images]
    return Section(kind, model, coder, entries, words, pixel_sha256(images), content_sha256(kind, images))


def classic_section(chosen: list[tuple[Image, str, bytes]]) -> Section:
    images = [image for image, _, _ in chosen]
    payload = b"".join(data for *_, data in chosen)
    words = np.frombuffer(payload + b"\0" * (-len(payload) % 4), dtype="<u4").astype(np.uint32)
    entries = [ImageEntry(i.name, i.pixels.shape[1], i.pixels.shape[0], i.mode) for i in images]
    return Section(images[0].kind, None, None, entries, words, pixel_sha256(images),
                   content_sha256(images[0].kind, images), [(c, len(d)) for _, c, d in chosen])


def compress_kind(images: list[Image], models: ModelSet, options: CodingOptions) -> list[SectionJob]:
    """The sections for images of one kind, as jobs: one per model chosen and chain, and
    a classic one."""
    candidates = models.candidates(images[0].kind)
    codings = {name: coding_for(checkpoint, options) for name, checkpoint in candidates}
    chosen = plan(images, candidates, list(codings.values()), options.fallback, options.threads)
    jobs = [partial(section_job, chain, name, checkpoint, options, codings[name])
            for name, (checkpoint, group) in chosen.by_model.items()
            for chain in split_chains(group, options.threads, chain_tiles(codings[name]))]
    if chosen.classic:
        jobs.append(partial(classic_job, chosen.classic))
    return jobs


SectionJob = Callable[[Progress | None], Section]
MIN_CHAIN_TILES = 64  # fewer tiles are not worth a chain's own header and stack end


def chain_tiles(coding: Coding) -> int:
    """The fewest tiles worth a chain of this coding: each chain pays the stack's initial
    bits again, so at most half a bit per tile (800 initial bits: 400 tiles)."""
    return max(MIN_CHAIN_TILES, seed_bits(coding.pops_per_image(warm=True)) // 2)


def split_chains(images: list[Image], chains: int, min_tiles: int = MIN_CHAIN_TILES) -> list[list[Image]]:
    """Consecutive runs of images with about equal tile counts, each coded on its own
    stack (a chain), at most ``chains`` and none under ``min_tiles`` tiles."""
    tiles = np.cumsum([tile_count(*image.pixels.shape) for image in images])
    chains = max(1, min(chains, int(tiles[-1]) // min_tiles))
    cuts = np.searchsorted(tiles, tiles[-1] * np.arange(1, chains) / chains) + 1
    return [list(part) for part in np.split(np.array(images, dtype=object), cuts) if len(part)]


def section_job(images, name, checkpoint, options, coding, progress):
    return compress_section(images, name, checkpoint, options, progress, coding)


def classic_job(chosen: list[Classic], progress: Progress | None) -> Section:
    if progress:
        progress(tile_total([image for image, _, _ in chosen]))
    return classic_section(chosen)


def compress_images(images: list[Image], models: ModelSet, options: CodingOptions = CodingOptions(),
                    progress: Progress | None = None) -> Archive:
    """Per image kind present, a section coded with the set's model for that kind, and a
    classic section for the images a classic codec stores smaller (``options.fallback``)."""
    if not images:
        raise BBCError("no images to compress")
    try:  # the names every decoder will accept: an archive it refuses is never written
        check_storable([image.name for image in images])
    except ValueError as e:
        raise BBCError(f"cannot store these inputs: {e}") from None
    if sum(image.pixels.size for image in images) > MAX_PIXELS:
        raise BBCError(f"these images hold more than {MAX_PIXELS} pixels, the most one archive "
                       f"may (a bound decoders rely on): compress them into several archives")
    jobs = []
    for kind in Kind:
        group = [image for image in images if image.kind == kind]
        if group:
            jobs.extend(compress_kind(group, models, options))
    archive = Archive(run_jobs(jobs, options.threads, progress))
    if options.embed_models:
        archive.models = embedded_models(archive, models)
    return archive


def embedded_models(archive: Archive, models: ModelSet) -> list[EmbeddedModel]:
    """The decoder and the one encoder each model section used, as the archive carries them."""
    used = {(s.model.name, s.model.encoder) for s in archive.sections if not s.is_classic}
    if len({name for name, _ in used}) != len(used):
        raise BBCError("one model used with two encoders cannot be embedded")
    return [EmbeddedModel(name, *models.named(name).with_only(encoder).to_bytes())
            for name, encoder in sorted(used)]


def decode_classic(section: Section) -> list[Image]:
    images = []
    for entry, (codec, _), data in zip(section.images, section.blobs, section.blob_data()):
        try:
            pixels = classic_decode(codec, data, section.kind, entry.width, entry.height)
        except (ValueError, OSError, SyntaxError) as e:
            raise IntegrityError(f"a classic-coded image does not decode ({e})") from None
        images.append(Image(entry.name, entry.mode, pixels, section.kind))
    return images


def verified(section: Section, images: list[Image]) -> list[Image]:
    if (section.pixel_sha256 is not None and pixel_sha256(images) != section.pixel_sha256) or (
            section.content_sha256 and not content_sha256(section.kind, images).startswith(section.content_sha256)):
        raise IntegrityError("decoded pixels do not match the archive's checksum (a decoding "
                             "mismatch or corruption): nothing was written")
    return images


def decompress_section(section: Section, checkpoint: Checkpoint,
                       progress: Progress | None = None) -> list[Image]:
    """The section's images, verified against its pixel checksum."""
    encoder = section.model.encoder
    if checkpoint.config.kind != section.kind:
        raise ModelMismatch(f"a {section.kind} section cannot be decoded by a model of "
                            f"{checkpoint.config.kind} images")
    if not checkpoint.has_encoder(encoder) or checkpoint.fingerprint(encoder) != section.model.fingerprint:
        raise ModelMismatch(f"this archive was written with model {section.model.name!r} "
                            f"(encoder {encoder}, weights {section.model.fingerprint[:12]}); "
                            f"the model offered has other weights")
    coding = coding_of(checkpoint, encoder, section.coder.latents, section.coder.latent_bits,
                       section.coder.particles, section.coder.refine_steps)
    masks = np.concatenate([to_tiles(np.ones((e.height, e.width), np.uint8))[1] for e in section.images])
    tiles = pop_batches(coding, section.words, masks, section.coder.schedule, section.coder.warmup,
                        progress)
    images, start = [], 0
    for entry in section.images:
        count = tile_count(entry.height, entry.width)
        pixels = from_tiles(tiles[start:start + count], entry.height, entry.width)
        images.append(Image(entry.name, entry.mode, pixels, section.kind))
        start += count
    return verified(section, images)


def decompress_archive(archive: Archive, models: ModelSet, progress: Progress | None = None,
                       threads: int = 1) -> list[Image]:
    """Every image of ``archive``, each section decoded with the set's model for it (up
    to ``threads`` sections at once)."""
    models = models.with_embedded(archive.models)
    jobs = [partial(classic_section_images, section) if section.is_classic else
            partial(decompress_section, section, models.for_section(section.kind, section.model.name))
            for section in archive.sections]
    return [image for images in run_jobs(jobs, threads, progress) for image in images]


def classic_section_images(section: Section, progress: Progress | None = None) -> list[Image]:
    images = verified(section, decode_classic(section))
    if progress:
        progress(tile_total(images))
    return images


def archive_tiles(archive: Archive) -> int:
    return sum(tile_count(e.height, e.width) for s in archive.sections for e in s.images)


def decompress_to(archive: Archive, folder: str | Path, models: ModelSet, force: bool = False,
                  progress: Progress | None = None, threads: int = 1) -> list[Path]:
    """Decode and verify everything first, then write each image under ``folder``."""
    images = decompress_archive(archive, models, progress, threads)
    folder = Path(folder)
    targets = [output_path(folder, image.name) for image in images]
    for target in targets:  # refuse before writing anything (the writes re-check each step)
        refuse_unsafe_target(folder, target)
    existing = [str(t) for t in targets if t.exists() or t.is_symlink()]
    if existing and not force:
        raise OutputExists(f"{existing[0]} already exists"
                           + (f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""))
    folder.mkdir(parents=True, exist_ok=True)
    return [restore_image(folder, image, force) for image in images]


def refuse_overwriting_inputs(output: str | Path, inputs: list[str]) -> None:
    """An archive must never replace one of the images it is made from."""
    output = Path(output)
    if not output.exists():
        return
    for found, _ in expand_inputs(list(inputs)):
        if found.exists() and os.path.samefile(found, output):
            raise BBCError(f"{output} is one of the inputs: refusing to replace it")


def level_bound_bpd(checkpoint: Checkpoint, encoder: str, images: np.ndarray, level: int,
                    seed: int = 0, batch: int = 100) -> float:
    """The rate a level tends to, without coding: -log((1/N) sum_k w_k) in bits/dim, with
    the level's N particles drawn from its (refined) posterior and discretized latents."""
    particles, steps = level_settings(checkpoint.config, level)
    x = images.reshape(len(images), -1)
    if not checkpoint.config.has_latent:  # every level codes at -log p(x), exactly
        bits = LocalCoding(checkpoint).exact_bits(x, np.ones(x.shape, dtype=bool))
        return float(bits.sum() / x.size)
    coding = coding_of(checkpoint, encoder, particles=particles, refine_steps=steps)
    rng, total = np.random.default_rng(seed), 0.0
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        mask = np.ones(chunk.shape, dtype=bool)
        mean, std = coding.encode(chunk, mask)
        z = mean[:, None, :] + std[:, None, :] * rng.standard_normal((len(chunk), particles, mean.shape[1]))
        log_w = coding.log_weights(chunk, mask, coding.latents.nearest(z))
        top = log_w.max(axis=1)
        total += float(np.sum(top + np.log(np.exp(log_w - top[:, None]).mean(axis=1))))
    return -total / (x.size * np.log(2))


def compress_paths(paths: list[str], models: ModelSet, options: CodingOptions = CodingOptions(),
                   progress: Progress | None = None) -> Archive:
    return compress_images(read_inputs(paths), models, options, progress)


def roundtrip(images: list[Image], models: ModelSet,
              options: CodingOptions = CodingOptions()) -> tuple[bytes, list[Image]]:
    """Compress to archive bytes, parse them back and decode: (bytes, decoded images)."""
    data = compress_images(images, models, options).to_bytes()
    return data, decompress_archive(parse(data), models)


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
    if section.is_classic:
        return SectionRate(str(section.kind), len(section.images), pixels,
                           8 * sum(size for _, size in section.blobs), 0)
    return SectionRate(str(section.kind), len(section.images), pixels, 32 * len(section.words),
                       section.coder.initial_bits)


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
                     "net_bits_per_dim": rate.net_bits_per_dim})
    return rows


def archive_info(archive: Archive) -> list[dict]:
    """``archive_rates`` with each section's files listed (what ``info`` shows)."""
    rows = archive_rates(archive)
    for row, section in zip(rows, archive.sections):
        row["files"] = [{"name": e.name, "width": e.width, "height": e.height, "mode": e.mode,
                         "restored_as": restored_name(e.name)} for e in section.images]
    return rows
