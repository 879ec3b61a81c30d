"""Expanding command-line inputs (files and folders) into named images, and safe
output paths for decompression."""
from __future__ import annotations

import stat
from pathlib import Path

from PIL import Image as PILImage

from ..errors import BBCError, ImageError
from .atomic import OutputRoot
from .images import Image, image_writer, read_image
from .names import name_parts, restored_name


def image_suffixes() -> set[str]:
    return set(PILImage.registered_extensions())


def expand_inputs(arguments: list[str]) -> list[tuple[Path, str]]:
    """(path, stored name) per image file; a folder adds its image files recursively,
    named by their path relative to the folder's parent."""
    found: list[tuple[Path, str]] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():  # Pillow's full list of suffixes loads every plugin (0.1 s): only here
            suffixes = image_suffixes()
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            found.extend((f, f.relative_to(path.parent).as_posix()) for f in files)
        elif path.exists():
            found.append((path, path.name))
        else:
            raise ImageError(f"{argument}: no such file or directory")
    return found


def read_inputs(arguments: list[str]) -> list[Image]:
    images = [read_image(path, name) for path, name in expand_inputs(arguments)]
    if not images:
        raise BBCError("no input images (folders are searched for image files by suffix)")
    return images


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
