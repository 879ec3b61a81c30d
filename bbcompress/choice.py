"""Which model codes each image: per image, the estimated cost under every candidate
model of its kind (a one-sample -ELBO from the exact networks) and, with the fallback,
its best classic encoding; the cheapest wins. One archive section per choice made.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from math import lgamma, log

import numpy as np

from .codec.core import seed_bits
from .io.classic import ALWAYS_TRY_PIXELS, JXL_EFFORT, best_encoding
from .io.images import TILE_SIDE, Image, tile_count, to_tiles
from .checkpoint import Checkpoint
from .kinds import to_planes
from .codec.bits_back import Coding
from .sections import Classic, tile_side_of, tiled
from .workers import run_jobs

Candidate = tuple[str, Checkpoint]

# What one more model section adds to the archive's header besides the list of its
# images (which_bits): its model's name and fingerprint, two SHA-256s, its coder
# settings. Measured: 400 test digits split 319 / 81 between two local models took 212
# header bytes more than in one section (36 of them which_bits), for 36 payload bytes saved.
# Not derived from the format alone: the fields of one more section compress to 92-95
# bytes, but its image list then costs far more than which_bits (426 of 2,000 digits:
# 699 bytes against the bound's 186). Charging 94 bytes sent 35 binary clothes to a
# second section and grew that archive 0.28% (429,204 -> 430,454 B, benchmarks.zoo).
SECTION_HEADER_BITS = 8 * 200


@dataclass
class Plan:
    by_model: dict[str, tuple[Checkpoint, list[Image]]] = field(default_factory=dict)
    classic: list[Classic] = field(default_factory=list)


# A large image is first estimated on SAMPLE_TILES of its tiles, spread evenly, scaled to
# all its pixels; only where that lands within CLOSE_CALL of its classic encoding are all
# its tiles estimated. Estimating every tile under every model made a 2560x1600 photo
# take 7x the time of the classic encoders it then went to (issue 23). The sample was
# within 2.3% of the full estimate on that photo and on a mosaic of 900 digits, under
# both greyscale models.
SAMPLE_TILES = 128
CLOSE_CALL = 1.10
# In tiles larger than 28 the sample is a few tiles (six of 128, two of 256) and less
# sure: a whole-image photo model's sampled estimate of a held-out photo was 17% above
# its full one (Wood: 2.4906 against 2.1314 bits/px in tiles of 128), and sent it to
# JPEG-XL at 2.2085.
CLOSE_CALL_LARGE_TILES = 1.25


def sampled_tiles(image: Image, sample: bool, side: int = TILE_SIDE) -> tuple[np.ndarray, np.ndarray, float]:
    """(tiles, masks, scale): the image's tiles (of each of its planes), or an even sample
    of them (as many pixels as SAMPLE_TILES 28x28 tiles, at least two) and the ratio of
    its pixels to the sample's."""
    planes = [to_tiles(plane, side) for plane in to_planes(image.pixels, image.kind, image.colour_transform)]
    tiles, masks = (np.concatenate(parts) for parts in zip(*planes))
    most = max(2, SAMPLE_TILES * TILE_SIDE**2 // side**2)  # all planes': a colour photo costs a grey one's
    if not sample or len(tiles) <= most:
        return tiles, masks, 1.0
    keep = np.unique(np.linspace(0, len(tiles) - 1, most).round().astype(np.int64))
    return tiles[keep], masks[keep], float(masks.sum() / masks[keep].sum())


def estimated_bits(images: list[Image], coding: Coding, chunk: int = 256, threads: int = 1,
                   sample: bool = False, tile_steps: int | None = None) -> np.ndarray:
    """Estimated bits of each image under ``coding``, in the tiles it would be coded in
    (``sections.tile_side_of``; tiles in chunks of ``chunk`` 28x28 tiles' pixels: bounded
    memory; chunks side by side in ``threads`` processes; ``sample``: large images from
    a sample of their tiles)."""
    sides = np.array([tile_side_of(*image.size, coding, tile_steps) for image in images])
    bits = np.zeros(len(images))
    for side in np.unique(sides):
        members = np.flatnonzero(sides == side)
        bits[members] = tiles_bits([images[i] for i in members], tiled(coding, int(side)), int(side),
                                   max(1, chunk * TILE_SIDE**2 // int(side)**2), threads, sample)
    return bits


def tiles_bits(images: list[Image], coding: Coding, side: int, chunk: int, threads: int,
               sample: bool) -> np.ndarray:
    tiles, masks, scales = zip(*(sampled_tiles(image, sample, side) for image in images))
    owner = np.repeat(np.arange(len(images)), [len(t) for t in tiles])
    tiles, masks = np.concatenate(tiles), np.concatenate(masks)
    jobs = [partial(estimate_chunk, coding, tiles[i:i + chunk], masks[i:i + chunk])
            for i in range(0, len(tiles), chunk)]
    sums = np.bincount(owner, weights=np.concatenate(run_jobs(jobs, threads)), minlength=len(images))
    return sums * np.array(scales)


def estimate_chunk(coding: Coding, tiles: np.ndarray, masks: np.ndarray, progress=None) -> np.ndarray:
    return coding.estimate_bits(tiles, masks)


def plan(images: list[Image], candidates: list[Candidate], codings: list[Coding],
         fallback: bool = True, threads: int = 1, effort: int = JXL_EFFORT,
         tile_steps: int | None = None) -> Plan:
    """Assign each image (all of one kind) to the cheapest candidate or classic codec
    (``effort``: JPEG-XL's; ``tile_steps``: the most decoding steps of a whole-image tile)."""
    if len(candidates) == 1 and not fallback:
        return Plan({candidates[0][0]: (candidates[0][1], list(images))})
    estimates = np.stack([estimated_bits(images, coding, threads=threads, sample=fallback, tile_steps=tile_steps)
                          for coding in codings])
    result, chosen = Plan(), {}
    for index, image in enumerate(images):
        estimate = estimates[:, index].min()
        if fallback:
            codec, data = best_encoding(image.pixels, image.kind, estimate, effort)
            if (estimate < close_call(image, codings, tile_steps) * 8 * len(data)
                    and image.kind.planes * tile_count(*image.size) > SAMPLE_TILES):
                # sampled, and a model may win: every tile estimated, and the classic
                # codecs tried again unless all were (images of ALWAYS_TRY_PIXELS or more)
                estimates[:, index] = [estimated_bits([image], coding, threads=threads, tile_steps=tile_steps)[0]
                                       for coding in codings]
                estimate = estimates[:, index].min()
                if image.size[0] * image.size[1] < ALWAYS_TRY_PIXELS:
                    codec, data = best_encoding(image.pixels, image.kind, estimate, effort)
            if 8 * len(data) < estimate:
                result.classic.append((image, codec, data))
                continue
        chosen.setdefault(int(estimates[:, index].argmin()), []).append((index, image))
    initial_bits = [seed_bits(coding.pops_per_image(warm=True)) for coding in codings]
    chosen = merge_small_groups(chosen, estimates, [bits + SECTION_HEADER_BITS for bits in initial_bits])
    for model, members in sorted(chosen.items()):
        assigned = [(image, estimates[model, index]) for index, image in sorted(members, key=lambda m: m[0])]
        name, checkpoint = candidates[model]
        initial = initial_bits[model]
        if fallback and sum(e for _, e in assigned) < 10 * initial and classic_is_cheaper(assigned, initial, effort):
            result.classic.extend((image, *best_encoding(image.pixels, image.kind, effort=effort)) for image, _ in assigned)
        else:
            result.by_model[name] = (checkpoint, [image for image, _ in assigned])
    return result


def close_call(image: Image, codings: list[Coding], tile_steps: int | None) -> float:
    """How far above its classic encoding a sampled estimate still earns a full one."""
    large = any(tile_side_of(*image.size, coding, tile_steps) > TILE_SIDE for coding in codings)
    return CLOSE_CALL_LARGE_TILES if large else CLOSE_CALL


def merge_small_groups(chosen: dict[int, list], estimates: np.ndarray, one_time_bits: list[int]) -> dict[int, list]:
    """Every model section pays ``one_time_bits`` once (its initial bits and header), and
    the header must say which images it holds: a group whose images cost less, that
    included, under the other models already chosen goes to them (each image to its
    cheapest among those), smallest group first, until none does."""
    images = sum(len(group) for group in chosen.values())  # merging moves images, never drops them
    while len(chosen) > 1:
        for model in sorted(chosen, key=lambda m: len(chosen[m])):
            others = [m for m in chosen if m != model]
            indices = [index for index, _ in chosen[model]]
            alternatives = estimates[others][:, indices]
            own = one_time_bits[model] + which_bits(len(indices), images)
            if alternatives.min(axis=0).sum() < estimates[model, indices].sum() + own:
                for (index, image), pick in zip(chosen.pop(model), alternatives.argmin(axis=0)):
                    chosen[others[pick]].append((index, image))
                break
        else:
            return chosen
    return chosen


def which_bits(members: int, images: int) -> float:
    """log2 C(images, members): the least a header can spend saying which ``members`` of
    ``images`` a section holds (measured: 426 of 2,000 digits in a second section took
    699 header bytes more, 186 of them this bound)."""
    return (lgamma(images + 1) - lgamma(members + 1) - lgamma(images - members + 1)) / log(2)


def classic_is_cheaper(assigned: list[tuple[Image, float]], initial_bits: int, effort: int) -> bool:
    """A few images may not pay a model section's one-time initial bits."""
    classic_bits = sum(8 * len(best_encoding(image.pixels, image.kind, effort=effort)[1]) for image, _ in assigned)
    return classic_bits < sum(e for _, e in assigned) + initial_bits
