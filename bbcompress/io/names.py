"""Stored image names: what an archive may hold, and the file name an image is restored to.

A stored name is a relative '/'-separated path. Decoders refuse anything that could
escape the output folder or surprise a file system: absolute paths, '..', backslashes,
control characters, over-long components, text UTF-8 cannot hold (a file name in another
encoding), and names that collide exactly or case-insensitively (archives travel to
macOS and Windows). Images are restored in a
lossless format: the stored suffix is kept only for one, else '.png' is appended.
"""
from __future__ import annotations

from pathlib import PurePosixPath

MAX_COMPONENT_BYTES = 255
MAX_NAME_BYTES = 4096
LOSSLESS_FORMATS = {".png": "PNG", ".pbm": "PPM", ".pgm": "PPM", ".ppm": "PPM", ".pnm": "PPM",
                    ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


def name_parts(name: str) -> tuple[str, ...]:
    """The components of a safe stored name; ValueError naming the problem otherwise."""
    if not is_text(name):  # a file name in another encoding, or a crafted one
        raise ValueError(f"stored name {ascii(name)} is not UTF-8 text (rename the file)")
    if not name or len(name.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"stored name of length {len(name)} is empty or too long")
    if any(ord(c) < 32 or ord(c) == 127 for c in name) or "\\" in name:
        raise ValueError(f"stored name {name!r} holds control characters or backslashes")
    path = PurePosixPath(name)
    parts = path.parts
    if path.is_absolute() or any(p in ("..", ".") for p in parts) or name.endswith("/"):
        raise ValueError(f"stored name {name!r} would escape the output folder")
    if any(len(p.encode()) > MAX_COMPONENT_BYTES for p in parts):
        raise ValueError(f"stored name {name[:40]!r}... has a component over {MAX_COMPONENT_BYTES} bytes")
    return parts


def is_text(name: str) -> bool:
    """Whether ``name`` is Unicode text UTF-8 can hold: Python holds the bytes of a file
    name that is not UTF-8 as lone surrogates, which no archive or checksum can carry."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def restored_name(name: str) -> str:
    """The name an image is written back under: lossless suffixes kept, else '.png' added."""
    return name if PurePosixPath(name).suffix.lower() in LOSSLESS_FORMATS else name + ".png"


def check_storable(names: list[str]) -> None:
    """What an archive may hold (ValueError otherwise): the rules ``parse`` applies."""
    for name in names:
        name_parts(name)
    check_unique(names)


def check_unique(names: list[str]) -> None:
    """Refuse names that would land on one file (exactly, or on a case-insensitive system),
    or where one name is a folder of another."""
    seen: dict[str, str] = {}
    folders = {"/".join(parts[:i]).casefold() for n in names for parts in [n.split("/")]
               for i in range(1, len(parts))}
    for name in names:
        key = restored_name(name).casefold()
        if key in seen:
            raise ValueError(f"two images would be restored as one file: {seen[key]!r} and {name!r}")
        if key in folders:
            raise ValueError(f"stored name {name!r} is also a folder of another image")
        seen[key] = name
