"""Wall time of ``bbcompress compress ONE_IMAGE -o X.bbc`` as a user runs it.

The installed console script (the ``bbcompress`` beside this Python) compresses one
greyscale and one binary sample image from bbcompress/assets/samples, each --runs times
after one untimed warm-up run; the median is reported, beside the time of
``python -c "import torch"`` for reference (what the coding path no longer imports).
The issue's target is at most 1.0 s per one-image compress.

Usage:
    python -m benchmarks.startup [--runs 7]
Writes benchmarks/results/startup.{json,md} (or --out NAME).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .harness import write_results

SAMPLES = Path(__file__).resolve().parent.parent / "bbcompress" / "assets" / "samples"
TARGET_S = 1.0


def wall_seconds(argv: list[str], runs: int) -> list[float]:
    """Wall times of ``runs`` runs of ``argv`` (after one untimed run that warms the file cache)."""
    subprocess.run(argv, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def row(what: str, argv: list[str], runs: int) -> dict:
    times = wall_seconds(argv, runs)
    print(f"{what}: median {statistics.median(times):.3f} s", flush=True)
    return {"what": what, "argv": argv, "runs": runs, "median_s": statistics.median(times),
            "min_s": min(times), "max_s": max(times), "times_s": times}


def markdown(rows: list[dict]) -> str:
    lines = ["| command | median s | min s | max s |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['max_s']:.3f} |")
    compress = [r["median_s"] for r in rows if r["what"].startswith("bbcompress")]
    verdict = "met" if max(compress) <= TARGET_S else "NOT met"
    return (f"Median of {rows[0]['runs']} runs each, after one untimed warm-up run; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end. Target: one-image compress in at most {TARGET_S:.1f} s: "
            f"{verdict}.\n\n" + "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", default="startup")
    args = parser.parse_args()
    script = Path(sys.executable).parent / "bbcompress"
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for kind, sample in (("greyscale", "greyscale/test-0000.png"), ("binary", "binary/test-0000.pbm")):
            archive = Path(folder) / f"{kind}.bbc"
            argv = [str(script), "compress", str(SAMPLES / sample), "-o", str(archive), "-f"]
            rows.append(row(f"bbcompress compress {sample} -o {kind}.bbc -f", argv, args.runs))
    rows.append(row('python -c "import torch"', [sys.executable, "-c", "import torch"], args.runs))
    write_results(args.out, "Startup: compressing one image from the command line", markdown(rows),
                  {"rows": rows})


if __name__ == "__main__":
    main()
