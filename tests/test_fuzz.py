"""Seeded fuzzing of crafted archives (issue 14).

A valid archive of binary and greyscale images is mutated a few hundred ways (header
values of other types, huge or negative numbers, dropped keys, duplicated entries,
swapped kinds and modes, odd names, truncated, extended or flipped payloads), each
re-packed with a valid CRC so that only the decoder's own checks can catch it. Every
case must end in exit 0 with the original images, or in one error line and exit 1 with
nothing written; nothing is ever written outside the output folder. Reproducible: case
``i`` draws from ``default_rng([SEED, i])``.
"""
from __future__ import annotations

import copy
import lzma
import os
import signal
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import (MODEL_ONLY, address_space_cap, binary_pixels, grey_pixels, model_args, repack,
                     run, run_in_child, unpack_archive, written)

pytestmark = pytest.mark.slow  # 300 crafted archives decoded, and two child processes

SEED = 14
CASES = 150  # per original archive: 300 in all
CASE_SECONDS = 20  # a case that takes longer is a hang, not a slow machine
GIB = 1 << 30
NAN, INF = float("nan"), float("inf")


# --- the valid archive ---------------------------------------------------------------------

def build_original(folder: Path, tiny_models, options: list[str]):
    """(archive bytes, header, payload, the originals as (width, height, L pixels))."""
    Image.fromarray(binary_pixels(28, 28, 40)).save(folder / "b0.pbm")
    Image.fromarray((binary_pixels(20, 35, 41) * 255).astype(np.uint8)).save(folder / "b1.png")
    Image.fromarray(binary_pixels(30, 9, 42)).save(folder / "b2.png")
    Image.fromarray(grey_pixels(28, 28, 43)).save(folder / "g0.png")
    Image.fromarray(grey_pixels(10, 40, 44)).save(folder / "g1.pgm")
    Image.fromarray(grey_pixels(33, 29, 45)).save(folder / "g2.tif")
    files = sorted(p for p in folder.iterdir())
    archive = folder / "original.bbc"
    result = run("compress", *files, "-o", archive, *model_args(tiny_models), "-q", *options)
    assert result.exit_code == 0, result.output
    data = archive.read_bytes()
    header, payload = unpack_archive(data)
    assert sorted(s["kind"] for s in header["sections"]) == ["binary", "greyscale"]
    return data, header, payload, [as_l(Image.open(f)) for f in files]


@pytest.fixture(scope="module", params=["model-coded", "default"])
def original(request, tmp_path_factory, tiny_models):
    """The archive to mutate: coded by the models only, or as compress chooses by default
    (the random pixels go to a classic codec, whose sections have other fields)."""
    options = MODEL_ONLY if request.param == "model-coded" else []
    data, header, payload, originals = build_original(tmp_path_factory.mktemp("fuzz-src"), tiny_models, options)
    classic = ["coder" not in s for s in header["sections"]]
    # the two streams fuzz different headers: by default the random pixels go to classic sections
    assert any(classic) is (request.param == "default"), [sorted(s) for s in header["sections"]]
    return data, header, payload, originals, request.param_index


@pytest.fixture(scope="module")
def model_coded(tmp_path_factory, tiny_models):
    built = build_original(tmp_path_factory.mktemp("model-coded"), tiny_models, MODEL_ONLY)
    assert all("coder" in s for s in built[1]["sections"]), "not model-coded sections"
    return built


def as_l(image: Image.Image) -> tuple[int, int, bytes]:
    """An image's content whatever its mode ('1' and 0/255 'L' compare equal)."""
    return image.size + (image.convert("L").tobytes(),)


# --- mutations -----------------------------------------------------------------------------

WEIRD = [None, True, False, 0, -1, 1, 2 ** 31, 2 ** 63, -2 ** 63, 10 ** 30, 0.5, 1e308, NAN, INF,
         "", "x", "../x", "L", "binary", [], {}, [1], {"a": 1}, [[]]]
HUGE = [0, -1, -2 ** 31, 65535, 65536, 2 ** 27 + 1, 2 ** 31 - 1, 2 ** 32, 2 ** 62, 10 ** 18]
MODES = ["1", "L", "RGB", "P", "I", "", "l", "LA", "1 "]
SIZES = [0, -1, -28, 1, 27, 28, 29, 56, 65535, 65536, 70000, 2 ** 31, 16384]


def odd_names(sentinel: Path) -> list[str]:
    return ["../evil.png", "../../sentinel/pwn.png", str(sentinel / "pwn.png"), "/abs.png",
            "a\\b.png", "..\\evil.png", "a\x00b.png", "a\x01.png", "a\x1f.png", "a\x7f.png",
            "new\nline.png", ".", "..", "", "/", "a/", "a//b.png", "./a.png", "x" * 256 + ".png",
            "x" * 251 + ".jpg", "/".join(["d" * 200] * 21) + "/x.png", "\u00e9" * 130 + ".png",
            "\u202eevil.png", "A.png", "a.png", "B0.PBM", "b0.pbm", "b0.pbm/inner.png",
            "g0.png", "G0.png", "renamed.png", "sub/dir/renamed.tif", "x.jpg", "x.jpg.png",
            "doc.pdf", "CON", "nul.png", " spaced .png"]


def all_paths(node, prefix=()):
    """Every path (tuple of keys and indexes) into a JSON tree, below the root."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        yield prefix + (key,)
        yield from all_paths(child, prefix + (key,))


def at(node, path):
    for key in path:
        node = node[key]
    return node


def pick(rng, values):
    return values[int(rng.integers(len(values)))]


def tiles(width, height) -> int:
    return -(-width // 28) * -(-height // 28)


def sections_of(header) -> list[dict]:
    sections = header.get("sections") if isinstance(header, dict) else None
    return [s for s in sections if isinstance(s, dict)] if isinstance(sections, list) else []


def images_of(header) -> list[list]:
    return [i for s in sections_of(header) if isinstance(s.get("images"), list)
            for i in s["images"] if isinstance(i, list) and len(i) == 4]


def matching_schedule(section: dict) -> None:
    """Make a section's schedule cover its images again (where their sizes allow)."""
    try:
        total = sum(tiles(w, h) for _, w, h, _ in section["images"])
        if total > 0 and isinstance(section.get("coder"), dict):
            section["coder"]["schedule"] = [total]
    except (TypeError, ValueError, KeyError):
        pass


def retype(rng, header, payload, ctx):
    paths = list(all_paths(header))
    if not paths:
        return header, payload, "retype: nothing"
    path, value = pick(rng, paths), pick(rng, WEIRD)
    at(header, path[:-1])[path[-1]] = copy.deepcopy(value)
    return header, payload, f"retype {path} = {value!r}"


def renumber(rng, header, payload, ctx):
    paths = [p for p in all_paths(header) if type(at(header, p)) is int]
    if not paths:
        return header, payload, "renumber: nothing"
    path = pick(rng, paths)
    old = at(header, path)
    value = pick(rng, HUGE + [old + 1, old - 1, old * 1000, -old])
    at(header, path[:-1])[path[-1]] = value
    return header, payload, f"renumber {path} {old} -> {value}"


def drop(rng, header, payload, ctx):
    paths = list(all_paths(header))
    if not paths:
        return header, payload, "drop: nothing"
    path = pick(rng, paths)
    del at(header, path[:-1])[path[-1]]
    return header, payload, f"drop {path}"


def duplicate_image(rng, header, payload, ctx):
    sections = [s for s in sections_of(header) if isinstance(s.get("images"), list) and s["images"]]
    if not sections:
        return header, payload, "duplicate image: nothing"
    section = pick(rng, sections)
    entry = copy.deepcopy(pick(rng, section["images"]))
    section["images"].append(entry)
    consistent = bool(rng.integers(2))
    if consistent:
        matching_schedule(section)
    return header, payload, f"duplicate image {entry!r} (schedule fixed: {consistent})"


def duplicate_section(rng, header, payload, ctx):
    """A copy of a section with its payload words copied too: a consistent duplicate."""
    sections = header.get("sections") if isinstance(header, dict) else None
    if not isinstance(sections, list) or not sections:
        return header, payload, "duplicate section: nothing"
    index = int(rng.integers(len(sections)))
    if all(isinstance(s, dict) and type(s.get("words")) is int for s in sections[:index + 1]):
        start = 4 * sum(s["words"] for s in sections[:index])
        chunk = payload[start:start + 4 * max(sections[index]["words"], 0)]
    else:
        chunk = b""
    copied = copy.deepcopy(sections[index])
    renamed = bool(rng.integers(2))
    if renamed and isinstance(copied, dict) and isinstance(copied.get("images"), list):
        for image in copied["images"]:
            if isinstance(image, list) and image and isinstance(image[0], str):
                image[0] = "copy-" + image[0]
    sections.append(copied)
    return header, payload + chunk, f"duplicate section {index} (renamed: {renamed})"


def swap_kind(rng, header, payload, ctx):
    sections = sections_of(header)
    if not sections:
        return header, payload, "swap kind: nothing"
    section = pick(rng, sections)
    section["kind"] = {"binary": "greyscale", "greyscale": "binary"}.get(section.get("kind"), "binary")
    return header, payload, f"kind -> {section['kind']}"


def swap_mode(rng, header, payload, ctx):
    images = images_of(header)
    if not images:
        return header, payload, "swap mode: nothing"
    image = pick(rng, images)
    image[3] = pick(rng, MODES)
    return header, payload, f"mode of {image[0]!r} -> {image[3]!r}"


def rename(rng, header, payload, ctx):
    images = images_of(header)
    if not images:
        return header, payload, "rename: nothing"
    image = pick(rng, images)
    image[0] = pick(rng, ctx["names"])
    return header, payload, f"rename -> {image[0]!r}"


def resize(rng, header, payload, ctx):
    sections = [s for s in sections_of(header) if isinstance(s.get("images"), list)]
    images = [(s, i) for s in sections for i in s["images"] if isinstance(i, list) and len(i) == 4]
    if not images:
        return header, payload, "resize: nothing"
    section, image = pick(rng, images)
    side = 1 + int(rng.integers(2))
    image[side] = pick(rng, SIZES)
    # a matching schedule only where the size is refused or small: a large valid claim
    # would make an honest decoder work for minutes
    w, h = image[1], image[2]
    sized = type(w) is int and type(h) is int
    consistent = (bool(rng.integers(2)) and sized
                  and (w * h > 2 ** 27 or max(w, h) > 65535 or w * h <= 4096))
    if consistent:
        matching_schedule(section)
    return header, payload, f"resize {image[0]!r} -> {w}x{h} (schedule fixed: {consistent})"


def reschedule(rng, header, payload, ctx):
    coders = [s["coder"] for s in sections_of(header)
              if isinstance(s.get("coder"), dict) and isinstance(s["coder"].get("schedule"), list)
              and s["coder"]["schedule"] and all(type(n) is int for n in s["coder"]["schedule"])]
    if not coders:
        return header, payload, "reschedule: nothing"
    coder = pick(rng, coders)
    s = coder["schedule"]
    total = sum(s)
    options = [s + [1], s[:-1] + [s[-1] + 1], s[:-1] + [s[-1] - 1], [0] + s, [total], [1] * total,
               [total - 1, 1] if total > 1 else [2], s[::-1], [2 ** 31], [-1, total + 1], []]
    coder["schedule"] = pick(rng, options)
    return header, payload, f"schedule {s} -> {coder['schedule']}"


def relatent(rng, header, payload, ctx):
    coders = [s["coder"] for s in sections_of(header) if isinstance(s.get("coder"), dict)]
    if not coders:
        return header, payload, "latents: nothing"
    coder = pick(rng, coders)
    if rng.integers(2):
        coder["latent_bits"] = pick(rng, [0, -1, 1, 2, 7, 9, 12, 13, 16, 30, 40, 8.0, "8", None])
        return header, payload, f"latent_bits -> {coder['latent_bits']!r}"
    coder["latents"] = pick(rng, ["grid", "buckets", "nope", "", None])
    return header, payload, f"latents -> {coder['latents']!r}"


def rewords(rng, header, payload, ctx):
    sections = sections_of(header)
    if not sections:
        return header, payload, "words: nothing"
    section = pick(rng, sections)
    section["words"] = pick(rng, HUGE + [section.get("words", 0)])
    return header, payload, f"words -> {section['words']}"


def cut_payload(rng, header, payload, ctx):
    count = int(rng.integers(1, 4))
    adjust = bool(rng.integers(2))
    sections = sections_of(header)
    if adjust and sections and type(sections[-1].get("words")) is int:
        sections[-1]["words"] -= count
    return header, payload[:-4 * count], f"payload cut by {count} words (header adjusted: {adjust})"


def extend_payload(rng, header, payload, ctx):
    count = int(rng.integers(1, 64))
    adjust = bool(rng.integers(2))
    sections = sections_of(header)
    if adjust and sections and type(sections[-1].get("words")) is int:
        sections[-1]["words"] += count
    extra = rng.integers(0, 2 ** 32, count, dtype=np.uint64).astype("<u4").tobytes()
    return header, payload + extra, f"payload extended by {count} words (header adjusted: {adjust})"


def flip_payload(rng, header, payload, ctx):
    if not payload:
        return header, payload, "flip: empty payload"
    flipped = bytearray(payload)
    bits = [int(b) for b in rng.integers(0, 8 * len(payload), int(rng.integers(1, 4)))]
    for bit in bits:
        flipped[bit // 8] ^= 1 << (bit % 8)
    return header, bytes(flipped), f"payload bits flipped at {bits}"


def reorder_sections(rng, header, payload, ctx):
    """Sections in the other order, payload chunks moved with them (consistent)."""
    sections = header.get("sections") if isinstance(header, dict) else None
    if not isinstance(sections, list) or not all(
            isinstance(s, dict) and type(s.get("words")) is int and s["words"] >= 0 for s in sections):
        return header, payload, "reorder: not applicable"
    bounds = [4 * sum(s["words"] for s in sections[:i]) for i in range(len(sections) + 1)]
    chunks = [payload[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    header["sections"] = sections[::-1]
    return header, b"".join(chunks[::-1]) + payload[bounds[-1]:], "sections reordered"


def extra_key(rng, header, payload, ctx):
    targets = [header] + sections_of(header)
    target = pick(rng, targets)
    if isinstance(target, dict):
        target[pick(rng, ["extra", "version", "images", "sections", "kind"]) + "_x"] = pick(rng, WEIRD)
    return header, payload, "extra key"


MUTATIONS = [retype, renumber, drop, duplicate_image, duplicate_section, swap_kind, swap_mode,
             rename, rename, resize, reschedule, relatent, rewords, cut_payload, extend_payload,
             flip_payload, reorder_sections, extra_key]


def mutated(case: int, header: dict, payload: bytes, ctx) -> tuple[dict, bytes, list[str]]:
    rng = np.random.default_rng([SEED, ctx["stream"], case])
    header, steps = copy.deepcopy(header), []
    for _ in range(int(rng.integers(1, 4))):
        mutation = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
        header, payload, step = mutation(rng, header, payload, ctx)
        steps.append(step)
    return header, payload, steps


# --- the fuzz test -------------------------------------------------------------------------

class CaseTimeout(BaseException):
    """Raised by the watchdog; BaseException so that CliRunner does not swallow it."""


def problems_of(result, out: Path, originals) -> list[str]:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return [f"crashed: {result.exception!r}"]
    problems = []
    if result.exit_code not in (0, 1):
        problems.append(f"exit status {result.exit_code}")
    if "Traceback" in result.output:
        problems.append("traceback in the output")
    if result.exit_code == 1:
        lines = result.stderr.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("bbcompress: error:"):
            problems.append(f"not one error line: {result.stderr!r}")
        if written(out):
            problems.append(f"failed but wrote {written(out)[:5]}")
    elif result.exit_code == 0:
        for path in (out / p for p in written(out)):
            if path.is_symlink():
                problems.append(f"wrote a symlink {path}")
            elif path.is_file():
                try:
                    content = as_l(Image.open(path))
                except Exception as e:  # noqa: BLE001 (any unreadable output is the finding)
                    problems.append(f"wrote an unreadable image {path.name}: {e!r}")
                    continue
                if content not in originals:
                    problems.append(f"exit 0 but {path.relative_to(out)} is not one of the original images")
    return problems


def test_crafted_archives_fail_cleanly_and_write_nothing_outside(tmp_path, original, tiny_models, monkeypatch):
    data, header, payload, originals, stream = original
    archives, outs, sentinel, cwd = (tmp_path / n for n in ("archives", "outs", "sentinel", "cwd"))
    for folder in (archives, outs, sentinel, cwd):
        folder.mkdir()
    monkeypatch.chdir(cwd)  # a name taken relative to the working folder would land here
    ctx = {"names": odd_names(sentinel), "stream": stream}

    def alarm(signum, frame):
        raise CaseTimeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    failures, exits = [], {0: 0, 1: 0}
    try:
        with address_space_cap():
            for case in range(CASES):
                crafted_header, crafted_payload, steps = mutated(case, header, payload, ctx)
                archive, out = archives / f"case-{case:03d}.bbc", outs / f"case-{case:03d}"
                archive.write_bytes(repack(crafted_header, crafted_payload, data[8]))
                out.mkdir()
                signal.alarm(CASE_SECONDS)
                try:
                    result = run("decompress", archive, "-o", out, *model_args(tiny_models), "-q")
                except CaseTimeout:
                    failures.append((case, steps, [f"took over {CASE_SECONDS} s"]))
                    continue
                except KeyboardInterrupt:
                    raise
                except BaseException as e:  # noqa: BLE001 (e.g. a Rust panic, which CliRunner lets through)
                    failures.append((case, steps, [f"crashed: {e!r}"]))
                    continue
                finally:
                    signal.alarm(0)
                exits[result.exit_code] = exits.get(result.exit_code, 0) + 1
                problems = problems_of(result, out, originals)
                if problems:
                    failures.append((case, steps, problems))
    finally:
        signal.signal(signal.SIGALRM, previous)
    print(f"\nfuzz: {CASES} crafted archives, exit 0: {exits.get(0, 0)}, exit 1: {exits.get(1, 0)}, "
          f"other: {CASES - exits.get(0, 0) - exits.get(1, 0)}, failing cases: {len(failures)}")

    assert written(sentinel) == [], f"written outside the output folder: {written(sentinel)}"
    assert written(cwd) == [], f"written into the working folder: {written(cwd)}"
    assert sorted(os.listdir(tmp_path)) == ["archives", "cwd", "outs", "sentinel"]
    assert sorted(os.listdir(archives)) == [f"case-{i:03d}.bbc" for i in range(CASES)]
    assert sorted(os.listdir(outs)) == [f"case-{i:03d}" for i in range(CASES)]
    report = "\n".join(f"case {case} ({'; '.join(steps)}): {'; '.join(problems)}"
                       for case, steps, problems in failures[:15])
    assert not failures, f"{len(failures)} of {CASES} crafted archives mishandled:\n{report}"
    assert exits.get(0, 0) > 0 and exits.get(1, 0) > 0, "the mutations no longer cover both outcomes"


# --- memory: the nastiest claims a small archive can make ---------------------------------------

def with_stored_header(stored: bytes, payload: bytes, version: int) -> bytes:
    """An archive whose header is given already LZMA-compressed (CRC valid)."""
    from bbcompress.io.archive import PREFIX
    body = PREFIX.pack(b"\x89BBC\r\n\x1a\n", version, 1, len(stored)) + stored + payload
    return body + struct.pack("<I", zlib.crc32(body))


def header_of_tiny_entries(inflated_bytes: int) -> bytes:
    """An LZMA2 header that inflates to ``inflated_bytes`` of one-pixel image entries.
    Encoded with a small dictionary (fast), decodable with the writers' filters."""
    compressor = lzma.LZMACompressor(format=lzma.FORMAT_RAW,
                                     filters=[{"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": 1 << 20}])
    entry = b'["a",1,1,"L"],'
    chunk = entry * (1 << 16)
    stored = [compressor.compress(b'{"sections":[{"kind":"greyscale","images":[')]
    for _ in range(inflated_bytes // len(chunk)):
        stored.append(compressor.compress(chunk))
    stored.append(compressor.compress(b'["a",1,1,"L"]],"words":0,"pixel_sha256":"0",'
                                      b'"model":{"name":"m","encoder":"amortized","fingerprint":"0"},'
                                      b'"coder":{"latents":"buckets","latent_bits":8,"schedule":[1]}}]}'))
    return b"".join(stored) + compressor.flush()


def test_the_nastiest_small_archives_decode_in_bounded_memory(tmp_path, model_coded, tiny_models):
    """Each crafted archive is at most 64 KB; decoded one after another in a fresh process,
    each is refused in one line and the process never holds 1 GiB."""
    data, header, payload, _ = model_coded
    version = data[8]
    grey = next(i for i, s in enumerate(header["sections"]) if s["kind"] == "greyscale")

    def greyscale(edit):
        crafted = copy.deepcopy(header)
        edit(crafted["sections"][grey])
        return repack(crafted, payload, version)

    def images(sizes):
        def edit(section):
            section["images"] = [[f"i{n}.png", w, h, "L"] for n, (w, h) in enumerate(sizes)]
            section["coder"]["schedule"] = [sum(tiles(w, h) for w, h in sizes)]
        return edit

    def coder(key, value):
        def edit(section):
            section["coder"][key] = value
        return edit

    nasty = {
        "65535-square": greyscale(images([(65535, 65535)])),
        "many-images-over-2^27-pixels": greyscale(images([(164, 164)] * 5000)),
        "latent-bits-40": greyscale(coder("latent_bits", 40)),
        "latent-bits-30": greyscale(coder("latent_bits", 30)),
        "batch-of-2^31": greyscale(coder("schedule", [2 ** 31 - 1])),
        "header-inflating-to-200MB": with_stored_header(header_of_tiny_entries(200 << 20), b"", version),
        "header-inflating-to-15MB": with_stored_header(header_of_tiny_entries(15 << 20), b"", version),
    }
    commands = [["decompress", tmp_path / "valid.bbc", "-o", tmp_path / "out-valid", *model_args(tiny_models), "-q"]]
    (tmp_path / "valid.bbc").write_bytes(data)
    for name, archive in nasty.items():
        assert len(archive) <= 64 * 1024, f"{name}: {len(archive)} bytes"
        (tmp_path / f"{name}.bbc").write_bytes(archive)
        commands.append(["decompress", tmp_path / f"{name}.bbc", "-o", tmp_path / f"out-{name}",
                         *model_args(tiny_models), "-q"])
    results, peak_rss = run_in_child(commands, tmp_path, timeout=180)
    assert results[0]["exit"] == 0, results[0]
    for name, result in zip(nasty, results[1:]):
        assert result["crash"] is None and result["exit"] == 1, (name, result)
        lines = result["stderr"].strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("bbcompress: error:"), (name, result)
        assert written(tmp_path / f"out-{name}") == [], name
    assert peak_rss < GIB, f"peak RSS {peak_rss / GIB:.2f} GiB"
