"""Stored image names: what an archive may hold, and the file name an image is restored to.

A stored name is a relative '/'-separated path. Decoders refuse anything that could
escape the output folder or surprise a file system: absolute paths, '..', backslashes,
control characters, over-long components (also once '.png' is appended), text UTF-8
cannot hold (a file name in another encoding), and names that collide exactly, or
case-insensitively, or as Unicode-equivalent forms (archives travel to macOS and
Windows). Images are restored in a lossless format: the stored suffix is kept only for
one, else '.png' is appended.
"""
from __future__ import annotations

import bisect
import re
import unicodedata

MAX_COMPONENT_BYTES = 255
MAX_NAME_BYTES = 4096
LOSSLESS_FORMATS = {".png": "PNG", ".pbm": "PPM", ".pgm": "PPM", ".ppm": "PPM", ".pnm": "PPM",
                    ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
UNSAFE_CHARACTERS = re.compile(r"[\x00-\x1f\x7f\\]")


def name_parts(name: str) -> tuple[str, ...]:
    """The components of a safe stored name; ValueError naming the problem otherwise.
    String operations only (no PurePosixPath, which also drops '.' and empty components
    silently): a header may hold 16 MiB of names, thousands of components deep."""
    if not is_text(name):  # a file name in another encoding, or a crafted one
        raise ValueError(f"stored name {ascii(name)} is not UTF-8 text (rename the file)")
    if not name or len(name.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"stored name of length {len(name)} is empty or too long")
    if UNSAFE_CHARACTERS.search(name):
        raise ValueError(f"stored name {name!r} holds control characters or backslashes")
    parts = tuple(name.split("/"))
    if any(p in ("", ".", "..") for p in parts):  # also absolute, or ending in '/'
        raise ValueError(f"stored name {name!r} would escape the output folder or has an empty component")
    if any(len(p.encode()) > MAX_COMPONENT_BYTES for p in parts):
        raise ValueError(f"stored name {name[:40]!r}... has a component over {MAX_COMPONENT_BYTES} bytes")
    if len(restored_name(parts[-1]).encode()) > MAX_COMPONENT_BYTES:  # its file could not be made
        raise ValueError(f"stored name {name[:40]!r}... is restored with .png appended: a file name "
                         f"over {MAX_COMPONENT_BYTES} bytes")
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
    return name if suffix(name).lower() in LOSSLESS_FORMATS else name + ".png"


def suffix(name: str) -> str:
    """The suffix of a name's last component, as ``PurePosixPath.suffix`` gives it."""
    last = name.rpartition("/")[2]
    dot = last.rfind(".")
    return last[dot:] if 0 < dot < len(last) - 1 else ""


def check_storable(names: list[str]) -> None:
    """What an archive may hold (ValueError otherwise): the rules ``parse`` applies."""
    for name in names:
        name_parts(name)
    check_unique(names)


def check_unique(names: list[str]) -> None:
    """Refuse names that would land on one file (exactly, or where a file system ignores
    case or Unicode normalization), or where one name is a folder of another. Sorted
    keys, not a set of every folder: memory and time grow with the names' bytes, however
    deep and alike the names are."""
    keys = sorted((file_system_key(restored_name(name)), name) for name in names)
    for (key, name), (next_key, next_name) in zip(keys, keys[1:]):
        if key == next_key:
            raise ValueError(f"two images would be restored as one file: {name!r} and {next_name!r}")
    for key, name in keys:  # the names under a folder sort right after its key + "/"
        below = bisect.bisect_left(keys, (key + "/",))
        if below < len(keys) and keys[below][0].startswith(key + "/"):
            raise ValueError(f"stored name {name!r} is also a folder of another image")


def file_system_key(name: str) -> str:
    """What a file system that ignores case and Unicode normalization compares: macOS
    stores café in NFD, so café typed in NFC is the same file there; Windows ignores
    case. Unicode's canonical caseless match: NFD(casefold(NFD(name)))."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())
