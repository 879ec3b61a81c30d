"""The library's pipeline: images <-> .bbc archives (compress, decompress, test, info).

Images are grouped by kind; for each image, ``choice`` picks the model (or classic codec)
that codes it cheapest; each model's images are cut into 28x28 tiles and coded in one or
more chains (``chains``), each an archive section (``sections``) with the model's
fingerprint and checksums of its pixels. The CLI, the demo, the benchmarks and the tests
all go through these functions; ``bbcompress/__init__.py`` wraps them for numpy users.
No torch: the coder runs on numpy arrays.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .chains import chain_tiles, split_chains, stream_count
from .checkpoint import Checkpoint, load_checkpoint, recommended_encoder
from .choice import plan
from .codec.bits_back import CodingSettings, Progress
from .colour import with_colour_transform
from .errors import ArchiveError, BBCError, OutputExists
from .families import DEFAULT_FAMILY, DEFAULT_LEVEL, FAMILIES, LEVELS
from .io.archive import Archive, EmbeddedModel, Section, check_writable, parse, read_archive, write_archive
from .io.atomic import OutputRoot
from .io.classic import JXL_EFFORT_OF_LEVEL, best_encoding
from .io.images import MAX_PIXELS, Image, png_bytes, tile_count
from .io.names import check_storable
from .io.paths import (STDIN, Skipped, expand_inputs, output_path, read_inputs, refuse_unsafe_target,
                       restore_image, scan_inputs)
from .kinds import Kind
from .rates import archive_info, archive_rates, file_bits_per_dim
from .sections import (Classic, check_batch, classic_images, classic_section, coding_of, model_images_task,
                       model_section, model_section_task, tile_side_of, tile_total, work_over_bound,
                       TILE_STEPS_OF_LEVEL)
from .workers import Task, available_cores, coding_threads, run_tasks
from .zoo import DEFAULT_MODELS, OPT_IN_LEVEL, ModelSet, never_estimated, shipped_cards

__all__ = ["CodingOptions", "DEFAULT_FAMILY", "DEFAULT_LEVEL", "DEFAULT_MODELS", "FAMILIES", "LEVELS", "ModelSet", "STDIN",
           "Skipped", "archive_info", "archive_rates", "archive_tiles", "available_cores", "never_estimated", "check_writable",
           "compress_images", "compress_section", "compress_paths", "decompress_archive", "decompress_png",
           "decompress_to", "file_bits_per_dim", "load_checkpoint", "parse", "read_archive", "read_inputs",
           "recommended_encoder", "refuse_overwriting_inputs", "roundtrip", "scan_inputs", "shipped_cards",
           "tile_total", "write_archive"]


@dataclass(frozen=True)
class CodingOptions:
    encoder: str | None = None  # None: each model's default encoder
    latents: str = "buckets"
    latent_bits: int = 8
    max_batch: int | None = None  # None: the model's own (its coding's max_batch)
    level: int = DEFAULT_LEVEL  # 1 (fastest) .. 9 (smallest): each family's levels say what they spend
    fallback: bool = True  # images a classic codec stores smaller go to a classic section
    embed_models: bool = False  # carry the weights of every model used inside the archive
    threads: int = 1  # chains coded side by side (processes); the archive depends on it

    def __post_init__(self):
        if self.level not in LEVELS:
            raise BBCError(f"level {self.level} is not one of {min(LEVELS)}..{max(LEVELS)}")

    @property
    def tile_steps(self) -> int | None:
        """The most decoding steps of a whole-image tile (``sections.tile_side_of``)."""
        return TILE_STEPS_OF_LEVEL[self.level]

    @property
    def classic_effort(self) -> int:
        """JPEG-XL's effort in the classic fallback at this level."""
        return JXL_EFFORT_OF_LEVEL[self.level]

    def settings_for(self, checkpoint: Checkpoint) -> CodingSettings:
        """How ``checkpoint`` codes under these options: the encoder asked for, else the
        card's ("none" without a latent), and what the level spends in its family."""
        encoder = (self.encoder or checkpoint.default_encoder) if checkpoint.config.has_latent else "none"
        particles, steps = checkpoint.config.spec.level(self.level)
        return CodingSettings(encoder, self.latents, self.latent_bits, particles, steps)


def jxl_effort_help() -> str:
    """The JPEG-XL effort of each run of levels, as --help says it: 'levels 1-3: 5, ...'."""
    runs: dict[int, list[int]] = {}
    for level, effort in JXL_EFFORT_OF_LEVEL.items():
        runs.setdefault(effort, []).append(level)
    return ", ".join(f"levels {min(ls)}-{max(ls)}: {effort}" for effort, ls in runs.items())


def compress_section(images: list[Image], model_name: str, checkpoint: Checkpoint,
                     options: CodingOptions = CodingOptions(), progress: Progress | None = None) -> Section:
    """One section: ``images`` (all of one kind) coded by ``checkpoint`` on one stack,
    whatever a classic codec would do (benchmarks and tests measure a model this way)."""
    settings = options.settings_for(checkpoint)
    return model_section(images, model_name, checkpoint, coding_of(checkpoint, settings), settings,
                         options.max_batch, progress, options.tile_steps)


def compress_kind(images: list[Image], models: ModelSet, options: CodingOptions) -> list[Task[Section]]:
    """The sections for images of one kind, as tasks: one per model chosen and chain (its
    streams' jobs), and a classic one. Kinds no model codes go to the classic codecs whatever the options;
    colour images are coded as planes (``kinds.PLANES``) by greyscale models that code
    whole images (a model of 28x28 digits or clothes has no business with a photo's
    planes, and estimating them cost a 1024x1024 photo a third more time)."""
    kind = images[0].kind
    candidates = models.candidates(kind.model_kind, options.level) if kind.model_kind.has_models else []
    settings = {name: options.settings_for(checkpoint) for name, checkpoint in candidates}
    codings = {name: coding_of(checkpoint, settings[name]) for name, checkpoint in candidates}
    if kind.planes > 1:
        codings = {name: coding for name, coding in codings.items() if getattr(coding, "whole_images", False)}
        candidates = [(name, checkpoint) for name, checkpoint in candidates if name in codings]
    if not candidates:
        return [Task.single(partial(classic_encoding_job, images, options.classic_effort))]
    for name, coding in codings.items():  # before any coding: decoders would refuse larger batches
        check_batch(name, coding, options.max_batch)
    images = [with_colour_transform(image) for image in images]  # planes: the cheapest transform's
    with coding_threads():  # the estimates run the networks in this process
        chosen = plan(images, candidates, list(codings.values()), options.fallback, options.threads,
                      options.classic_effort, options.tile_steps)
    tasks = []
    for name, (checkpoint, group) in chosen.by_model.items():
        for same_tiles in by_tile_side(group, codings[name], options.tile_steps):
            chains = split_chains(same_tiles, options.threads, chain_tiles(codings[name]))
            tasks += [model_section_task(chain, name, checkpoint, codings[name], settings[name], options.max_batch,
                                         options.tile_steps, stream_count(chain, len(chains), options.threads,
                                                                          chain_tiles(codings[name])))
                      for chain in chains]
    if chosen.classic:
        tasks.append(Task.single(partial(classic_job, chosen.classic)))
    return tasks


def by_tile_side(images: list[Image], coding, max_steps: int | None) -> list[list[Image]]:
    """``images`` in groups of one tile side each (a section codes one), in order."""
    groups: dict[int, list[Image]] = {}
    for image in images:
        groups.setdefault(tile_side_of(*image.size, coding, max_steps), []).append(image)
    return [groups[side] for side in sorted(groups)]


def classic_encoding_job(images: list[Image], effort: int, progress: Progress | None) -> Section:
    """A classic section of ``images``, each stored by its smallest classic encoding."""
    return classic_job([(image, *best_encoding(image.pixels, image.kind, effort=effort)) for image in images],
                       progress)


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
    if sum(height * width for height, width in (image.size for image in images)) > MAX_PIXELS:
        raise BBCError(f"these images hold more than {MAX_PIXELS} pixels, the most one archive "
                       f"may (a bound decoders rely on): compress them into several archives")
    tasks = []
    for kind in Kind:
        group = [image for image in images if image.kind == kind]
        if group:
            tasks.extend(compress_kind(group, models, options))
    archive = Archive(run_tasks(tasks, options.threads, progress))
    checkpoints = [None if s.is_classic else models.named(s.model.name) for s in archive.sections]
    if reason := work_over_bound(archive.sections, checkpoints):  # decoders would refuse it
        raise BBCError(f"cannot write this archive: {reason}; use a lower --level, or put these "
                       f"images in several archives")
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


def decompress_archive(archive: Archive, models: ModelSet, progress: Progress | None = None,
                       threads: int = 1) -> list[Image]:
    """Every image of ``archive``, each section decoded with the set's model for it (up
    to ``threads`` sections, or streams of one, at once)."""
    models = models.with_embedded(archive.models)
    checkpoints = [None if section.is_classic else models.for_section(section.kind.model_kind, section.model.name)
                   for section in archive.sections]
    if reason := work_over_bound(archive.sections, checkpoints):  # before any decoding
        raise ArchiveError(f"{reason}: the archive is corrupted or crafted")
    tasks = [Task.single(partial(classic_job_images, section)) if section.is_classic else
             model_images_task(section, checkpoint)
             for section, checkpoint in zip(archive.sections, checkpoints)]
    return [image for images in run_tasks(tasks, threads, progress) for image in images]


def classic_job_images(section: Section, progress: Progress | None = None) -> list[Image]:
    images = classic_images(section)
    if progress:
        progress(tile_total(images))
    return images


def archive_tiles(archive: Archive) -> int:
    return sum(tile_count(e.height, e.width) for s in archive.sections for e in s.images)


def decompress_to(archive: Archive, folder: str | Path, models: ModelSet, force: bool = False,
                  progress: Progress | None = None, threads: int = 1) -> list[Path]:
    """Decode and verify everything first, then write each image under ``folder``, which
    is held open from the start (a folder swapped for a symlink meanwhile is not followed)."""
    with OutputRoot(Path(folder)) as root:
        images = decompress_archive(archive, models, progress, threads)
        targets = [output_path(root.path, image.name) for image in images]
        for target in targets:  # refuse before writing anything (the writes re-check each step)
            refuse_unsafe_target(root, target)
        existing = [str(t) for t in targets if root.lstat(t.relative_to(root.path).parts)]
        if existing and not force:
            raise OutputExists(f"{existing[0]} already exists"
                               + (f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""))
        return [restore_image(root, image, force) for image in images]


def decompress_png(archive: Archive, models: ModelSet, progress: Progress | None = None) -> bytes:
    """The one image of a one-image archive, decoded, verified and written as PNG (what
    ``decompress -c`` prints); refused before decoding when the archive holds several."""
    if archive.image_count != 1:
        raise BBCError(f"the archive holds {archive.image_count} images; standard output takes exactly "
                       f"one: restore them into a folder with -o DIR")
    image, = decompress_archive(archive, models, progress)
    return png_bytes(image)


def refuse_overwriting_inputs(output: str | Path, inputs: list[str]) -> None:
    """An archive must never replace one of the images it is made from."""
    output = Path(output)
    if not output.exists():
        return
    for found, _ in expand_inputs(list(inputs)):
        if found is not None and found.exists() and os.path.samefile(found, output):
            raise BBCError(f"{output} is one of the inputs: refusing to replace it")


def compress_paths(paths: list[str], models: ModelSet, options: CodingOptions = CodingOptions(),
                   progress: Progress | None = None) -> Archive:
    return compress_images(read_inputs(paths), models, options, progress)


def roundtrip(images: list[Image], models: ModelSet,
              options: CodingOptions = CodingOptions()) -> tuple[bytes, list[Image]]:
    """Compress to archive bytes, parse them back and decode: (bytes, decoded images)."""
    data = compress_images(images, models, options).to_bytes()
    return data, decompress_archive(parse(data), models)
