"""Hostile archives and careless users (issue 14).

What bbcompress promises, each part checked here: every refusal is one
``bbcompress: error:`` line and exit status 1; nothing is written outside the output
folder, and nothing at all when decoding fails; images come back losslessly or not at
all; no header field changes the output unnoticed; a crafted header cannot claim
unbounded memory. Crafted archives are re-packed with a valid CRC (``repack``), so only
the decoder's own checks stand between them and the disk.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from bbcompress.cli import main
from helpers import (Base, address_space_cap, assert_clean_failure, binary_pixels, crafted,
                     grey_pixels, model_args, refused_at_decode, repack, run, run_compress, run_decompress,
                     run_in_child, unpack_archive, written)

GIB = 1 << 30
MAX_PIXELS = 2 ** 27


# --- fixtures and helpers ---------------------------------------------------------------

def assert_restores_base(out: Path, base: Base) -> None:
    assert written(out) == sorted(base.originals)
    for name, original in base.originals.items():
        a, b = Image.open(original), Image.open(out / name)
        assert (a.mode, a.size) == (b.mode, b.size), name
        assert np.array_equal(np.asarray(a), np.asarray(b)), name


def test_a_repacked_archive_still_decodes(tmp_path, base, tiny_models):
    """The crafting helpers change nothing by themselves: what the tests below craft is
    refused for what they change, not for how it was re-packed."""
    result = run_decompress(crafted(tmp_path, base), tmp_path / "out", tiny_models)
    assert result.exit_code == 0, result.output
    assert_restores_base(tmp_path / "out", base)


# --- 1. output paths ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def linkdir_archive(tmp_path_factory, tiny_models) -> Path:
    """An honest archive holding the one stored name ``linkdir/x.png``."""
    folder = tmp_path_factory.mktemp("linkdir-src")
    (folder / "linkdir").mkdir()
    Image.fromarray(grey_pixels(28, 28, 5)).save(folder / "linkdir" / "x.png")
    archive = folder / "linkdir.bbc"
    assert run_compress([folder / "linkdir"], archive, tiny_models).exit_code == 0
    header, _ = unpack_archive(archive.read_bytes())
    assert [i[0] for s in header["sections"] for i in s["images"]] == ["linkdir/x.png"]
    return archive


@pytest.mark.parametrize("force", [False, True], ids=["plain", "with-f"])
def test_a_symlinked_folder_in_the_output_is_not_followed(tmp_path, linkdir_archive, tiny_models, force):
    elsewhere, out = tmp_path / "elsewhere", tmp_path / "out"
    elsewhere.mkdir()
    out.mkdir()
    (out / "linkdir").symlink_to(elsewhere, target_is_directory=True)
    result = run_decompress(linkdir_archive, out, tiny_models, *(["-f"] if force else []))
    assert_clean_failure(result)
    assert written(elsewhere) == [], "decompress wrote through a symlink"
    assert written(out) == ["linkdir"] and os.readlink(out / "linkdir") == str(elsewhere)


@pytest.mark.parametrize("force", [False, True], ids=["plain", "with-f"])
def test_a_dangling_symlink_at_a_target_name_is_left_alone(tmp_path, base, tiny_models, force):
    elsewhere, out = tmp_path / "elsewhere", tmp_path / "out"
    elsewhere.mkdir()
    out.mkdir()
    (out / "g0.png").symlink_to(elsewhere / "created.png")
    result = run_decompress(crafted(tmp_path, base), out, tiny_models, *(["-f"] if force else []))
    assert_clean_failure(result)
    assert written(elsewhere) == []
    assert written(out) == ["g0.png"] and os.readlink(out / "g0.png") == str(elsewhere / "created.png")


def test_a_symlink_to_a_file_is_not_written_through_even_with_force(tmp_path, base, tiny_models):
    victim, out = tmp_path / "victim.png", tmp_path / "out"
    victim.write_bytes(b"not yours")
    out.mkdir()
    (out / "g0.png").symlink_to(victim)
    assert_clean_failure(run_decompress(crafted(tmp_path, base), out, tiny_models, "-f"))
    assert victim.read_bytes() == b"not yours"
    assert (out / "g0.png").is_symlink() and written(out) == ["g0.png"]


@pytest.mark.parametrize("force", [False, True], ids=["plain", "with-f"])
def test_a_stored_folder_that_is_a_file_in_the_output_is_refused(tmp_path, linkdir_archive, tiny_models, force):
    out = tmp_path / "out"
    out.mkdir()
    (out / "linkdir").write_bytes(b"a file, not a folder")
    assert_clean_failure(run_decompress(linkdir_archive, out, tiny_models, *(["-f"] if force else [])))
    assert (out / "linkdir").read_bytes() == b"a file, not a folder" and written(out) == ["linkdir"]


UNSAFE_NAMES = {
    "control-01": "a\x01b.png",
    "control-1f": "a\x1fb.png",
    "del-7f": "a\x7fb.png",
    "nul": "a\x00b.png",
    "newline": "a\nb.png",
    "component-256-bytes": "x" * 252 + ".png",
    "component-256-bytes-in-130-characters": "\u00e9" * 126 + ".png",
    "restored-component-over-255": "x" * 251 + ".jpg",  # '.png' is appended on restore
    "total-over-4096-bytes": "/".join(["d" * 200] * 21) + "/x.png",
    "empty": "",
    "dotdot": "..",
    "dotdot-prefix": "../x.png",
    "dotdot-inside": "a/../../x.png",
    "absolute": "/escaped.png",  # made absolute under tmp_path by the test
    "backslash": "a\\b.png",
    "backslash-dotdot": "..\\x.png",
}


@pytest.mark.parametrize("name", UNSAFE_NAMES.values(), ids=UNSAFE_NAMES.keys())
def test_unsafe_stored_names_are_refused_at_decode(tmp_path, base, tiny_models, name):
    if name.startswith("/"):
        name = str(tmp_path / "escaped.png")

    def rename(header):
        base.section(header, "greyscale")["images"][0][0] = name
    refused_at_decode(tmp_path, tiny_models, crafted(tmp_path, base, rename))
    assert sorted(os.listdir(tmp_path)) == ["crafted.bbc", "out"], "written outside the output folder"


def test_the_longest_allowed_component_is_restored(tmp_path, tiny_models):
    longest = "y" * 251 + ".png"  # 255 bytes: the limit, not over it
    (tmp_path / "src").mkdir()
    Image.fromarray(grey_pixels(28, 28, 6)).save(tmp_path / "src" / longest)
    archive = tmp_path / "long.bbc"
    assert run_compress([tmp_path / "src" / longest], archive, tiny_models).exit_code == 0
    result = run_decompress(archive, tmp_path / "out", tiny_models)
    assert result.exit_code == 0, result.output
    restored = np.asarray(Image.open(tmp_path / "out" / longest))
    assert np.array_equal(restored, grey_pixels(28, 28, 6))


COLLIDING = [("x.png", "x.png"), ("A.png", "a.png"), ("Dir/x.png", "dir/x.png"),
             ("x.jpg", "x.jpg.png"), ("d.png", "d.png/x.png")]


@pytest.mark.parametrize("where", ["same-section", "across-sections"])
@pytest.mark.parametrize("first, second", COLLIDING, ids=[f"{a}|{b}" for a, b in COLLIDING])
def test_names_that_collide_are_refused_at_decode(tmp_path, base, tiny_models, first, second, where):
    def rename(header):
        a = base.section(header, "binary")["images"]
        b = a if where == "same-section" else base.section(header, "greyscale")["images"]
        a[0][0], b[1 if where == "same-section" else 0][0] = first, second
    refused_at_decode(tmp_path, tiny_models, crafted(tmp_path, base, rename))


@pytest.mark.parametrize("first, second", [("x.png", "x.png"), ("A.png", "a.png"), ("Pic.PNG", "pic.png")])
def test_compress_refuses_inputs_stored_under_names_equal_but_for_case(tmp_path, tiny_models, first, second):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    Image.fromarray(grey_pixels(28, 28, 7)).save(tmp_path / "one" / first)
    Image.fromarray(grey_pixels(28, 28, 8)).save(tmp_path / "two" / second)
    archive = tmp_path / "a.bbc"
    assert_clean_failure(run_compress([tmp_path / "one" / first, tmp_path / "two" / second], archive, tiny_models))
    assert not archive.exists()


# --- 2. lossless restore --------------------------------------------------------------------

LOSSY_OR_UNKNOWN = {"x.jpg": "x.jpg.png", "X2.JPG": "X2.JPG.png", "y.webp": "y.webp.png",
                    "z.pdf": "z.pdf.png"}
LOSSLESS = ["a.png", "k.PNG", "b.pbm", "c.pgm", "d.ppm", "e.pnm", "f.bmp", "g.tif", "h.tiff"]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, tiny_models) -> tuple[Path, dict[str, Path]]:
    """An archive of images under lossy, unknown and lossless suffixes: (archive, files).
    x.jpg and X2.JPG are real greyscale JPEGs; y.webp and z.pdf hold PNG data (Pillow
    reads by content), so only the stored name says 'lossy' or 'unknown'."""
    folder = tmp_path_factory.mktemp("mixed")
    ramp = np.add.outer(np.arange(28) * 7, np.arange(28) * 2) + grey_pixels(28, 28, 9) // 16
    Image.fromarray(np.clip(ramp, 0, 255).astype(np.uint8)).save(folder / "x.jpg", quality=75)
    Image.fromarray(grey_pixels(30, 20, 10)).save(folder / "X2.JPG", format="JPEG", quality=60)
    Image.fromarray(grey_pixels(28, 28, 11)).save(folder / "y.webp", format="PNG")
    Image.fromarray(grey_pixels(28, 28, 12)).save(folder / "z.pdf", format="PNG")
    for seed, name in enumerate(LOSSLESS):
        pixels = binary_pixels(20, 30, seed) if name in ("b.pbm", "h.tiff") else grey_pixels(20, 30, seed)
        Image.fromarray(pixels).save(folder / name)
    files = {name: folder / name for name in [*LOSSY_OR_UNKNOWN, *LOSSLESS]}
    assert Image.open(files["x.jpg"]).mode == "L" and Image.open(files["x.jpg"]).format == "JPEG"
    archive = folder / "mixed.bbc"
    result = run_compress(files.values(), archive, tiny_models)
    assert result.exit_code == 0, result.output
    return archive, files


def test_greyscale_jpeg_is_restored_losslessly_as_png(tmp_path, tiny_models):
    original = tmp_path / "photo.jpg"
    ramp = np.add.outer(np.arange(28) * 9, np.arange(28) * 3) % 256
    Image.fromarray(ramp.astype(np.uint8)).save(original, quality=50)
    archive = tmp_path / "photo.bbc"
    assert run_compress([original], archive, tiny_models).exit_code == 0
    out = tmp_path / "out"
    assert run_decompress(archive, out, tiny_models).exit_code == 0
    assert written(out) == ["photo.jpg.png"]
    restored = Image.open(out / "photo.jpg.png")
    assert restored.format == "PNG" and restored.mode == "L"
    assert np.array_equal(np.asarray(restored), np.asarray(Image.open(original)))
    assert run("test", archive, *model_args(tiny_models)).exit_code == 0


def test_every_image_is_restored_in_a_lossless_format(tmp_path, mixed, tiny_models):
    archive, files = mixed
    out = tmp_path / "out"
    result = run_decompress(archive, out, tiny_models)
    assert result.exit_code == 0, result.output
    expected = {**LOSSY_OR_UNKNOWN, **{n: n for n in LOSSLESS}}
    assert written(out) == sorted(expected.values())
    formats = Image.registered_extensions()
    for name, restored_as in expected.items():
        original, restored = Image.open(files[name]), Image.open(out / restored_as)
        wanted_format = "PNG" if name in LOSSY_OR_UNKNOWN else formats[Path(name).suffix.lower()]
        assert restored.format == wanted_format, name
        assert (restored.mode, restored.size) == (original.mode, original.size), name
        assert np.array_equal(np.asarray(restored), np.asarray(original)), name


def test_info_says_under_which_name_an_image_is_restored(mixed):
    archive, _ = mixed
    text = run("info", archive, "--files")
    assert text.exit_code == 0, text.output
    for name, restored_as in LOSSY_OR_UNKNOWN.items():
        line = next(line for line in text.output.splitlines() if line.strip().startswith(name + " "))
        assert restored_as in line, line
    assert "a.png.png" not in text.output
    listing = run("info", archive, "--json")
    assert listing.exit_code == 0, listing.output
    files = {f["name"]: f for row in json.loads(listing.output)["sections"] for f in row["files"]}
    for name, restored_as in LOSSY_OR_UNKNOWN.items():
        assert files[name]["restored_as"] == restored_as
    for name in LOSSLESS:
        assert files[name].get("restored_as", name) == name


# --- 3. header fields cannot change the output unnoticed -------------------------------------

@pytest.mark.parametrize("flip", ["binary-to-greyscale", "greyscale-to-binary", "swap-both"])
def test_a_flipped_section_kind_is_refused(tmp_path, base, tiny_models, flip):
    def edit(header):
        binary, greyscale = base.section(header, "binary"), base.section(header, "greyscale")
        for image in binary["images"]:
            image[3] = "L"  # a mode both kinds allow: only the kind is wrong
        if flip != "greyscale-to-binary":
            binary["kind"] = "greyscale"
        if flip != "binary-to-greyscale":
            greyscale["kind"] = "binary"
    refused_at_decode(tmp_path, tiny_models, crafted(tmp_path, base, edit))


def test_a_flipped_kind_is_refused_when_the_named_model_could_decode_it(tmp_path):
    """Uses the shipped binary model: a binary-only archive relabelled greyscale, decoded
    with no model offered, must not be decoded by the model it names and written as a
    greyscale image of 0/1 values."""
    image = tmp_path / "b.png"
    Image.fromarray((binary_pixels(28, 28, 4) * 255).astype(np.uint8)).save(image)
    archive = tmp_path / "b.bbc"
    assert run("compress", image, "-o", archive, "-q").exit_code == 0
    header, payload = unpack_archive(archive.read_bytes())
    (section,) = header["sections"]
    assert section["kind"] == "binary"
    section["kind"] = "greyscale"
    archive.write_bytes(repack(header, payload, archive.read_bytes()[8]))
    out = tmp_path / "out"
    with address_space_cap():
        result = run("decompress", archive, "-o", out, "-q")
    assert_clean_failure(result)
    assert written(out) == []


BAD_MODES = [("binary", "RGB"), ("binary", "P"), ("binary", "I;16"), ("binary", ""), ("binary", "l"),
             ("binary", 1), ("greyscale", "1"), ("greyscale", "LA"), ("greyscale", None)]


@pytest.mark.parametrize("kind, mode", BAD_MODES, ids=[f"{k}-{m!r}" for k, m in BAD_MODES])
def test_an_image_mode_its_section_cannot_hold_is_refused(tmp_path, base, tiny_models, kind, mode):
    def edit(header):
        base.section(header, kind)["images"][0][3] = mode
    refused_at_decode(tmp_path, tiny_models, crafted(tmp_path, base, edit))


@pytest.mark.parametrize("mode", ["L", "1"])
def test_a_binary_image_mode_flipped_in_the_header_is_caught_by_the_content_checksum(tmp_path, base,
                                                                                     tiny_models, mode):
    """Both modes are valid for a binary section: only the content checksum can tell."""
    def edit(header):
        images = base.section(header, "binary")["images"]
        image = next(i for i in images if i[3] != mode)
        image[3] = mode
    assert "checksum" in refused_at_decode(tmp_path, tiny_models, crafted(tmp_path, base, edit))


def tiles(width: int, height: int) -> int:
    return -(-width // 28) * -(-height // 28)


def resized(base: Base, sizes: list[tuple[int, int]]):
    """An edit giving the greyscale section images of ``sizes`` (width, height), with a
    schedule that matches them, so only the bounds on sizes can refuse it."""
    def edit(header):
        section = base.section(header, "greyscale")
        section["images"] = [[f"big{i}.png", w, h, "L"] for i, (w, h) in enumerate(sizes)]
        total = sum(tiles(w, h) for w, h in sizes)
        if all(w > 0 and h > 0 for w, h in sizes):
            section["coder"]["schedule"] = [total]
    return edit


OVERSIZED = {
    "width-0": [(0, 28)], "height-0": [(28, 0)], "width-negative": [(-1, 28)],
    "height-negative": [(28, -28)], "width-65536": [(65536, 1)], "height-65536": [(1, 65536)],
    "65535-square": [(65535, 65535)], "image-over-2^27-pixels": [(16384, 8193)],
    "section-over-2^27-pixels": [(8192, 8193), (8192, 8193)],
}


@pytest.mark.parametrize("sizes", OVERSIZED.values(), ids=OVERSIZED.keys())
def test_image_sizes_out_of_bounds_are_refused(tmp_path, base, tiny_models, sizes):
    refused_at_decode(tmp_path, tiny_models, crafted(tmp_path, base, resized(base, sizes)))


@pytest.mark.slow
def test_oversized_claims_are_refused_in_bounded_memory(tmp_path, base, tiny_models):
    """Decoded in a fresh process: its peak RSS shows no array was made for the claim."""
    commands = [["decompress", crafted(tmp_path, base, name="valid.bbc"), "-o", tmp_path / "valid",
                 *model_args(tiny_models), "-q"]]
    for case in ("65535-square", "image-over-2^27-pixels", "section-over-2^27-pixels"):
        archive = crafted(tmp_path, base, resized(base, OVERSIZED[case]), name=f"{case}.bbc")
        assert archive.stat().st_size <= 64 * 1024
        commands.append(["decompress", archive, "-o", tmp_path / case, *model_args(tiny_models), "-q"])
    results, peak_rss = run_in_child(commands, tmp_path, timeout=90)
    assert results[0]["exit"] == 0, results[0]
    for result in results[1:]:
        assert result["crash"] is None and result["exit"] == 1, result
        assert result["stderr"].startswith("bbcompress: error:") and result["stderr"].count("\n") == 1, result
    assert peak_rss < GIB, f"peak RSS {peak_rss / GIB:.2f} GiB"
    assert written(tmp_path / "65535-square") == []


@pytest.mark.parametrize("value", [0, -1, 30, 40, 2.5, "8", None, True], ids=repr)
def test_latent_bits_outside_the_coders_range_are_refused(tmp_path, base, tiny_models, value):
    def edit(header):
        base.section(header, "greyscale")["coder"]["latent_bits"] = value
    refused_at_decode(tmp_path, tiny_models, crafted(tmp_path, base, edit))


@pytest.mark.parametrize("value", ["nope", "", None, 3])
def test_an_unknown_latent_scheme_is_refused(tmp_path, base, tiny_models, value):
    def edit(header):
        base.section(header, "binary")["coder"]["latents"] = value
    refused_at_decode(tmp_path, tiny_models, crafted(tmp_path, base, edit))


@pytest.mark.parametrize("bits", ["40", "30", "0", "-1"])
def test_compress_refuses_latent_bits_outside_the_coders_range(tmp_path, base, tiny_models, bits):
    archive = tmp_path / "a.bbc"
    with address_space_cap():
        result = run_compress([base.originals["g0.png"]], archive, tiny_models, "--latent-bits", bits)
    assert_clean_failure(result)
    assert not archive.exists()


NAN = float("nan")
SCHEDULES = {
    "sum-plus-one": lambda s: s[:-1] + [s[-1] + 1],
    "sum-minus-one": lambda s: s[:-1] + [s[-1] - 1],
    "extra-batch": lambda s: s + [1],
    "zero-entry": lambda s: [0] + s,
    "negative-entry": lambda s: [-1, s[0] + 1] + s[1:],
    "nan-entry": lambda s: [NAN] + s[1:],
    "string-entry": lambda s: [str(s[0])] + s[1:],
    "float-entry": lambda s: [float(s[0])] + s[1:],
    "empty": lambda s: [],
    "not-a-list": lambda s: s[0],
    "nan": lambda s: NAN,
}


@pytest.mark.parametrize("change", SCHEDULES.values(), ids=SCHEDULES.keys())
def test_a_schedule_that_does_not_cover_the_tiles_is_refused(tmp_path, base, tiny_models, change):
    def edit(header):
        coder = base.section(header, "greyscale")["coder"]
        coder["schedule"] = change(list(coder["schedule"]))
    refused_at_decode(tmp_path, tiny_models, crafted(tmp_path, base, edit))


def set_field(path: tuple, value):
    def edit(header):
        node = header
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def drop_field(path: tuple):
    def edit(header):
        node = header
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return edit


S = ("sections", 1)  # the greyscale section
BAD_FIELDS = {
    "width-nan": set_field((*S, "images", 0, 1), NAN),
    "width-string": set_field((*S, "images", 0, 1), "28"),
    "width-float": set_field((*S, "images", 0, 1), 28.0),
    "height-nan": set_field((*S, "images", 0, 2), NAN),
    "height-infinity": set_field((*S, "images", 0, 2), float("inf")),
    "words-nan": set_field((*S, "words"), NAN),
    "words-string": set_field((*S, "words"), "9"),
    "initial-bits-nan": set_field((*S, "coder", "initial_bits"), NAN),
    "name-number": set_field((*S, "images", 0, 0), 7),
    "image-entry-short": set_field((*S, "images", 0), ["g0.png", 28, 28]),
    "image-entry-long": set_field((*S, "images", 0), ["g0.png", 28, 28, "L", "extra"]),
    "image-entry-dict": set_field((*S, "images", 0), {"name": "g0.png"}),
    "model-missing": drop_field((*S, "model")),
    "model-string": set_field((*S, "model"), "tiny-greyscale"),
    "model-null": set_field((*S, "model"), None),
    "model-name-missing": drop_field((*S, "model", "name")),
    "model-name-number": set_field((*S, "model", "name"), 3),
    "model-name-list": set_field((*S, "model", "name"), ["/etc/passwd"]),
    "encoder-missing": drop_field((*S, "model", "encoder")),
    "encoder-null": set_field((*S, "model", "encoder"), None),
    "encoder-number": set_field((*S, "model", "encoder"), 7),
    "fingerprint-missing": drop_field((*S, "model", "fingerprint")),
    "fingerprint-number": set_field((*S, "model", "fingerprint"), 0),
    "fingerprint-list": set_field((*S, "model", "fingerprint"), ["0" * 64]),
    "coder-missing": drop_field((*S, "coder")),
    "coder-list": set_field((*S, "coder"), []),
    "pixel-sha256-missing": drop_field((*S, "pixel_sha256")),
    "pixel-sha256-number": set_field((*S, "pixel_sha256"), 0),
    "kind-unknown": set_field((*S, "kind"), "colour"),
    "kind-number": set_field((*S, "kind"), 1),
    "images-empty": set_field((*S, "images"), []),
    "images-string": set_field((*S, "images"), "g0.png"),
}


@pytest.mark.parametrize("edit", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_header_fields_of_the_wrong_type_or_missing_are_refused(tmp_path, base, tiny_models, edit):
    assert base.header["sections"][1]["kind"] == "greyscale"
    refused_at_decode(tmp_path, tiny_models, crafted(tmp_path, base, edit))


SECTION_KEYS = ["kind", "model", "coder", "images", "words", "pixel_sha256"]
MALFORMED = {
    **{f"section-without-{key}": drop_field(("sections", 0, key)) for key in SECTION_KEYS},
    "section-empty-object": lambda h: {"sections": [{}]},
    "section-empty-list": lambda h: {"sections": [[]]},
    "section-null": lambda h: {"sections": [None]},
    "sections-string": lambda h: {"sections": "binary"},
    "sections-missing": lambda h: {},
    "header-a-list": lambda h: [h["sections"]],
    "header-a-string": lambda h: "sections",
}


@pytest.mark.parametrize("edit", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_sections_are_refused(tmp_path, base, tiny_models, edit):
    refused_at_decode(tmp_path, tiny_models, crafted(tmp_path, base, edit))


@pytest.mark.parametrize("nesting", ["lists", "objects"])
def test_json_nested_100000_deep_is_refused(tmp_path, base, tiny_models, nesting):
    depth = 100_000
    inner = "[" * depth + "]" * depth if nesting == "lists" else '{"a":' * depth + "1" + "}" * depth
    archive = tmp_path / "deep.bbc"
    archive.write_bytes(repack('{"sections":[' + inner + "]}", base.payload, base.version))
    refused_at_decode(tmp_path, tiny_models, archive)


# --- 4. compress never destroys what it reads or what appears meanwhile ------------------------

@pytest.mark.parametrize("via", ["file", "folder"])
def test_compress_never_replaces_one_of_its_inputs(tmp_path, tiny_models, via):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        Image.fromarray(grey_pixels(28, 28, 20 + i)).save(src / f"{i}.png")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    inputs = [src / "0.png", src / "1.png"] if via == "file" else [src]
    result = run("compress", *inputs, "-f", "-o", src / "0.png", *model_args(tiny_models), "-q")
    assert_clean_failure(result)
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


def test_write_archive_never_replaces_a_file_that_appears_meanwhile(tmp_path, base):
    """The existence check and the write are one step (create-new), not check-then-rename:
    a file made by someone else between them survives, and no temporary file is left."""
    from bbcompress.errors import BBCError
    from bbcompress.io.archive import Archive, parse, write_archive
    target = tmp_path / "race.bbc"

    class Racing(Archive):
        def to_bytes(self) -> bytes:  # called after the existence check
            data = super().to_bytes()
            target.write_bytes(b"someone else's file")
            return data

    racing = Racing(parse(base.data).sections)
    with pytest.raises(BBCError):
        write_archive(target, racing, force=False)
    assert target.read_bytes() == b"someone else's file"
    assert sorted(os.listdir(tmp_path)) == ["race.bbc"], "a temporary file was left behind"
    write_archive(target, racing, force=True)  # with force it is replaced
    assert parse(target.read_bytes()).image_count == 4


# --- 5. inputs and outputs a user may not expect --------------------------------------------

def test_png_transparency_is_refused_not_dropped(tmp_path, tiny_models):
    image = tmp_path / "t.png"
    Image.fromarray(grey_pixels(28, 28, 30)).save(image, transparency=0)
    assert Image.open(image).info.get("transparency") == 0
    archive = tmp_path / "t.bbc"
    result = run_compress([image], archive, tiny_models)
    assert_clean_failure(result)
    assert "transparen" in result.stderr.lower()
    assert not archive.exists()


def test_a_fifo_given_as_input_is_refused_without_hanging(tmp_path, tiny_models):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    archive = tmp_path / "p.bbc"
    command = [sys.executable, "-m", "bbcompress", "compress", str(fifo), "-o", str(archive),
               *model_args(tiny_models), "-q"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail("compress hung on a FIFO given as input")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bbcompress: error:"), result.stderr
    assert not archive.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_fails_cleanly(tmp_path, base, tiny_models):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o500)
    try:
        assert_clean_failure(run_decompress(crafted(tmp_path, base), out, tiny_models))
        assert_clean_failure(run_compress([base.originals["g0.png"]], out / "a.bbc", tiny_models))
        assert written(out) == []
    finally:
        out.chmod(0o700)


def test_an_output_folder_under_a_file_fails_cleanly(tmp_path, base, tiny_models):
    """The read-only case as root can check it: a folder that cannot be made."""
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    assert_clean_failure(run_decompress(crafted(tmp_path, base), blocker / "out", tiny_models))
    assert_clean_failure(run_compress([base.originals["g0.png"]], blocker / "a.bbc", tiny_models))
    assert blocker.read_bytes() == b"x"


def png_declaring(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming ``width`` x ``height`` greyscale, and no pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("how", ["crafted-header", "lowered-limit"])
def test_a_decompression_bomb_fails_cleanly(tmp_path, tiny_models, monkeypatch, how):
    image = tmp_path / "bomb.png"
    if how == "crafted-header":
        image.write_bytes(png_declaring(60000, 60000))
    else:
        import PIL.Image
        Image.fromarray(grey_pixels(28, 28, 31)).save(image)
        monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 100)  # 784 > 2 * 100: an error
    archive = tmp_path / "bomb.bbc"
    with address_space_cap():
        assert_clean_failure(run_compress([image], archive, tiny_models))
    assert not archive.exists()


# --- 6. stream conventions --------------------------------------------------------------------

def stdin_run(data: bytes, *args):
    return CliRunner().invoke(main, [str(a) for a in args], input=data)


def test_decompress_reads_the_archive_from_stdin(tmp_path, base, tiny_models):
    out = tmp_path / "out"
    result = stdin_run(base.data, "decompress", "-", "-o", out, *model_args(tiny_models), "-q")
    assert result.exit_code == 0, result.output
    assert_restores_base(out, base)


def test_test_and_info_read_the_archive_from_stdin(base, tiny_models):
    tested = stdin_run(base.data, "test", "-", *model_args(tiny_models))
    assert tested.exit_code == 0, tested.output
    listed = stdin_run(base.data, "info", "-", "--files")
    assert listed.exit_code == 0, listed.output
    assert all(name in listed.output for name in base.originals)
    damaged = bytearray(base.data)
    damaged[len(damaged) // 2] ^= 1
    assert_clean_failure(stdin_run(bytes(damaged), "test", "-", *model_args(tiny_models)))


def test_dash_capital_v_prints_the_version():
    result = run("-V")
    assert result.exit_code == 0, result.output
    assert version("bbcompress") in result.output


def test_no_progress_is_accepted_by_the_coding_commands(tmp_path, base, tiny_models):
    archive = tmp_path / "a.bbc"
    assert run_compress([base.originals["g0.png"]], archive, tiny_models, "--no-progress").exit_code == 0
    result = run_decompress(archive, tmp_path / "out", tiny_models, "--no-progress")
    assert result.exit_code == 0, result.output
    result = run("test", archive, *model_args(tiny_models), "--no-progress")
    assert result.exit_code == 0, result.output


def test_test_json_prints_one_object(tmp_path, base, tiny_models):
    archive = tmp_path / "a.bbc"
    archive.write_bytes(base.data)
    result = run("test", archive, *model_args(tiny_models), "--json")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1, result.stdout
    assert json.loads(result.stdout) == {"archive": str(archive), "images": 4, "ok": True}
