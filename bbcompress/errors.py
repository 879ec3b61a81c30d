"""The one error hierarchy of bbcompress: the CLI prints these as one line."""


class BBCError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""


class DataError(BBCError):
    """A dataset is unknown or its files are missing or malformed."""


class CheckpointError(BBCError):
    """A model file is not ours, is corrupted, or does not match its card."""


class ImageError(BBCError):
    """An image file cannot be read, or its mode/depth is not supported."""


class ArchiveError(BBCError):
    """A .bbc archive is malformed, corrupted, or of an unsupported version."""


class ModelMismatch(ArchiveError):
    """An archive was written with other weights than the ones offered to decode it."""


class IntegrityError(ArchiveError):
    """Decoded data failed its checksum: never hand such pixels to the user."""


class CodingError(BBCError):
    """Distribution parameters unfit for coding (NaN, out of range)."""


class OutputExists(BBCError):
    """A file to write exists already and overwriting was not asked for."""
