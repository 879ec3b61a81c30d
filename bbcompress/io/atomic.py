"""Writing files safely: atomically, without following symlinks, without clobbering.

A file is written to a temporary name in its target's folder and then moved into place,
so a reader never sees half a file and an interrupted write leaves the previous file
(or none). Without ``force`` the final step is a hard link, which fails if the target
appeared in the meantime (no check-then-rename race); with ``force`` it is a rename,
which replaces a file but never writes through a symlink. Folders under an output root
are opened one component at a time with ``O_NOFOLLOW``: a symlink planted inside the
output folder is refused, never followed. The output root itself is held open as a
descriptor from the start (``OutputRoot``) and everything is written relative to it: a
root swapped for a symlink meanwhile is not followed either.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import stat
import threading
from pathlib import Path
from typing import BinaryIO, Callable

from ..errors import BBCError, OutputExists
from .names import MAX_COMPONENT_BYTES

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
Writer = Callable[[BinaryIO], None]


def default_mode() -> int:
    """The permissions a plain open() would give a new file (0666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def is_link(dir_fd: int, name: str) -> bool:
    return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)


def open_folder(root_fd: int, root: Path, parts: tuple[str, ...]) -> int:
    """A descriptor of root/parts... (``root_fd`` is root's), creating missing folders; no
    component may be a symlink."""
    fd = os.dup(root_fd)
    try:
        for depth, part in enumerate(parts):
            shown = root.joinpath(*parts[:depth + 1])
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, dir_fd=fd)
            try:
                child = os.open(part, DIRECTORY_FLAGS, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise BBCError(f"{shown} is a symbolic link or not a folder: refusing to "
                                   f"write into it") from None
                raise
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def temporary_name(name: str) -> str:
    """A new hidden name beside ``name`` that fits wherever ``name`` fits (at most
    MAX_COMPONENT_BYTES): as much of ``name`` as leaves room for the random suffix, cut
    between characters."""
    suffix = f".{secrets.token_hex(4)}.tmp"
    room = MAX_COMPONENT_BYTES - len(suffix) - 1
    return "." + os.fsencode(name)[:room].decode("utf-8", "ignore") + suffix


def check_name_fits(path: Path) -> None:
    """Refuse, before any work, a file name longer than a file system takes."""
    size = len(os.fsencode(path.name))
    if size > MAX_COMPONENT_BYTES:
        raise BBCError(f"{path.parent / path.name[:32]}...: file name too long ({size} bytes; "
                       f"at most {MAX_COMPONENT_BYTES})")


def write_in(dir_fd: int, name: str, write: Writer, force: bool, shown: str) -> None:
    """Write ``name`` in the folder ``dir_fd`` atomically (see the module docstring)."""
    with contextlib.suppress(FileNotFoundError):
        if is_link(dir_fd, name):
            raise BBCError(f"{shown} is a symbolic link: refusing to replace it")
    tmp, file = temporary_name(name), None
    try:
        with signals_deferred():  # made and known as ours in one step: an interrupt removes it
            file = os.fdopen(os.open(tmp, NEW_FILE_FLAGS, default_mode(), dir_fd=dir_fd), "wb")
        with file:
            write(file)
        if force:
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        else:
            try:
                os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            except FileExistsError:
                raise OutputExists(f"{shown} already exists") from None
            os.unlink(tmp, dir_fd=dir_fd)
    except BaseException:
        if file is not None:
            with signals_deferred(), contextlib.suppress(OSError):  # a second signal waits for it
                file.close()
                os.unlink(tmp, dir_fd=dir_fd)
        raise


DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_deferred():
    """SIGINT and SIGTERM held back for a few statements that must not be cut in two (a
    temporary file made but not yet known, or half removed): one that arrives meanwhile
    is handled as usual (the CLI's KeyboardInterrupt) when they end. Python runs signal
    handlers in the main thread only, so elsewhere nothing is held back. Handlers, not a
    signal mask: the mask is per thread, and another thread (a progress bar's) would take
    the signal and have it handled here at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: caught.append(signum))
                for signum in DEFERRED_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in caught:
            handle_again(signum, previous[signum])


def handle_again(signum: int, handler) -> None:
    """What ``handler`` (a previous disposition) does with ``signum``, now."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        os.kill(os.getpid(), signum)


def write_file(root: Path, parts: tuple[str, ...], write: Writer, force: bool = False) -> Path:
    """Write root/parts... (folders created as needed, never through a symlink)."""
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise BBCError(f"cannot write {root.joinpath(*parts)}: {e.strerror or e}") from None
    try:
        return write_under(root_fd, root, parts, write, force)
    finally:
        os.close(root_fd)


def write_under(root_fd: int, root: Path, parts: tuple[str, ...], write: Writer, force: bool = False) -> Path:
    """``write_file`` in the folder ``root_fd`` is open on (``root`` names it in messages)."""
    path = root.joinpath(*parts)
    try:
        fd = open_folder(root_fd, root, parts[:-1])
        try:
            write_in(fd, parts[-1], write, force, str(path))
        finally:
            os.close(fd)
    except OSError as e:
        raise BBCError(f"cannot write {path}: {e.strerror or e}") from None
    return path


class OutputRoot:
    """An output folder held open as a descriptor from the start: every check and write
    under it goes through that descriptor, so the folder swapped for a symlink meanwhile
    is not followed. A folder that does not exist yet is made (and opened) on ``open``."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None
        try:  # the user's path: a link to a folder there is theirs
            self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            pass
        except OSError as e:
            raise BBCError(f"cannot write into {path}: {e.strerror or e}") from None

    def __enter__(self) -> "OutputRoot":
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def open(self) -> int:
        """The folder's descriptor, made now if it did not exist (a link put in its place
        meanwhile is refused)."""
        if self.fd is None:
            self.path.mkdir(parents=True, exist_ok=True)
            try:
                self.fd = os.open(self.path, DIRECTORY_FLAGS)
            except OSError as e:
                raise BBCError(f"cannot write into {self.path}: {e.strerror or e}") from None
        return self.fd

    def lstat(self, parts: tuple[str, ...]) -> os.stat_result | None:
        """What lies at root/parts... (links not followed, the last one included); None
        where nothing does, or a component on the way is not a folder."""
        if self.fd is None:
            return None
        try:
            return os.stat("/".join(parts), dir_fd=self.fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write(self, parts: tuple[str, ...], write: Writer, force: bool = False) -> Path:
        return write_under(self.open(), self.path, parts, write, force)


def atomic_write(path: str | Path, write: Writer, force: bool = True) -> None:
    """Write ``path`` (its folder must exist) by calling ``write(file)``."""
    path = Path(path)
    write_file(path.parent, (path.name,), write, force)


def atomic_write_bytes(path: str | Path, data: bytes, force: bool = True) -> None:
    atomic_write(path, lambda f: f.write(data), force)
