"""1-bit document pages that installed Debian packages render, as training data.

Sources: the R manuals (``r-doc-pdf``: texinfo typeset by TeX, like many manuals) and
the manual pages of core tools (``MAN_PAGES``, typeset by ``groff``, in five font
families so the model does not learn one typeface), rendered with ``pdftoppm -mono``
(poppler-utils) at 100-300 dpi. Every fourth source, sorted by name, is held out as the
test split. The benchmark's pages (``benchmarks.pages``: the libtasn1 and
shared-mime-info manuals) are never among them. Rendering takes a minute or two; the
pages are kept in a cache folder (``$XDG_CACHE_HOME/bbcompress``) named by this module's
``RENDERING`` version and the sources found, so a machine with other sources renders its
own.
"""
from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import random
import shutil
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError
from .photos import grey_tiles

R_MANUALS = Path("/usr/share/doc/r-doc-pdf/manual")
MAN_FOLDER = Path("/usr/share/man/man1")
# Pinned, not drawn from man1: there, whatever is installed dominates (on one machine
# 16,631 of 18,264 pages were one cloud tool's, all in one layout). Those missing are skipped.
MAN_PAGES = ("bash", "cat", "chmod", "chown", "cp", "cut", "date", "dd", "df", "diff", "dpkg", "dpkg-deb",
             "dpkg-query", "du", "echo", "env", "find", "fold", "grep", "gzip", "head", "install", "join",
             "kill", "ln", "ls", "mkdir", "mktemp", "mv", "nl", "od", "paste", "pr", "ps", "readlink", "rm",
             "sed", "seq", "sort", "split", "stat", "tail", "tar", "tee", "touch", "tr", "uniq", "wc", "xargs")
# what each source needs: (Debian package, program); groff -Tpdf runs gropdf
TOOLS = (("poppler-utils", "pdftoppm"), ("poppler-utils", "pdfinfo"), ("groff", "groff"), ("groff", "gropdf"))
RENDERING = 2  # bump when what is rendered changes: the cache is named by it
PAGES_PER_MANUAL = 8  # spread evenly through each R manual
DPIS = (100, 150, 200, 300)
GROFF_FAMILIES = ("T", "H", "N", "P", "C")  # Times, Helvetica, New Century, Palatino, Courier
HELD_OUT_EVERY = 4
BLANK_KEPT = 20  # one in this many all-white crops is kept (they are learned at once)


def check_tools() -> None:
    missing = sorted({package for package, program in TOOLS if shutil.which(program) is None})
    if missing:
        raise DataError(f"rendering pages needs {', '.join(missing)}: apt-get install {' '.join(missing)}")


def sources() -> list[Path]:
    """The R manuals and the pinned manual pages found, sorted by name."""
    manuals = sorted(R_MANUALS.glob("*.pdf"))
    man = [MAN_FOLDER / f"{name}.1.gz" for name in MAN_PAGES if (MAN_FOLDER / f"{name}.1.gz").exists()]
    if not manuals or not man:
        raise DataError("no documents to render: apt-get install r-doc-pdf (and man pages in /usr/share/man)")
    return sorted(manuals + man, key=lambda p: p.name)


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    """``command``; a DataError with what it said if it fails."""
    try:
        return subprocess.run(command, check=True, stderr=subprocess.PIPE, **options)
    except subprocess.CalledProcessError as e:
        said = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        raise DataError(f"rendering pages: {' '.join(command[:3])} failed" + (f": {said[-1]}" if said else "")) from None


def split() -> tuple[list[Path], list[Path]]:
    """(training documents, held-out documents)."""
    found = sources()
    held = [p for i, p in enumerate(found) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    return [p for p in found if p not in held], held


def draw(source: Path) -> random.Random:
    """The same draws for a source on every machine."""
    return random.Random(zlib.crc32(source.name.encode()))


def as_pdf(source: Path, folder: Path) -> Path:
    """The source as a PDF: a manual page typeset by groff in a family drawn for it."""
    if source.suffix == ".pdf":
        return source
    family = draw(source).choice(GROFF_FAMILIES)
    pdf = folder / (source.name.removesuffix(".1.gz") + ".pdf")
    with open(pdf, "wb") as out:
        run(["groff", "-man", "-Tpdf", f"-f{family}"], input=gzip.decompress(source.read_bytes()), stdout=out)
    return pdf


def page_count(pdf: Path) -> int:
    info = run(["pdfinfo", str(pdf)], stdout=subprocess.PIPE).stdout.decode(errors="replace")
    return next(int(line.split()[-1]) for line in info.splitlines() if line.startswith("Pages:"))


def render(source: Path, folder: Path) -> list[Path]:
    """Pages of ``source`` (a manual page: its first two; an R manual: ``PAGES_PER_MANUAL``
    spread through it), each at a dpi drawn for it, as PBM files in ``folder``."""
    rng = draw(source)
    pdf = as_pdf(source, folder)
    count = page_count(pdf)
    pages = range(1, min(count, 2) + 1) if source.suffix != ".pdf" else \
        sorted({1 + (count - 1) * i // max(1, PAGES_PER_MANUAL - 1) for i in range(PAGES_PER_MANUAL)})
    rendered = []
    for page in pages:
        stem = folder / f"{pdf.stem}-p{page}"
        run(["pdftoppm", "-mono", "-r", str(rng.choice(DPIS)), "-f", str(page), "-l", str(page),
             "-singlefile", str(pdf), str(stem)])
        rendered.append(stem.with_suffix(".pbm"))
    return rendered


def cache_folder(found: list[Path]) -> Path:
    """Named by the rendering's version and the sources ``found``."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256("\n".join(p.name for p in found).encode()).hexdigest()[:12]
    return root / "bbcompress" / f"pages-{RENDERING}-{digest}"


def rendered_pages() -> tuple[list[Path], list[Path]]:
    """(training pages, held-out pages) as PBM paths, rendered once into the cache; a
    second process waits for the first one's (a lock), a killed one leaves no cache."""
    train, held = split()
    folder = cache_folder(train + held)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done").exists():
            check_tools()
            shutil.rmtree(folder, ignore_errors=True)  # a cache left without "done"
            with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
                for part, documents in (("train", train), ("test", held)):
                    (Path(scratch) / part).mkdir()
                    for source in documents:
                        render(source, Path(scratch) / part)
                for pdf in Path(scratch).glob("*/*.pdf"):  # the typeset manual pages
                    pdf.unlink()
                (Path(scratch) / "done").touch()
                Path(scratch).rename(folder)
                Path(scratch).mkdir()  # for TemporaryDirectory's cleanup
    return sorted((folder / "train").glob("*.pbm")), sorted((folder / "test").glob("*.pbm"))


def page_crops(path: Path, side: int, rng: np.random.Generator) -> np.ndarray:
    """The page's whole ``side`` x ``side`` crops (N, side, side) of 0/1 pixels as
    bbcompress reads a 1-bit file (1 white, as Pillow's mode "1"), with one in
    ``BLANK_KEPT`` all-white crops."""
    with Image.open(path) as page:
        white = (np.asarray(page.convert("1"), dtype=np.uint8) > 0).astype(np.uint8)
    crops = grey_tiles([white], side)
    blank = crops.reshape(len(crops), -1).all(axis=1)
    return crops[~blank | (rng.random(len(crops)) < 1 / BLANK_KEPT)]


def load_pages(side: int, seed: int, train_limit: int, test_limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``pages`` dataset: at most ``train_limit`` training crops and ``test_limit``
    crops of the held-out pages, each a draw with ``seed``, with their share of blank ones."""
    train, held = rendered_pages()
    rng = np.random.default_rng(seed)
    x_train = np.concatenate([page_crops(p, side, rng) for p in train])
    x_test = np.concatenate([page_crops(p, side, rng) for p in held])
    return x_train[rng.permutation(len(x_train))[:train_limit]], x_test[rng.permutation(len(x_test))[:test_limit]]
