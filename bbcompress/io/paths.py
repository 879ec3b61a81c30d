"""Expanding command-line inputs (files and folders) into named images, and safe
output paths for decompression."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from PIL import Image as PILImage

from ..errors import BBCError, ImageError
from .images import Image, read_image


def image_suffixes() -> set[str]:
    return set(PILImage.registered_extensions())


def expand_inputs(arguments: list[str]) -> list[tuple[Path, str]]:
    """(path, stored name) per image file; a folder adds its image files recursively,
    named by their path relative to the folder's parent."""
    found: list[tuple[Path, str]] = []
    suffixes = image_suffixes()
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
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
    """Where to restore a stored name; refuses names that would escape ``folder``."""
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or ".." in parts or "\\" in name:
        raise BBCError(f"refusing to write unsafe stored name {name!r}")
    return folder.joinpath(*parts)
