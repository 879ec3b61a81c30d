"""Chains: runs of consecutive images, each coded on its own ANS stack, so that several
processes code (and decode) one archive side by side; and streams, runs of one chain's
tiles on stacks of their own, so that they share out an image (format version 8)."""
from __future__ import annotations

import numpy as np

from .codec.bits_back import Coding
from .codec.core import seed_bits
from .io.compact_header import MAX_STREAMS
from .io.images import Image, tile_count

MIN_CHAIN_TILES = 64  # fewer tiles are not worth a chain's own header and stack end


def chain_tiles(coding: Coding) -> int:
    """The fewest tiles worth a chain of this coding: each chain pays the stack's initial
    bits again, so at most half a bit per tile (800 initial bits: 400 tiles)."""
    return max(MIN_CHAIN_TILES, seed_bits(coding.pops_per_image(warm=True)) // 2)


def split_chains(images: list[Image], chains: int, min_tiles: int = MIN_CHAIN_TILES) -> list[list[Image]]:
    """Consecutive runs of images with about equal tile counts, each coded on its own
    stack (a chain), at most ``chains`` and none under ``min_tiles`` tiles."""
    tiles = np.cumsum([image.kind.planes * tile_count(*image.size) for image in images])
    chains = max(1, min(chains, int(tiles[-1]) // min_tiles))
    cuts = np.searchsorted(tiles, tiles[-1] * np.arange(1, chains) / chains) + 1
    return [list(part) for part in np.split(np.array(images, dtype=object), cuts) if len(part)]


def stream_count(chain: list[Image], chains: int, threads: int, min_tiles: int = MIN_CHAIN_TILES) -> int:
    """Streams for one of ``chains`` chains: the threads the chains leave idle (one large
    photo, one chain: as many streams as threads), none under ``min_tiles`` tiles."""
    tiles = sum(image.kind.planes * tile_count(*image.size) for image in chain)
    return max(1, min(threads // chains, tiles // min_tiles, MAX_STREAMS))
