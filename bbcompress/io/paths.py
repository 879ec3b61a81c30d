"""Expanding command-line inputs (files and folders) into named images, and safe
output paths for decompression."""
from __future__ import annotations

import io
import stat
import sys
from typing import NamedTuple
from pathlib import Path

from PIL import Image as PILImage

from ..errors import BBCError, ImageError
from .archive import read_up_to
from .atomic import OutputRoot
from .images import MAX_PIXELS, Image, decode_image, image_writer, read_image
from .names import name_parts, restored_name

STDIN = "-"  # as an input: one image read from standard input (a file named - is ./-)
STDIN_NAME = "stdin.png"  # the name it is stored, and restored, under
# An image on standard input is read whole before Pillow sees it, so the read is bounded:
# four bytes a pixel of the largest image the limits allow (an uncompressed file fits).
MAX_STDIN_BYTES = 4 * MAX_PIXELS


def image_suffixes() -> set[str]:
    return set(PILImage.registered_extensions())


def expand_inputs(arguments: list[str]) -> list[tuple[Path | None, str]]:
    """(path, stored name) per image file; a folder adds its image files recursively,
    named by their path relative to the folder's parent; ``-`` is (None, STDIN_NAME)."""
    if arguments.count(STDIN) > 1:
        raise BBCError("- (standard input) is given more than once: it holds one image")
    found: list[tuple[Path | None, str]] = []
    for argument in arguments:
        path = Path(argument)
        if argument == STDIN:
            found.append((None, STDIN_NAME))
        elif path.is_dir():  # Pillow's full list of suffixes loads every plugin (0.1 s): only here
            suffixes = image_suffixes()
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            found.extend((f, f.relative_to(path.parent).as_posix()) for f in files)
        elif path.exists():
            found.append((path, path.name))
        else:
            raise ImageError(f"{argument}: no such file or directory")
    return found


class Skipped(NamedTuple):
    """An input file left out (``compress --skip-unsupported``), and why."""
    path: str
    reason: str


def read_inputs(arguments: list[str]) -> list[Image]:
    """Every input image; a file that cannot be read or coded is an error."""
    images, _ = scan_inputs(arguments, skip_unsupported=False)
    return images


def scan_inputs(arguments: list[str], skip_unsupported: bool) -> tuple[list[Image], list[Skipped]]:
    """The input images and, with ``skip_unsupported``, the files that cannot be read or
    coded (colour, 16-bit, not an image, ...) instead of an error at the first. A missing
    argument is an error all the same: it is a typo, not a file to leave out."""
    images, skipped = [], []
    for path, name in expand_inputs(arguments):
        label = "<stdin>" if path is None else str(path)
        try:
            images.append(read_stdin_image() if path is None else read_image(path, name))
        except ImageError as e:
            if not skip_unsupported:
                raise
            skipped.append(Skipped(STDIN if path is None else label, str(e).removeprefix(f"{label}: ")))
    if not images and skipped:
        raise BBCError(f"no input images: all {len(skipped)} input file(s) are unsupported, "
                       f"{skipped[0].path} because {skipped[0].reason}")
    if not images:
        raise BBCError("no input images (folders are searched for image files by suffix)")
    return images, skipped


def read_stdin_image() -> Image:
    """The one image on standard input, stored as STDIN_NAME."""
    if sys.stdin is None:  # started with stdin closed (<&-)
        raise ImageError("standard input is closed: no image to read there")
    if sys.stdin.isatty():
        raise ImageError("refusing to read an image from a terminal: redirect or pipe one in")
    data = read_up_to(sys.stdin.buffer, MAX_STDIN_BYTES + 1)  # in chunks: memory follows the input
    if len(data) > MAX_STDIN_BYTES:
        raise ImageError(f"<stdin>: more than {MAX_STDIN_BYTES:,} bytes, larger than any image "
                         f"bbcompress codes")
    return decode_image(io.BytesIO(data), "<stdin>", STDIN_NAME)


def output_path(folder: Path, name: str) -> Path:
    """Where a stored name is restored; refuses names that would escape ``folder``."""
    try:
        return folder.joinpath(*name_parts(restored_name(name)))
    except ValueError as e:
        raise BBCError(f"refusing to write: {e}") from None


def refuse_unsafe_target(root: OutputRoot, target: Path) -> None:
    """Refuse a target under ``root`` that lies under or is a symlink, under a file, or
    is a folder: what ``restore_image`` would refuse midway, found before any write.
    Looked up through the root's descriptor (``OutputRoot``), as the writes are."""
    parts = target.relative_to(root.path).parts
    for depth in range(1, len(parts) + 1):
        found, path = root.lstat(parts[:depth]), root.path.joinpath(*parts[:depth])
        if found is None:
            return
        if stat.S_ISLNK(found.st_mode):
            raise BBCError(f"{path} is a symbolic link: refusing to write through or replace it")
        if depth < len(parts) and not stat.S_ISDIR(found.st_mode):
            raise BBCError(f"{path} is a file, not a folder: cannot restore {target} under it")
    if stat.S_ISDIR(found.st_mode):
        raise BBCError(f"{target} is a folder: cannot restore an image there")


def restore_image(root: OutputRoot, image: Image, force: bool = False) -> Path:
    """Write ``image`` under ``root`` by its restored name (never through a symlink)."""
    target = output_path(root.path, image.name)
    return root.write(target.relative_to(root.path).parts, image_writer(image), force)
