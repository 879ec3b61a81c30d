"""Independent coding jobs over processes: an archive's chains (sections with their own
ANS stream) are coded and decoded side by side, one per core.

Processes, not threads: the decoder's raster loop is many small numpy calls, which
hold the GIL between them. Workers are forked, so they inherit the jobs (closures over
models already in memory) and nothing is pickled but the results. The results, and so
the archive's bytes, do not depend on which worker ran what or when.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

from threadpoolctl import threadpool_limits

T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[int], None]
Job = Callable[[Progress | None], T]  # a job reports tiles done through its argument


@dataclass
class Task(Generic[R]):
    """Jobs whose results one step joins in this process (a section's streams, coded or
    decoded side by side, joined into one section or its images)."""
    jobs: list[Job]
    join: Callable[[list[Any]], R]

    @classmethod
    def single(cls, job: Job) -> "Task":
        return cls([job], lambda results: results[0])


def run_tasks(tasks: list[Task[R]], workers: int, progress: Progress | None = None) -> list[R]:
    """Each task's joined result, in order: every task's jobs over ``workers`` processes."""
    results = run_jobs([job for task in tasks for job in task.jobs], workers, progress)
    joined, start = [], 0
    for task in tasks:
        joined.append(task.join(results[start:start + len(task.jobs)]))
        start += len(task.jobs)
    return joined

_jobs: list[Job] = []  # read by forked workers
_reports = None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# One BLAS thread where coding runs: the processes are the parallelism, and BLAS threads
# spinning beside them made two chains slower than one (measured: 151 vs 297 images/s);
# in one process on a busy machine, 300 binary images took 36-42 s against 4.3 s.
BLAS_THREADS_ENV = "BBCOMPRESS_BLAS_THREADS"


def blas_threads() -> int:
    """BLAS (and OpenMP) threads per coding process: 1, or BBCOMPRESS_BLAS_THREADS."""
    value = os.environ.get(BLAS_THREADS_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else 1


def coding_threads() -> threadpool_limits:
    """A context in which numpy's thread pools run ``blas_threads()`` threads."""
    return threadpool_limits(blas_threads())


def run_jobs(jobs: list[Job], workers: int, progress: Progress | None = None) -> list[T]:
    """Each job's result, in order; ``workers`` processes at most (1: in this process)."""
    workers = min(workers, len(jobs))
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        with coding_threads():
            return [job(progress) for job in jobs]
    global _jobs, _reports
    context = multiprocessing.get_context("fork")
    _jobs, _reports = jobs, context.SimpleQueue() if progress else None
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=start_worker, initargs=(os.getpid(),))
    try:
        futures = [pool.submit(run_one, index) for index in range(len(jobs))]
        while not all(f.done() for f in futures):
            done, _ = wait(futures, timeout=0.1, return_when=FIRST_EXCEPTION)
            relay(progress)
            if any(f.exception() for f in done):
                break
        relay(progress)
        return [f.result() for f in futures]  # raises the first job's error, if any
    except BaseException:  # an error, Ctrl-C or SIGTERM: stop the workers now
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _jobs, _reports = [], None


def start_worker(parent: int) -> None:
    """In a worker: signals stop it as ``run_jobs`` expects, and it dies with its parent."""
    die_on_sigterm()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    die_with_parent(parent)


def die_on_sigterm() -> None:
    """SIGTERM (run_jobs stopping the worker) ends the process at once. A forked worker
    inherits the CLI's handler, which makes SIGTERM a KeyboardInterrupt; concurrent.futures'
    worker loop catches that and carries on, and if it lands inside the result queue's lock,
    the worker then waits on the lock it leaked, and the pool's shutdown on it, for ever."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """End this worker when ``parent`` dies, even by SIGKILL: else it finishes its job and
    waits on the pool's queue for ever, an orphan holding a core. Linux: the kernel sends
    SIGKILL (prctl); elsewhere a thread watches the parent's pid."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        watched_by_kernel = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        watched_by_kernel = False
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    if not watched_by_kernel:
        threading.Thread(target=watch_parent, args=(parent,), daemon=True).start()


def watch_parent(parent: int, every: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def run_one(index: int):
    report = _reports.put if _reports is not None else None
    with coding_threads():
        return _jobs[index](report)


def relay(progress: Progress | None) -> None:
    """Pass the workers' progress reports on to ``progress`` (in this process)."""
    if progress is None or _reports is None:
        return
    try:
        while not _reports.empty():
            progress(_reports.get())
    except (OSError, EOFError, queue.Empty):
        pass
