"""bbcompress: lossless image compression by bits-back ANS over a VAE.

The Python API (``bbcompress.arrays``): ``compress(images) -> bytes``,
``decompress(data) -> [(name, array)]``, ``open(path_or_bytes)`` and ``info(...)``.
The command line is ``bbcompress.cli``; the library calls behind both, ``bbcompress.api``.

The API is imported on first use (PEP 562), so that importing the package is cheap: the
command line's entry point (``__main__.run``) can then catch a Ctrl-C while numpy and the
rest load, which would otherwise print a traceback.
"""
__version__ = "0.4.0"
__all__ = ["ArchiveReader", "compress", "decompress", "info", "open"]


def __getattr__(name: str):
    if name in __all__:
        from . import arrays
        return getattr(arrays, name)
    raise AttributeError(f"module 'bbcompress' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
