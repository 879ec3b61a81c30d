"""The command line as a new user meets it (issue 23): standard streams, the rate a file
really has, quiet ends on a closed pipe, help and JSON that say what they mean."""
from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bbcompress.cli import main
from bbcompress.training.data import load_dataset
from helpers import run

REPO = Path(__file__).resolve().parents[1]


def assert_clean_failure(result, words: str):
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bbcompress: error:"), result.stderr
    assert words in lines[0], lines[0]


def run_process(*args, **kwargs) -> subprocess.CompletedProcess:
    """``python -m bbcompress ARGS`` in a fresh interpreter, for real pipes and terminals."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([sys.executable, "-m", "bbcompress", *map(str, args)], env=env,
                          stderr=subprocess.PIPE, timeout=120, **kwargs)


def digit(index: int = 0) -> np.ndarray:
    return load_dataset("mnist10k").x_test[index]


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_models):
    """A digit as a PGM, its one-image archive and a three-image archive."""
    folder = tmp_path_factory.mktemp("usability")
    Image.fromarray(digit()).save(folder / "digit.pgm")
    (folder / "three").mkdir()
    for i in range(3):
        Image.fromarray(digit(i)).save(folder / "three" / f"{i}.png")
    for source, archive in (("digit.pgm", "one.bbc"), ("three", "three.bbc")):
        result = run("compress", folder / source, "-o", folder / archive, "-m", tiny_models["greyscale"], "-q")
        assert result.exit_code == 0, result.output
    return folder


# --- 3. standard input for compress, standard output for decompress ---------------------------

def test_compress_dash_reads_one_image_from_stdin(tmp_path, tiny_models):
    archive = tmp_path / "in.bbc"
    result = run("compress", "-", "-o", archive, "-m", tiny_models["greyscale"], "-q", input=png_bytes(digit()))
    assert result.exit_code == 0, result.output
    result = run("decompress", archive, "-o", tmp_path / "out", "-m", tiny_models["greyscale"], "-q")
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "stdin.png")), digit())


def test_compress_dash_needs_an_output(tmp_path):
    result = run("compress", "-", input=png_bytes(digit()))
    assert_clean_failure(result, "standard input")
    assert "-o" in result.stderr and "-c" in result.stderr
    assert not list(tmp_path.iterdir())


def test_compress_dash_reads_a_bounded_amount(tmp_path, monkeypatch):
    import bbcompress.io.paths as paths
    monkeypatch.setattr(paths, "MAX_STDIN_BYTES", 1000, raising=False)  # before it existed: fail by behaviour
    result = run("compress", "-", "-o", tmp_path / "x.bbc", input=b"\0" * 5000)
    assert_clean_failure(result, "more than 1,000 bytes")


def test_decompress_c_writes_the_one_image_as_png_to_stdout(files, tiny_models):
    result = run("decompress", files / "one.bbc", "-c", "-m", tiny_models["greyscale"])
    assert result.exit_code == 0, result.stderr
    image = Image.open(io.BytesIO(result.stdout_bytes))
    assert image.format == "PNG" and image.mode == "L"  # stored as digit.pgm, written as PNG
    assert np.array_equal(np.asarray(image), digit())
    assert "restored" in result.stderr  # the report goes to stderr, never into the image


def test_decompress_c_refuses_a_multi_image_archive_before_writing(files, tiny_models):
    result = run("decompress", files / "three.bbc", "-c", "-m", tiny_models["greyscale"])
    assert_clean_failure(result, "3 images")
    assert result.stdout_bytes == b""


def test_decompress_c_refuses_a_terminal(files, tiny_models):
    leader, follower = pty.openpty()
    try:
        result = run_process("decompress", files / "one.bbc", "-c", "-m", tiny_models["greyscale"],
                             stdout=follower, text=True)
        os.set_blocking(leader, False)
        try:
            shown = os.read(leader, 1 << 16)
        except OSError:  # nothing was written to the terminal
            shown = b""
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 1 and "terminal" in result.stderr, result.stderr
    assert shown == b""


# --- 4. the file's bits/dim first -----------------------------------------------------------

def file_rate(archive: Path, pixels: int) -> str:
    return f"{archive.stat().st_size * 8 / pixels:.4f} bits/dim"


def test_compress_prints_the_files_rate_first(tmp_path, files, tiny_models):
    archive = tmp_path / "d.bbc"
    result = run("compress", files / "digit.pgm", "-o", archive, "-m", tiny_models["greyscale"])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert f"{archive.stat().st_size:,} bytes, {file_rate(archive, 784)}" in first, first
    report = json.loads(run("compress", files / "digit.pgm", "-o", archive, "-f", "--json",
                            "-m", tiny_models["greyscale"]).stdout)
    assert report["bits_per_dim"] == archive.stat().st_size * 8 / 784


def test_info_prints_the_files_rate_read_from_a_file_or_stdin(files):
    archive = files / "three.bbc"
    expected = file_rate(archive, 3 * 784)
    for result in (run("info", archive), run("info", "-", input=archive.read_bytes())):
        assert result.exit_code == 0, result.output
        assert expected in result.stdout.splitlines()[0], result.stdout
    report = json.loads(run("info", "-", "--json", input=archive.read_bytes()).stdout)
    assert report["bytes"] == archive.stat().st_size and report["images"] == 3
    assert report["bits_per_dim"] == archive.stat().st_size * 8 / (3 * 784)


# --- 5. a closed pipe, and info's summary ---------------------------------------------------

def run_with_stdout_unread(*args) -> subprocess.CompletedProcess:
    """As in ``bbcompress ARGS | head -0``: the reader of stdout is gone, so the first write
    to it fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return run_process(*args, stdout=write_end, text=True)
    finally:
        os.close(write_end)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["version", "help", "models", "info", "info-files", "test", "compress",
                                     "decompress"])
def test_a_closed_stdout_ends_quietly_with_status_141(files, tiny_models, command):
    model = ["-m", tiny_models["greyscale"]]
    args = {"version": ["-V"], "help": ["compress", "--help"], "models": ["models"],
            "info": ["info", files / "three.bbc"], "info-files": ["info", files / "three.bbc", "--files"],
            "test": ["test", files / "three.bbc", *model],
            "compress": ["compress", files / "digit.pgm", "-c", *model],
            "decompress": ["decompress", files / "one.bbc", "-c", *model]}[command]
    result = run_with_stdout_unread(*args)
    assert (result.returncode, result.stderr) == (141, ""), result.stderr


def test_info_prints_a_summary_and_lists_files_only_when_asked(tmp_path, tiny_models):
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (4, 5), dtype=np.uint8)).save(folder / f"n{i:02d}.png")
    archive = tmp_path / "many.bbc"
    assert run("compress", folder, "-o", archive, "-m", tiny_models["greyscale"], "-q").exit_code == 0
    summary = run("info", archive)
    assert summary.exit_code == 0, summary.output
    assert "40 image(s)" in summary.stdout and "n00.png" not in summary.stdout
    assert len(summary.stdout.splitlines()) < 10, summary.stdout
    for flag in ("--files", "-v"):
        listing = run("info", archive, flag)
        assert listing.exit_code == 0, listing.output
        assert all(f"many/n{i:02d}.png  5x4" in listing.stdout for i in range(40)), listing.stdout


# --- 7. scripts/setup.sh says what it does and fails when pip fails -------------------------

FAKE_PIP = """#!/usr/bin/env bash
echo "$@" > "$(dirname "$0")/pip-args"
echo "Collecting torch==2.14.1"
echo "WARNING: Location 'x' is ignored"
[ -z "${PIP_ONLY_WARNINGS:-}" ] || exit 0
echo "Successfully installed torch-2.14.1"
exit "${PIP_STATUS:-0}"
"""


def run_setup(tmp_path, **env) -> subprocess.CompletedProcess:
    """scripts/setup.sh in a copy of the checkout whose .venv holds a fake pip and python."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "setup.sh").write_text((REPO / "scripts" / "setup.sh").read_text())
    bin_folder = tmp_path / ".venv" / "bin"
    bin_folder.mkdir(parents=True)
    (bin_folder / "pip").write_text(FAKE_PIP)
    (bin_folder / "python").write_text("#!/usr/bin/env bash\nexit 0\n")
    for tool in bin_folder.iterdir():
        tool.chmod(0o755)
    return subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, **env))


def test_setup_says_what_it_installs_and_lets_pip_speak(tmp_path):
    result = run_setup(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "installing torch" in result.stdout.lower(), result.stdout
    assert "Collecting torch==2.14.1" in result.stdout and "Successfully installed" in result.stdout
    assert "WARNING: Location" not in result.stdout + result.stderr
    assert "-q" not in (tmp_path / ".venv" / "bin" / "pip-args").read_text().split()


def test_setup_fails_when_pip_fails(tmp_path):
    result = run_setup(tmp_path, PIP_STATUS="1")
    assert result.returncode != 0, result.stdout + result.stderr


def test_setup_succeeds_when_pip_prints_only_filtered_lines(tmp_path):
    result = run_setup(tmp_path, PIP_ONLY_WARNINGS="1")
    assert result.returncode == 0, result.stdout + result.stderr


# --- 8. research options under their own heading ---------------------------------------------

def test_compress_help_puts_research_options_under_their_own_heading():
    result = run("compress", "--help")
    assert result.exit_code == 0, result.output
    user, heading, research = result.stdout.partition("Advanced (research) options:")
    assert heading, result.stdout
    for option in ("--encoder", "--latents", "--latent-bits", "--batch"):
        assert option in research and option not in user, option
    for option in ("--output", "--model", "--level", "--force", "--json", "--help"):
        assert option in user and option not in research, option


# --- 10. JSON of one shape, and every --json explained ---------------------------------------

def test_compress_json_lists_embedded_models_as_info_does(tmp_path, files, tiny_models):
    archive = tmp_path / "e.bbc"
    made = run("compress", files / "digit.pgm", "-o", archive, "-m", tiny_models["greyscale"],
               "--no-fallback", "--embed-model", "--json")
    assert made.exit_code == 0, made.output
    listed = json.loads(run("info", archive, "--json").stdout)["embedded_models"]
    assert json.loads(made.stdout)["embedded_models"] == listed
    assert [set(model) for model in listed] == [{"name", "bytes"}]


def test_every_json_option_has_help():
    missing = [name for name, command in main.commands.items()
               for param in command.params if "--json" in getattr(param, "opts", []) and not param.help]
    assert missing == []


# --- 11. --skip-unsupported ------------------------------------------------------------------

@pytest.fixture()
def mixed_folder(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(digit()).save(folder / "good.png")
    Image.new("CMYK", (28, 28)).save(folder / "colour.tif")
    (folder / "junk.png").write_bytes(b"this is not an image")
    return folder


def test_unsupported_files_are_still_an_error_by_default(tmp_path, mixed_folder, tiny_models):
    result = run("compress", mixed_folder, "-o", tmp_path / "m.bbc", "-m", tiny_models["greyscale"])
    assert_clean_failure(result, "colour.tif")
    assert not (tmp_path / "m.bbc").exists()


def test_skip_unsupported_compresses_the_rest_and_reports_each_skipped_file(tmp_path, mixed_folder, tiny_models):
    archive = tmp_path / "m.bbc"
    args = ["compress", mixed_folder, "-o", archive, "-m", tiny_models["greyscale"], "--skip-unsupported"]
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["images"] == 1
    reasons = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert set(reasons) == {"colour.tif", "junk.png"}
    assert "mode CMYK" in reasons["colour.tif"] and "cannot read" in reasons["junk.png"]
    text = run(*args, "-f")
    assert text.exit_code == 0, text.output
    assert "skipped 2" in text.stderr and "colour.tif" in text.stderr and "junk.png" in text.stderr


def test_skip_unsupported_with_nothing_left_says_why(tmp_path, mixed_folder):
    (mixed_folder / "good.png").unlink()
    result = run("compress", mixed_folder, "-o", tmp_path / "m.bbc", "--skip-unsupported")
    assert_clean_failure(result, "all 2 input file(s) are unsupported")
