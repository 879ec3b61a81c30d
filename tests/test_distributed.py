"""Data-parallel training under torchrun (2 processes, gloo): the same trajectory as one
process within noise, checkpoints that load and code, and resuming."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from bbcompress.checkpoint import load_checkpoint

pytestmark = [pytest.mark.slow, pytest.mark.train]  # trains twice under torchrun

TORCHRUN = shutil.which("torchrun", path=os.path.dirname(sys.executable))
ARGS = ["--data", "mnist10k-binary", "--hidden", "32", "--latent", "4", "--checkpoint-every", "3", "-q"]


def train(folder, processes: int, *extra):
    if processes == 1:
        command = [sys.executable, "-m", "bbcompress", "train"]
    else:
        command = [TORCHRUN, "--standalone", "--nproc_per_node", str(processes), "-m", "bbcompress", "train"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command + ARGS + ["-o", str(folder), *extra], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed")
def test_two_processes_train_like_one_and_resume(tmp_path):
    train(tmp_path / "one", 1, "--epochs", "3")
    train(tmp_path / "two", 2, "--epochs", "3")
    one = json.loads((tmp_path / "one" / "epoch-0003.json").read_text())
    two = json.loads((tmp_path / "two" / "epoch-0003.json").read_text())
    assert two["processes"] == 2 and one["processes"] == 1
    assert abs(two["train_bpd"] / one["train_bpd"] - 1) < 0.03, (one["train_bpd"], two["train_bpd"])
    train(tmp_path / "two", 2, "--epochs", "6", "--resume")
    resumed = json.loads((tmp_path / "two" / "epoch-0006.json").read_text())
    assert resumed["train_bpd"] < two["train_bpd"]
    checkpoint = load_checkpoint(tmp_path / "two" / "epoch-0006")
    assert checkpoint.config.latent == 4 and "amortized" in checkpoint.encoders
