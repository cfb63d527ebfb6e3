"""Exceptions raised for bad input.

Every message says which file or setting is at fault and what to do about it,
so that a user reading a Snakemake log can act without reading our code.
"""


class EcgCwtError(Exception):
    """Base class of all errors this package raises on purpose."""


class ConfigError(EcgCwtError):
    """An invalid configuration value (schema violation or inconsistent settings)."""


class RecordError(EcgCwtError):
    """A WFDB record that is missing, corrupt, truncated or too short."""


class DownloadError(EcgCwtError):
    """A download that failed after its retries, or whose checksum does not match."""


class DiskFullError(EcgCwtError):
    """No space left on the device (or the disk quota used up) while writing an output file.

    ``path`` is the output that could not be written; ``errno`` is ENOSPC or EDQUOT.
    """

    def __init__(self, message: str, path: str, errno: int):
        super().__init__(message)
        self.path, self.errno = path, errno


class DataError(EcgCwtError):
    """Data that cannot serve the requested analysis (e.g. too few subjects per class)."""
