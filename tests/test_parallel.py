"""Chains: a model's images split into sections with their own ANS stream, coded and
decoded side by side in worker processes (--threads)."""
from __future__ import annotations

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
from test_cli import model_args, run


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
        assert [i.name for i in restored] == [i.name for i in images]
        assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(images, restored))


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
