"""Write tests/fixtures/archives/: small archives made by each released bbcompress, and
manifest.json, which tests/test_old_archives.py decodes with today's code.

Each release runs from a detached checkout of its own commit, outside the working
trees, with the same Python environment (the release's own code and its own models/)::

    git worktree add --detach /tmp/rel-0.1 8804187   # 0.1.0
    git worktree add --detach /tmp/rel-0.2 5d5a4de   # 0.2.0
    git worktree add --detach /tmp/rel-0.3 62c8b64   # 0.3.0
    git worktree add --detach /tmp/rel-0.4 88a3a52   # 0.4.0
    python scripts/make_archive_fixtures.py 0.1=/tmp/rel-0.1 0.2=/tmp/rel-0.2 \\
        0.3=/tmp/rel-0.3 0.4=/tmp/rel-0.4 [--only v0.2-chains.bbc ...]
    git worktree remove /tmp/rel-0.1   # ... and the others

Run it with the project's environment (.venv/bin/python; the tiny embedded model needs
torch): each release runs under the same interpreter. A release is the last commit
whose pyproject.toml carries its version (the commit just before the next bump; 0.4.0:
main as of 88a3a52). By that rule 0.2 already ships the local family and 0.3 the conv
family; each fixture uses only what its checkout could write. Only the releases named
on the command line are (re)made; the others' manifest entries are kept.

For each fixture the script makes the input images (the shipped sample digits of this
checkout, 150 digits of its mnist10k test split, and images drawn with numpy), runs the
release's own command line in that input folder::

    PYTHONPATH=$REL BBCOMPRESS_MODELS=$REL/models OMP_NUM_THREADS=1 \\
        python -m bbcompress compress INPUTS... -o NAME.bbc OPTIONS...

checks that the archive covers what the fixture is for (format version, models,
encoders, levels, classic codecs, chains, embedded models: read from the header by the
small reader below, not by bbcompress), then restores it with the release's own
``decompress`` and hashes the restored files as Pillow reads them (``decoded_sha256``).
The expected result therefore comes from the writer's decoder, not today's.

decoded_sha256: SHA-256 over, for each image in archive order (the order ``info``
lists), ``f"{name}|{mode}|{width}x{height}|".encode()`` followed by the restored file's
pixels, row by row, one byte each: ``np.asarray(PIL.Image.open(file)).astype(np.uint8)``,
so 0/1 for mode "1" and 0..255 for mode "L" (a binary-content mode "L" image is 0/255
there, as its file holds it, not the 0/1 that bbcompress codes internally). ``name`` is
the name stored in the archive; every fixture's images restore under their own name.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "archives"
SAMPLES = ROOT / "bbcompress" / "assets" / "samples"
MNIST = ROOT / "bbcompress" / "assets" / "mnist10k.npz"
RELEASES = {"0.1": "8804187", "0.2": "5d5a4de", "0.3": "62c8b64", "0.4": "88a3a52"}


def bin_digits(*indices):
    return [f"test-{i:04d}.pbm" for i in indices]


def grey_digits(*indices):
    return [f"test-{i:04d}.png" for i in indices]


def models_of(summary):
    return {(s["kind"], s["model"], s["encoder"]) for s in summary["sections"]}


def codecs_of(summary, kind=None):
    return {c for s in summary["sections"] if kind in (None, s["kind"]) for c in s.get("codecs", ())}


def levels_of(summary):
    return {(s["particles"], s["refine_steps"]) for s in summary["sections"] if "particles" in s}


# Each fixture: file name, release, what it covers, inputs (in the input folder), the
# compress options, and a check of the written header (a regenerated fixture that no
# longer covers what it claims fails here rather than silently).
SPECS = [
    dict(file="v0.1-mlp-mixed.bbc", release="0.1",
         covers="format 1 as 0.1 wrote it (no content checksum); binary and greyscale in one "
                "archive; MLP VAEs mnist-binary and mnist-greyscale with their default encoder "
                "(self-consistent); latents buckets, 8 bits; a non-ASCII name",
         inputs=bin_digits(0, 1, 2) + grey_digits(0, 1) + ["zwei-\u00fc\u00df.png"], options=[],
         check=lambda s: s["version"] == 1 and not s["content_sha256"] and models_of(s) == {
             ("binary", "mnist-binary", "self-consistent"),
             ("greyscale", "mnist-greyscale", "self-consistent")}),
    dict(file="v0.1-mlp-amortized-grid.bbc", release="0.1",
         covers="0.1's MLP VAEs with the amortized encoder (not the default) and grid latents "
                "of 6 bits; images that are not 28x28 (30x41: four tiles with padding, binary "
                "and greyscale); a binary image stored as mode L (0/255); batches of 2 tiles",
         inputs=["blob-30x41.pbm", "digit-30x41.png", "digit-binary-L.png"] + grey_digits(3),
         options=["--encoder", "amortized", "--latents", "grid", "--latent-bits", "6", "--batch", "2"],
         check=lambda s: s["version"] == 1 and all(
             x["encoder"] == "amortized" and x["latents"] == "grid" and x["latent_bits"] == 6
             and x["batches"] > 1 for x in s["sections"])),
    dict(file="v0.2-local-fallback.bbc", release="0.2",
         covers="format 3: classic fallback sections, greyscale with all three codecs (raw: "
                "noise, PNG: a vertical ramp, WebP: a flat image) and binary (raw: noise); the "
                "local family (mnist-binary-local-v1, mnist-greyscale-local-v1), 0.2's "
                "defaults; content checksums",
         inputs=bin_digits(4, 5, 6) + grey_digits(4, 5, 6)
         + ["noise.png", "vgrad-64x16.png", "flat.png", "noise-binary.pbm"],
         options=["-T", "1"],
         check=lambda s: s["version"] == 3 and codecs_of(s, "greyscale") == {"raw", "png", "webp"}
         and codecs_of(s, "binary") == {"raw"} and {
             ("binary", "mnist-binary-local-v1", "none"),
             ("greyscale", "mnist-greyscale-local-v1", "none")} <= models_of(s)),
    dict(file="v0.2-mlp-level9.bbc", release="0.2",
         covers="format 2: level 9 (8 importance-sampled particles, 50 refinement steps per "
                "image) on the MLP VAEs mnist-binary and mnist-greyscale; warm-up batches "
                "(plain bits-back until the stack can pay 8 particles) and, greyscale, a batch "
                "with all 8",
         inputs=bin_digits(7, 8) + grey_digits(7, 8),
         options=["-m", "mnist-binary", "-m", "mnist-greyscale", "-l", "9", "--no-fallback", "-T", "1"],
         check=lambda s: s["version"] == 2 and levels_of(s) == {(8, 50)}
         and any(0 < x["warmup"] < x["batches"] for x in s["sections"])),
    dict(file="v0.2-fashion-grid.bbc", release="0.2",
         covers="the Fashion-MNIST MLP VAEs fashion-binary-v1 (its default encoder, self-"
                "consistent) and fashion-greyscale-v1 (self-consistent, not its default); "
                "grid latents with refinement (level 2: 3 steps), format 2",
         inputs=bin_digits(9, 10) + grey_digits(9, 10),
         options=["-m", "fashion-binary-v1", "-m", "fashion-greyscale-v1", "--encoder", "self-consistent",
                  "--latents", "grid", "-l", "2", "--no-fallback", "-T", "1"],
         check=lambda s: s["version"] == 2 and levels_of(s) == {(1, 3)} and models_of(s) == {
             ("binary", "fashion-binary-v1", "self-consistent"),
             ("greyscale", "fashion-greyscale-v1", "self-consistent")}),
    dict(file="v0.2-embedded-local.bbc", release="0.2",
         covers="format 3: an embedded model (--embed-model), the smallest shipped one "
                "(mnist-binary-local-v1, 214 KB of weights): decodes from the archive's copy",
         inputs=bin_digits(11, 12), options=["-m", "mnist-binary-local-v1", "--embed-model", "-T", "1"],
         check=lambda s: s["version"] == 3 and s["embedded"] == ["mnist-binary-local-v1"]),
    dict(file="v0.2-embedded-tiny-mlp.bbc", release="0.2",
         covers="format 3: an embedded MLP VAE (its card and amortized encoder as 0.2 stored "
                "them): a tiny seeded model (784-8-2, bernoulli) made by 0.2's own code, "
                "given by path; decodes only from the archive's copy",
         make_model="tiny-mlp",
         inputs=bin_digits(13, 14),
         options=["-m", "tiny-mlp", "--embed-model", "--no-fallback", "-T", "1"],
         check=lambda s: s["version"] == 3 and s["embedded"] == ["tiny-mlp"]
         and models_of(s) == {("binary", "tiny-mlp", "amortized")}),
    dict(file="v0.2-chains.bbc", release="0.2",
         covers="2 chains (-T 2): two sections of one model, each its own ANS stack; 150 "
                "binary digits given as a folder (names with a '/'); format 1 from 0.2",
         inputs=["digits150"], options=["-T", "2"],
         check=lambda s: s["version"] == 1 and len(s["sections"]) == 2
         and len(models_of(s)) == 1 and sum(x["images"] for x in s["sections"]) == 150),
    dict(file="v0.3-one-image.bbc", release="0.3",
         covers="format 4: the compact header of a one-image archive, coded by the greyscale "
                "default of 0.3 (mnist-greyscale-local-v2)",
         inputs=grey_digits(15), options=["-T", "1"],
         check=lambda s: s["version"] == 4 and s["compact"]
         and models_of(s) == {("greyscale", "mnist-greyscale-local-v2", "none")}),
    dict(file="v0.3-one-image-classic.bbc", release="0.3",
         covers="format 4: a compact one-image archive holding a classic blob (12x9 noise, raw)",
         inputs=["noise-12x9.png"], options=["-T", "1"],
         check=lambda s: s["version"] == 4 and s["compact"] and codecs_of(s) == {"raw"}),
    dict(file="v0.3-conv.bbc", release="0.3",
         covers="the conv family (mnist-greyscale-conv-v1, opt-in, -m) at level 4 (2 particles, "
                "format 2; one warm-up batch, then batches with both particles), with a 30x41 "
                "image (padded tiles through the conv net)",
         inputs=grey_digits(16, 17) + ["digit-30x41.png"],
         options=["-m", "mnist-greyscale-conv-v1", "--no-fallback", "-T", "1"],
         check=lambda s: s["version"] == 2 and levels_of(s) == {(2, 0)}
         and all(0 < x["warmup"] < x["batches"] for x in s["sections"])
         and models_of(s) == {("greyscale", "mnist-greyscale-conv-v1", "amortized")}),
    dict(file="v0.3-fashion-local-mlp.bbc", release="0.3",
         covers="format 1 from 0.3: fashion-greyscale-local-v1 and the MLP mnist-binary at "
                "level 1 (plain bits-back) with the amortized encoder",
         inputs=bin_digits(18, 19) + grey_digits(18, 19),
         options=["-m", "fashion-greyscale-local-v1", "-m", "mnist-binary", "--encoder", "amortized",
                  "-l", "1", "--no-fallback", "-T", "1"],
         check=lambda s: s["version"] == 1 and models_of(s) == {
             ("binary", "mnist-binary", "amortized"), ("greyscale", "fashion-greyscale-local-v1", "none")}),
    dict(file="v0.4-default.bbc", release="0.4",
         covers="0.4's defaults (format 3): mnist-binary-local-v1, mnist-greyscale-local-v2 "
                "and classic sections (greyscale noise: raw, flat: WebP; binary stripes: WebP), "
                "model choice with header costs; a binary image stored as mode L",
         inputs=bin_digits(20, 21) + grey_digits(20, 21, 22)
         + ["digit-binary-L.png", "noise.png", "flat.png", "stripes-binary-30x41.pbm"],
         options=["-T", "1"],
         check=lambda s: s["version"] == 3 and {"raw", "webp"} <= codecs_of(s, "greyscale")
         and codecs_of(s, "binary") == {"webp"} and {
             ("binary", "mnist-binary-local-v1", "none"),
             ("greyscale", "mnist-greyscale-local-v2", "none")} <= models_of(s)),
    dict(file="v0.4-conv-level9.bbc", release="0.4",
         covers="the conv family at level 9 (16 particles in the header, format 2) where "
                "every batch is a warm-up batch (two digits never pay for 16 particles)",
         inputs=grey_digits(23, 12),
         options=["-m", "mnist-greyscale-conv-v1", "-l", "9", "--no-fallback", "-T", "1"],
         check=lambda s: s["version"] == 2 and levels_of(s) == {(16, 0)}
         and all(x["warmup"] == x["batches"] for x in s["sections"])),
    dict(file="v0.4-one-image-mlp.bbc", release="0.4",
         covers="format 4 with a latent: a compact one-image archive coded by the MLP VAE "
                "mnist-greyscale at level 3 (5 refinement steps in the compact coder fields)",
         inputs=grey_digits(13), options=["-m", "mnist-greyscale", "-l", "3", "--no-fallback", "-T", "1"],
         check=lambda s: s["version"] == 4 and s["compact"] and levels_of(s) == {(1, 5)}),
]

TINY_MLP = """\
import numpy as np, torch
from bbcompress.model.config import VAEConfig
from bbcompress.model.vae import VAE, checkpoint_from_vae
vae = VAE(VAEConfig("bernoulli", 784, (8,), 2))
rng = np.random.default_rng(7)
with torch.no_grad():
    for p in vae.parameters():
        fan_in = p.shape[-1] if p.ndim == 2 else 8
        p.copy_(torch.from_numpy(rng.normal(0, 1 / np.sqrt(fan_in), p.shape)).float())
checkpoint_from_vae(vae.eval(), {"data": "mnist10k-binary", "epoch": 0},
                    {"method": "amortized", "data": "mnist10k-binary", "epochs": 0}).save("tiny-mlp")
"""


def save(pixels: np.ndarray, path: Path, mode: str) -> None:
    image = Image.fromarray(pixels.astype(bool) if mode == "1" else pixels.astype(np.uint8))
    assert image.mode == mode, (path, image.mode)
    image.save(path)


def make_inputs(folder: Path) -> None:
    """Every input image, deterministically (the sample digits are copied byte for byte)."""
    for kind in ("binary", "greyscale"):
        for path in sorted((SAMPLES / kind).iterdir()):
            shutil.copyfile(path, folder / path.name)
    rng = np.random.default_rng(2026)
    save(rng.integers(0, 256, (28, 28)), folder / "noise.png", "L")
    save(rng.integers(0, 256, (9, 12)), folder / "noise-12x9.png", "L")
    save(rng.integers(0, 2, (28, 28)), folder / "noise-binary.pbm", "1")
    save(np.full((28, 28), 200), folder / "flat.png", "L")
    save(np.repeat(np.arange(16)[:, None] * 5, 64, axis=1), folder / "vgrad-64x16.png", "L")
    y, x = np.mgrid[0:41, 0:30]
    save((y // 3) % 2, folder / "stripes-binary-30x41.pbm", "1")
    ring = ((x - 14.5) / 12) ** 2 + ((y - 20) / 17) ** 2
    save((ring < 1) & (ring > 0.45), folder / "blob-30x41.pbm", "1")
    canvas = np.zeros((41, 30), np.uint8)
    canvas[6:34, 1:29] = np.asarray(Image.open(SAMPLES / "greyscale" / "test-0010.png"))
    save(canvas, folder / "digit-30x41.png", "L")
    digit = np.asarray(Image.open(SAMPLES / "binary" / "test-0011.pbm")).astype(np.uint8)
    save(digit * 255, folder / "digit-binary-L.png", "L")
    shutil.copyfile(SAMPLES / "greyscale" / "test-0002.png", folder / "zwei-\u00fc\u00df.png")
    (folder / "digits150").mkdir()
    for i, pixels in enumerate(np.load(MNIST)["x_test"][:150]):
        save(pixels > 127, folder / "digits150" / f"{i:05d}.pbm", "1")


def read_header(data: bytes) -> tuple[int, int, object]:
    """(format version, flags, header JSON): the container's documented layout."""
    magic, version, flags, length = struct.unpack_from("<8sBBI", data)
    assert magic == b"\x89BBC\r\n\x1a\n"
    stored = data[14:14 + length]
    if flags & 1:
        stored = lzma.decompress(stored, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}])
    return version, flags, json.loads(stored)


def summarize(data: bytes) -> dict:
    """What a fixture holds, from its header (keyed or compact)."""
    version, flags, header = read_header(data)
    compact = isinstance(header, list)
    sections = []
    for entry in header if compact else header["sections"]:
        if compact:
            kind, model, coder, blobs, images, words, content = entry
            model = model and dict(zip(("name", "encoder", "fingerprint"), model))
            coder = coder and dict(zip(("latents", "latent_bits", "schedule", "initial_bits", "particles",
                                        "refine_steps", "warmup"), coder))
            entry = {"kind": kind, "model": model, "coder": coder, "blobs": blobs, "images": images,
                     "content_sha256": content}
        row = {"kind": entry["kind"], "images": len(entry["images"])}
        if entry.get("blobs"):
            row.update(model="classic", encoder=None, codecs=sorted({codec for codec, _ in entry["blobs"]}))
        else:
            coder = entry["coder"]
            row.update(model=entry["model"]["name"], encoder=entry["model"]["encoder"],
                       latents=coder["latents"], latent_bits=coder["latent_bits"],
                       batches=len(coder["schedule"]), particles=coder.get("particles", 1),
                       refine_steps=coder.get("refine_steps", 0), warmup=coder.get("warmup", 0))
        sections.append(row)
    return {"version": version, "header_lzma": bool(flags & 1), "compact": compact, "sections": sections,
            "content_sha256": compact or all("content_sha256" in s for s in header["sections"]),
            "embedded": [] if compact else [m["name"] for m in header.get("models", [])]}


def decoded_sha256(entries: list[tuple[str, Path]]) -> str:
    """The hash the manifest documents, over (stored name, restored file) in archive order."""
    digest = hashlib.sha256()
    for name, path in entries:
        with Image.open(path) as image:
            image.load()
            pixels = np.asarray(image).astype(np.uint8)
            digest.update(f"{name}|{image.mode}|{image.width}x{image.height}|".encode())
            digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


def release_env(checkout: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(checkout), BBCOMPRESS_MODELS=str(checkout / "models"),
                OMP_NUM_THREADS="1")


ENV_SHOWN = "PYTHONPATH=$REL BBCOMPRESS_MODELS=$REL/models OMP_NUM_THREADS=1"


def run(argv: list[str], checkout: Path, cwd: Path) -> str:
    done = subprocess.run(argv, cwd=cwd, env=release_env(checkout), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"failed: {shlex.join(argv)}\n{done.stdout}{done.stderr}")
    return done.stdout


def check_checkout(release: str, checkout: Path) -> str:
    """The checkout's commit; it must be the release's, and import from itself."""
    commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    if not commit.startswith(RELEASES[release]):
        raise SystemExit(f"{checkout} is at {commit[:7]}, not release {release} ({RELEASES[release]})")
    where = run([sys.executable, "-c", "import bbcompress; print(bbcompress.__file__)"], checkout, checkout)
    if not Path(where.strip()).is_relative_to(checkout.resolve()):
        raise SystemExit(f"{checkout}: bbcompress imports from {where.strip()}, not the checkout")
    version = next(line for line in (checkout / "pyproject.toml").read_text().splitlines()
                   if line.startswith("version = "))
    if version != f'version = "{release}.0"':
        raise SystemExit(f"{checkout}: {version}, not {release}.0")
    return commit


def make_fixture(spec: dict, checkout: Path, commit: str, inputs: Path) -> dict:
    python = [sys.executable, "-m", "bbcompress"]
    made = []
    if spec.get("make_model") == "tiny-mlp":
        run([sys.executable, "-c", TINY_MLP], checkout, inputs)
        made.append(f"{ENV_SHOWN} python -c {shlex.quote(TINY_MLP)}")
    argv = ["compress", *spec["inputs"], "-o", spec["file"], *spec["options"]]
    run(python + argv, checkout, inputs)
    data = (inputs / spec["file"]).read_bytes()
    summary = summarize(data)
    if not spec["check"](summary):
        raise SystemExit(f"{spec['file']} does not cover what it is for:\n{json.dumps(summary, indent=1)}")
    info = json.loads(run(python + ["info", "--json", spec["file"]], checkout, inputs))
    files = [f for section in info["sections"] for f in section["files"]]
    assert all(f["restored_as"] == f["name"] for f in files), "every name must restore as itself"
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        run(python + ["decompress", spec["file"], "-C", out], checkout, inputs)
        seconds = time.monotonic() - started
        expected = decoded_sha256([(f["name"], Path(out) / f["restored_as"]) for f in files])
    shutil.move(inputs / spec["file"], FIXTURES / spec["file"])
    return {"file": spec["file"], "release": spec["release"], "commit": commit,
            "format_version": summary["version"], "bytes": len(data),
            "file_sha256": hashlib.sha256(data).hexdigest(), "covers": spec["covers"],
            "command": f"{ENV_SHOWN} python -m bbcompress {shlex.join(argv)}",
            **({"made_first": made} if made else {}),
            "images": len(files), "sections": summary["sections"], "header_lzma": summary["header_lzma"],
            "embedded_models": summary["embedded"],
            "decoded_sha256": expected}, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="+", metavar="RELEASE=CHECKOUT",
                        help="a release (0.1 .. 0.4) and its detached checkout")
    parser.add_argument("--only", nargs="*", default=None, help="make only these fixture files")
    args = parser.parse_args()
    checkouts = {}
    for pair in args.checkouts:
        release, _, path = pair.partition("=")
        if release not in RELEASES or not path:
            raise SystemExit(f"{pair!r}: expected RELEASE=CHECKOUT, RELEASE one of {', '.join(RELEASES)}")
        checkouts[release] = Path(path).resolve()
    commits = {release: check_checkout(release, path) for release, path in checkouts.items()}
    FIXTURES.mkdir(parents=True, exist_ok=True)
    manifest_path = FIXTURES / "manifest.json"
    old = json.loads(manifest_path.read_text())["fixtures"] if manifest_path.exists() else []
    entries = {entry["file"]: entry for entry in old}
    with tempfile.TemporaryDirectory() as folder:
        for spec in SPECS:
            if spec["release"] not in checkouts or (args.only is not None and spec["file"] not in args.only):
                continue
            inputs = Path(folder) / spec["file"]
            inputs.mkdir()
            make_inputs(inputs)
            entry, seconds = make_fixture(spec, checkouts[spec["release"]], commits[spec["release"]], inputs)
            entries[spec["file"]] = entry
            print(f"{entry['file']}: {entry['bytes']} bytes, format {entry['format_version']}, "
                  f"{entry['images']} image(s), decoded by {spec['release']} in {seconds:.1f} s")
    known = [spec["file"] for spec in SPECS]
    manifest = {
        "about": "Archives written by released bbcompress versions; tests/test_old_archives.py decodes "
                 "each with today's code. Made by scripts/make_archive_fixtures.py (its docstring says how).",
        "decoded_sha256": "sha256 over, per image in archive order: f'{name}|{mode}|{width}x{height}|' "
                          "(UTF-8) then the restored file's pixels as np.asarray(PIL.Image.open(f))"
                          ".astype(uint8).tobytes(): 0/1 for mode '1', 0..255 for mode 'L'. Computed "
                          "from the files the writing release's own decompress restored.",
        "command_env": "$REL is the release's detached checkout; commands ran in the input folder "
                       "make_archive_fixtures.make_inputs builds",
        "environment": {name: version(name) for name in ("numpy", "scipy", "constriction", "pillow")}
                       | {"python": sys.version.split()[0]},
        "fixtures": [entries[name] for name in known if name in entries],
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(path.stat().st_size for path in FIXTURES.iterdir())
    print(f"{manifest_path}: {len(manifest['fixtures'])} fixtures, folder {total} bytes")


def version(package: str) -> str:
    from importlib.metadata import version as installed
    return installed(package)


if __name__ == "__main__":
    main()
