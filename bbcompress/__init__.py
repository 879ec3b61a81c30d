"""bbcompress: lossless image compression by bits-back ANS over a VAE.

The Python API (``bbcompress.arrays``): ``compress(images) -> bytes``,
``decompress(data) -> [(name, array)]``, ``open(path_or_bytes)`` and ``info(...)``.
The command line is ``bbcompress.cli``; the library calls behind both, ``bbcompress.api``.
"""
from .arrays import ArchiveReader, compress, decompress, info, open  # noqa: A004

__version__ = "0.4.0"
__all__ = ["ArchiveReader", "compress", "decompress", "info", "open"]
