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


class DataError(EcgCwtError):
    """Data that cannot serve the requested analysis (e.g. too few subjects per class)."""
