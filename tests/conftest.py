"""Shared fixtures: small seeded models that make the coder's tests fast."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bbcompress.checkpoint import Checkpoint
from bbcompress.families.config import ModelConfig
from bbcompress.families.mlp import VAE, to_checkpoint


def seeded_vae(likelihood: str, hidden=(64, 64), latent: int = 4, seed: int = 0,
               pixel_floor: float = 0.0) -> VAE:
    """Weights drawn with numpy, so they do not depend on torch's initializer."""
    vae = VAE(ModelConfig(likelihood, 784, hidden, latent, pixel_floor=pixel_floor))
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in vae.parameters():
            fan_in = p.shape[-1] if p.ndim == 2 else 64
            p.copy_(torch.from_numpy(rng.normal(0, 1 / np.sqrt(fan_in), p.shape)).float())
    return vae.eval()


def checkpoint_of(vae: VAE, data: str) -> Checkpoint:
    return to_checkpoint(vae, {"data": data, "epoch": 0},
                               {"method": "amortized", "data": data, "epochs": 0})


@pytest.fixture(scope="session")
def binary_vae() -> VAE:
    return seeded_vae("bernoulli")


@pytest.fixture(scope="session")
def greyscale_vae() -> VAE:
    return seeded_vae("logistic256", seed=1)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, binary_vae, greyscale_vae) -> dict[str, str]:
    """Checkpoint paths of the two small models, by image kind."""
    folder = tmp_path_factory.mktemp("models")
    checkpoint_of(binary_vae, "mnist10k-binary").save(folder / "tiny-binary")
    checkpoint_of(greyscale_vae, "mnist10k").save(folder / "tiny-greyscale")
    return {"binary": str(folder / "tiny-binary"), "greyscale": str(folder / "tiny-greyscale")}


# --- Crafted archives: hostile headers re-packed with a valid CRC (issue 14) ---

import contextlib  # noqa: E402
from pathlib import Path  # noqa: E402


def unpack_archive(data: bytes) -> tuple[dict, bytes]:
    """(header JSON as a dict, payload bytes) of a well-formed archive."""
    import json

    from bbcompress.io.archive import PREFIX, expand_compact, inflate_header
    _, _, flags, length = PREFIX.unpack_from(data)
    stored = data[PREFIX.size:PREFIX.size + length]
    header = json.loads(inflate_header(stored) if flags & 1 else stored)
    if isinstance(header, list):  # a one-image archive's compact header: the keyed form
        header = expand_compact(header)
    return header, data[PREFIX.size + length:-4]


def repack(header, payload: bytes, version: int = 1) -> bytes:
    """An archive holding ``header`` (any JSON value, or JSON text/bytes as it is) and ``payload``,
    its header LZMA-compressed as writers do and its CRC-32 valid: only the decoder's own
    checks stand between such bytes and the output folder."""
    import json
    import lzma
    import struct
    import zlib

    from bbcompress.io.archive import LZMA_FILTERS, PREFIX
    if not isinstance(header, (str, bytes)):
        header = json.dumps(header, separators=(",", ":"))  # NaN stays NaN, as a hostile writer may
    if isinstance(header, str):
        header = header.encode("utf-8", "surrogatepass")
    stored = lzma.compress(header, format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)
    body = PREFIX.pack(b"\x89BBC\r\n\x1a\n", version, 1, len(stored)) + stored + payload
    return body + struct.pack("<I", zlib.crc32(body))


@contextlib.contextmanager
def address_space_cap(extra_bytes: int = 2 << 30):
    """Cap this process's address space at what it maps now plus ``extra_bytes``, so a
    decoder that trusts a crafted size fails at once (MemoryError) instead of taking the
    machine's memory. Linux only; elsewhere no cap."""
    import resource
    try:
        status = Path("/proc/self/status").read_text()
        mapped = int(status.split("VmSize:")[1].split()[0]) * 1024
    except (OSError, IndexError, ValueError):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = mapped + extra_bytes if hard == resource.RLIM_INFINITY else min(hard, mapped + extra_bytes)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


CHILD_DECODER = r"""
import json, sys
from click.testing import CliRunner
from bbcompress.cli import main
results = []
for argv in json.loads(open(sys.argv[1]).read()):
    result = CliRunner().invoke(main, argv)
    crash = result.exception if not isinstance(result.exception, SystemExit) else None
    results.append({"argv": argv, "exit": result.exit_code, "stderr": result.stderr,
                    "output": result.output, "crash": repr(crash) if crash else None})
open(sys.argv[2], "w").write(json.dumps(results))
"""


def run_in_child(commands: list[list[str]], folder: Path, timeout: float = 120,
                 address_space: int = 4 << 30) -> tuple[list[dict], int]:
    """Run CLI commands one after another in a fresh Python process; returns each one's
    {exit, stderr, output, crash} and the child's peak RSS in bytes (from wait4, so no
    other child's memory counts). The child's address space is capped at
    ``address_space`` so a decoder that trusts a header cannot take the whole machine."""
    import json
    import os
    import resource
    import subprocess
    import sys
    import threading

    plan, report = folder / "commands.json", folder / "results.json"
    plan.write_text(json.dumps([[str(a) for a in argv] for argv in commands]))
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    with open(folder / "child.log", "wb") as log:
        child = subprocess.Popen([sys.executable, "-c", CHILD_DECODER, str(plan), str(report)],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                 preexec_fn=cap)
        timer = threading.Timer(timeout, child.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
    log_text = (folder / "child.log").read_text(errors="replace")
    assert child.returncode == 0, f"the child decoder died ({child.returncode}):\n{log_text[-3000:]}"
    return json.loads(report.read_text()), usage.ru_maxrss * 1024
