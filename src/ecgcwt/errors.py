"""Exceptions raised for bad input.

Every message says which file or setting is at fault and what to do about it,
so that a user reading a Snakemake log can act without reading our code.
"""

import os
import urllib.error
from pathlib import Path


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


def error_reason(exc: BaseException) -> str:
    """Why ``exc`` happened, in one phrase for a message (the downloads of records and of weights share it).

    ``HTTP 404 Not Found`` for an HTTP error, ``URLError: [Errno 111] Connection refused`` for a
    connection that failed (the socket error, without ``<urlopen error ...>``), this package's own
    errors as their message, anything else as ``TypeName: message`` (the type name once).
    """
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc).__name__}: {exc.reason}"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, EcgCwtError):
        return text
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"


def broken_link(path: str | os.PathLike) -> str | None:
    """Where ``path`` fails on a broken symbolic link (it or a folder above it), in words; None when none does.

    ``"data/mitdb/100.hea is a link to /archive/mitdb/100.hea, which does not exist"``: the link and its
    target, for the message of a file that cannot be found.
    """
    path = Path(path)
    for p in [*reversed(path.parents), path]:
        if p.is_symlink() and not p.exists():
            return f"{p} is a link to {os.readlink(p)}, which does not exist (a broken link)"
        if not p.exists():
            return None
    return None
