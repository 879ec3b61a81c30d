"""Chains: a model's images split into sections with their own ANS stream, coded and
decoded side by side in worker processes (--threads)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from bbcompress.api import CodingOptions, compress_images, decompress_archive
from bbcompress.chains import split_chains
from bbcompress.errors import IntegrityError
from bbcompress.io.archive import parse
from bbcompress.io.images import Image as BBImage
from bbcompress.kinds import Kind
from bbcompress.zoo import ModelSet
from bbcompress.workers import run_jobs
from bbcompress.training.data import load_dataset
from helpers import assert_restored, model_args, run


def digits(count: int, big: int = 0) -> list[BBImage]:
    grey = load_dataset("mnist10k").x_test[:count]
    images = [BBImage(f"g{i:03d}.png", "L", d, Kind.GREYSCALE) for i, d in enumerate(grey)]
    if big:
        images.append(BBImage("big.png", "L", np.tile(grey[0], (big, big)), Kind.GREYSCALE))
    return images


def test_chains_are_consecutive_balanced_and_not_too_small():
    images = digits(200)
    chains = split_chains(images, 2)
    assert [len(c) for c in chains] == [100, 100] and sum(chains, []) == images
    assert len(split_chains(images, 8)) == 3, "at least 64 tiles per chain"
    assert split_chains(images[:100], 2) == [images[:100]]
    assert [len(c) for c in split_chains(digits(10, big=10), 2)] == [11], "one image is never split"


@pytest.mark.slow
def test_chained_archives_decode_with_any_thread_count(tiny_models):
    images = digits(150)
    models = ModelSet([tiny_models["greyscale"]])
    data = compress_images(images, models, CodingOptions(threads=2, fallback=False)).to_bytes()
    archive = parse(data)
    assert len(archive.sections) == 2 and data[8] <= 2
    one = compress_images(images, models, CodingOptions(threads=1, fallback=False)).to_bytes()
    assert len(parse(one).sections) == 1
    for threads in (1, 2):
        restored = decompress_archive(parse(data), models, threads=threads)
        assert_restored(images, restored)


@pytest.mark.slow
def test_a_worker_error_reaches_the_caller(tiny_models):
    models = ModelSet([tiny_models["greyscale"]])
    archive = parse(compress_images(digits(150), models, CodingOptions(threads=2, fallback=False)).to_bytes())
    archive.sections[1].words = archive.sections[1].words ^ np.uint32(1 << 7)
    with pytest.raises(IntegrityError):
        decompress_archive(archive, models, threads=2)


def test_progress_from_workers_adds_up():
    reported = []
    results = run_jobs([lambda report, n=n: (report(n), n)[1] for n in (3, 4, 5)], 2, reported.append)
    assert results == [3, 4, 5] and sorted(reported) == [3, 4, 5]


@pytest.mark.slow
def test_cli_threads(tmp_path, tiny_models):
    folder = tmp_path / "in"
    folder.mkdir()
    for image in digits(130):
        Image.fromarray(image.pixels).save(folder / image.name)
    archive = tmp_path / "a.bbc"
    assert run("compress", folder, "-o", archive, *model_args(tiny_models), "-T", 2, "--no-fallback", "-q").exit_code == 0
    assert len(parse(archive.read_bytes()).sections) == 2
    result = run("decompress", archive, "-C", tmp_path / "out", *model_args(tiny_models), "-T", 1, "-q")
    assert result.exit_code == 0
    for path in folder.iterdir():
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(tmp_path / "out" / "in" / path.name)))


def test_stopping_the_workers_cannot_hang_on_a_job_that_outlives_sigterm():
    """When one job fails, run_jobs terminates the other workers (SIGTERM). Forked workers
    inherit the CLI's handler, which turns SIGTERM into KeyboardInterrupt, and
    concurrent.futures' worker loop catches that (BaseException) and carries on: if it
    lands inside the result queue's lock (a SIGTERM between the lock's acquire and its
    ``with``), the worker retries the put, waits on the lock it leaked, and the pool's
    shutdown waits on that worker for ever (seen as a 20 s "hang" in test_fuzz). The job
    below swallows the interrupt the same way; a worker must die of SIGTERM regardless."""
    import multiprocessing
    import signal
    import time

    from bbcompress.cli.base import interrupt

    def fails(report):
        time.sleep(0.5)  # the other job is running by now
        raise ValueError("chain 0 is corrupt")

    def outlives_sigterm(report):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                time.sleep(0.05)
            except KeyboardInterrupt:
                pass

    previous = signal.signal(signal.SIGTERM, interrupt)  # as the CLI's main() installs it
    try:
        started = time.monotonic()
        with pytest.raises(ValueError, match="corrupt"):
            run_jobs([fails, outlives_sigterm], 2)
        assert time.monotonic() - started < 8, "run_jobs waited for a worker it had terminated"
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert multiprocessing.active_children() == [], "a worker outlived run_jobs"


# --- streams: one chain's tiles on several stacks (format version 8) ---------------------

def mosaic(side: int) -> list[BBImage]:
    """One image of side x side digits: one chain, however many threads."""
    grey = load_dataset("mnist10k").x_test[:side * side].reshape(side, side, 28, 28)
    return [BBImage("mosaic.png", "L", grey.transpose(0, 2, 1, 3).reshape(28 * side, 28 * side), Kind.GREYSCALE)]


def test_one_chain_gets_the_threads_the_chains_leave_idle():
    from bbcompress.chains import stream_count
    big, small = mosaic(12), digits(10)
    assert stream_count(big, 1, 2) == 2 and stream_count(big, 1, 8) == 2, "at least 64 tiles a stream"
    assert stream_count(big, 2, 2) == 1 and stream_count(big, 1, 1) == 1
    assert stream_count(small, 1, 2) == 1


@pytest.mark.slow
def test_a_large_image_in_streams_decodes_with_any_thread_count(tiny_models, monkeypatch):
    """A bits-back model (each stream warms its own stack up) codes one mosaic in two
    streams at two threads: the same images back at one or two threads; a stream's
    corrupted words are caught."""
    monkeypatch.setattr("bbcompress.chains.MIN_CHAIN_TILES", 16)
    monkeypatch.setattr("bbcompress.api.chain_tiles", lambda coding: 16)
    images, models = mosaic(6), ModelSet([tiny_models["greyscale"]])
    options = CodingOptions(threads=2, fallback=False, level=8)  # particles: warm-up batches
    data = compress_images(images, models, options).to_bytes()
    section, = parse(data).sections
    assert len(section.coder.streams) == 2 and data[8] == 8 and section.version == 8
    assert all(w >= 1 for _, w, _ in section.coder.streams), section.coder.streams
    assert sum(n for _, _, n in section.coder.streams) == len(section.words)
    one = parse(compress_images(images, models, replace(options, threads=1)).to_bytes())
    assert one.sections[0].coder.streams == () and one.sections[0].coder.warmup >= 1
    for threads in (1, 2):
        assert_restored(images, decompress_archive(parse(data), models, threads=threads))
    archive = parse(data)
    archive.sections[0].words = archive.sections[0].words.copy()
    archive.sections[0].words[-1] ^= np.uint32(1 << 9)  # the second stream's
    with pytest.raises(IntegrityError):
        decompress_archive(archive, models, threads=2)


STREAMED = {"latents": "buckets", "latent_bits": 8, "schedule": [2, 3, 4], "streams": [[1, 1, 5], [2, 0, 7]]}


@pytest.mark.parametrize("streams,refused", [
    ([[1, 1, 5], [2, 0, 7]], False),
    ([[3, 0, 12]], True),  # one stream is written as none
    ([[1, 0, 5], [1, 0, 7]], True),  # batches short of the schedule's
    ([[1, 2, 5], [2, 0, 7]], True),  # more warm-up than batches
    ([[0, 0, 0], [3, 0, 12]], True),  # an empty stream
    ([[1, 0, 5], [2, 0, 6]], True),  # words short of the section's
    ([[1, 0, 5, 1], [2, 0, 7]], True),
    ([[1, 0, 5.0], [2, 0, 7]], True),
])
def test_a_coder_s_streams_must_match_its_batches_and_words(streams, refused):
    from bbcompress.io.archive import Section
    entry = {"kind": "greyscale", "images": [["a.png", 28 * 9, 28, "L"]], "pixel_sha256": "0" * 64,
             "model": {"name": "m", "encoder": "amortized", "fingerprint": "0" * 64},
             "coder": {**STREAMED, "streams": streams}, "words": 12}
    if refused:
        with pytest.raises(ValueError):
            Section.from_header(entry, np.zeros(12, np.uint32))
    else:
        assert Section.from_header(entry, np.zeros(12, np.uint32)).version == 8
    entry["coder"]["warmup"] = 1  # a section's own warm-up is its streams'
    with pytest.raises(ValueError):
        Section.from_header(entry, np.zeros(12, np.uint32))


def test_a_stream_tiles_only_the_images_that_hold_its_tiles(monkeypatch):
    """A stream's tiles are those of the whole section's at its range, wherever its range
    cuts the images (RGB images: three planes of tiles each)."""
    from bbcompress import sections
    rng = np.random.default_rng(4)
    images = [BBImage(f"i{k}.png", "L", rng.integers(0, 256, shape, dtype=np.uint8), Kind.GREYSCALE)
              for k, shape in enumerate([(30, 60), (28, 28), (90, 10), (57, 57)])]
    tiles, masks = sections.section_tiles(images, 28)
    pushed = []
    monkeypatch.setattr(sections, "push_batches", lambda coding, t, m, batch, progress: pushed.append((t, m)))
    for start, stop in [(0, len(tiles)), (1, 3), (2, 4), (3, 9), (7, len(tiles)), (len(tiles) - 1, len(tiles))]:
        sections.push_stream(images, 28, None, 8, start, stop, 1)
        assert np.array_equal(pushed[-1][0], tiles[start:stop]) and np.array_equal(pushed[-1][1], masks[start:stop])
