"""Helpers the test files share: plain functions and constants, no fixtures (those live in
conftest.py). Test files import from here, never from one another or from conftest.

Importable as ``helpers`` because tests/ has no __init__.py: pytest puts each test file's
folder (and conftest's) first on sys.path before importing it.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from bbcompress.cli import main

# --- the command line ------------------------------------------------------------------------

# The model-coded path is what most header fields steer; compress hands images a classic
# codec stores smaller (random pixels) to that codec unless told not to. The fixtures that
# build on it check that they got what they asked for.
MODEL_ONLY = ["--no-fallback"]


def run(*args, **kwargs):
    """The CLI, in this process, with every argument as a string (``kwargs`` go to
    CliRunner.invoke: ``input=`` for stdin)."""
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def assert_clean_failure(result):
    """A refusal as users see it: exit status 1, one ``bbcompress: error:`` line, no traceback."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bbcompress: error:"), result.stderr
    assert "Traceback" not in result.output


def model_args(tiny_models) -> list[str]:
    """``-m`` for both tiny models (the ``tiny_models`` fixture)."""
    return ["-m", tiny_models["binary"], "-m", tiny_models["greyscale"]]


def assert_restored(images, restored) -> None:
    """``restored`` is ``images`` again: the same names in the same order, and the same pixels
    (a bare ``all(... zip(images, restored))`` would pass an empty list)."""
    assert [i.name for i in restored] == [i.name for i in images]
    for original, back in zip(images, restored):
        assert np.array_equal(original.pixels, back.pixels), original.name


def written(folder: Path) -> list[str]:
    """Everything under ``folder`` (symlinks listed, never followed)."""
    if not folder.exists():
        return []
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        found += [os.path.relpath(os.path.join(root, n), folder) for n in dirs + files]
    return sorted(found)


# --- pixels ----------------------------------------------------------------------------------

def grey_pixels(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)


def binary_pixels(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((height, width)) < 0.4


# --- small seeded models ---------------------------------------------------------------------

def seeded_vae(likelihood: str, hidden=(64, 64), latent: int = 4, seed: int = 0,
               pixel_floor: float = 0.0):
    """An MLP VAE whose weights are drawn with numpy, so they do not depend on torch's
    initializer."""
    import torch

    from bbcompress.families.config import ModelConfig
    from bbcompress.families.mlp import VAE
    vae = VAE(ModelConfig(likelihood, 784, hidden, latent, pixel_floor=pixel_floor))
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in vae.parameters():
            fan_in = p.shape[-1] if p.ndim == 2 else 64
            p.copy_(torch.from_numpy(rng.normal(0, 1 / np.sqrt(fan_in), p.shape)).float())
    return vae.eval()


def checkpoint_of(vae, data: str):
    from bbcompress.families.mlp import to_checkpoint
    return to_checkpoint(vae, {"data": data, "epoch": 0},
                         {"method": "amortized", "data": data, "epochs": 0})


# --- crafted archives: hostile headers re-packed with a valid CRC (issue 14) -----------------

def unpack_archive(data: bytes) -> tuple[dict, bytes]:
    """(header JSON as a dict, payload bytes) of a well-formed archive; a one-image
    archive's compact header in the keyed form, its payload padded to whole words, so
    that ``repack`` writes it as a keyed header."""
    from bbcompress.io.archive import PREFIX, decode_header
    from bbcompress.io.compact_header import PAYLOAD_BYTES
    _, version, flags, length = PREFIX.unpack_from(data)
    header = decode_header(data[PREFIX.size:PREFIX.size + length], version, flags)
    payload = data[PREFIX.size + length:-4]
    if header.pop(PAYLOAD_BYTES, None) is not None:
        payload += bytes(-len(payload) % 4)
    return header, payload


def json_compact_section(header: dict) -> list:
    """A keyed section header as versions 4-7 wrote a one-image archive's (JSON, values
    in a fixed order, 128 bits of the content checksum)."""
    from bbcompress.io.archive import CODER_FIELDS, MODEL_FIELDS
    model, coder, defaults = header.get("model"), header.get("coder"), (None, None, None, 0, 1, 0, 0, 28)
    fields = CODER_FIELDS if coder and "tile_side" in coder else CODER_FIELDS[:-1]  # 7 before version 6
    return [header["kind"], model and [model[k] for k in MODEL_FIELDS],
            coder and [coder.get(k, d) for k, d in zip(fields, defaults)],
            header.get("blobs"), header["images"], header["words"], header["content_sha256"][:32]]


def repack(header, payload: bytes, version: int = 1) -> bytes:
    """An archive holding ``header`` (any JSON value, or JSON text/bytes as it is) and ``payload``,
    its header LZMA-compressed as writers do and its CRC-32 valid: only the decoder's own
    checks stand between such bytes and the output folder."""
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


# --- crafted archives (test_safety, test_hostile) --------------------------------

def run_compress(files, archive: Path, tiny_models, *extra):
    return run("compress", *files, "-o", archive, *model_args(tiny_models), "-q", *extra)


def run_decompress(archive, out: Path, tiny_models, *extra):
    return run("decompress", archive, "-o", out, *model_args(tiny_models), "-q", *extra)


@dataclass
class Base:
    """A valid archive of two binary and two greyscale images, and its parts."""
    data: bytes
    header: dict
    payload: bytes
    originals: dict[str, Path]

    @property
    def version(self) -> int:
        return self.data[8]

    def section(self, header: dict, kind: str) -> dict:
        return next(s for s in header["sections"] if s["kind"] == kind)


def crafted(tmp_path: Path, base: Base, edit=None, payload: bytes | None = None,
            name: str = "crafted.bbc") -> Path:
    """``base`` with its header changed by ``edit(header)`` (in place, or a returned
    replacement), re-packed with a valid CRC."""
    header = copy.deepcopy(base.header)
    if edit is not None:
        replacement = edit(header)
        header = header if replacement is None else replacement
    path = tmp_path / name
    path.write_bytes(repack(header, base.payload if payload is None else payload, base.version))
    return path


def refused_at_decode(tmp_path: Path, tiny_models, archive: Path, *extra) -> str:
    """Decompressing ``archive`` fails cleanly and writes nothing; returns the message."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    with address_space_cap():  # a decoder trusting the header fails fast, not the machine
        result = run_decompress(archive, out, tiny_models, *extra)
    assert_clean_failure(result)
    assert written(out) == [], "a refused archive wrote files"
    return result.stderr


def digit_folder(folder: Path) -> Path:
    """15 images of 2x2 training digits (60 whole tiles) in a new folder, as PNG files."""
    from PIL import Image

    from bbcompress.training.data import load_dataset
    grey = load_dataset("mnist10k").x_train[:60]
    folder.mkdir()
    for i in range(0, 60, 4):
        Image.fromarray(np.block([[grey[i], grey[i + 1]], [grey[i + 2], grey[i + 3]]])).save(folder / f"{i}.png")
    return folder


def digits_and_a_larger_image(count: int) -> list:
    """The first ``count`` mnist10k test digits (g0.png, ...) and one 40x50 image made of
    them (wide.png: not a whole number of tiles), greyscale, for the families' round trips."""
    from bbcompress.io.images import Image
    from bbcompress.kinds import Kind
    from bbcompress.training.data import load_dataset
    grey = load_dataset("mnist10k").x_test[:count]
    images = [Image(f"g{i}.png", "L", d, Kind.GREYSCALE) for i, d in enumerate(grey)]
    return images + [Image("wide.png", "L", np.tile(grey[0], (2, 2))[:40, :50], Kind.GREYSCALE)]


def saved_model(tmp_path_factory, name: str, checkpoint) -> str:
    """``checkpoint`` saved as NAME in a new temporary folder; its path (for ModelSet)."""
    path = tmp_path_factory.mktemp(name) / f"tiny-{name}"
    checkpoint.save(path)
    return str(path)


def seeded(model, seed: int = 0, std: float = 0.15, low: float | None = None):
    """``model`` with numpy-drawn weights, independent of torch's initializer: each
    parameter in order from normal(0, ``std``), or uniform(``low``, ``std``) with ``low``."""
    import torch

    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in model.parameters():
            values = rng.normal(0, std, p.shape) if low is None else rng.uniform(low, std, p.shape)
            p.copy_(torch.from_numpy(values).float())
    return model.eval()
