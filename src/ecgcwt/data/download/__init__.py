"""download: PhysioNet databases into ``resources/physionet/{db}/`` with wfdb, verified.

``physionet`` (the download: record list, selection, first samples, the
original files), ``http`` (one HTTP client: retries, timeouts, range reads),
``verify`` (second read, WFDB checksums, round trip) and ``manifest``
(``.download.json``: what is here, with its SHA-256, and whether it is stale).

Imports run one way only: ``physionet`` -> ``verify``, ``manifest``, ``http``;
``verify`` -> ``http``, ``manifest`` (for the SHA-256 of a file); ``http`` and
``manifest`` import none of the others.
"""

from ecgcwt._exports import lazy_face

__all__, __getattr__, __dir__ = lazy_face(
    __name__,
    {
        "download_database": ".physionet",
        "DownloadSummary": ".physionet",
        "ENV_INDEX_URL": ".http",
        "MANIFEST_NAME": ".manifest",
        "VERIFY_MODES": ".physionet",
        "partial_download_path": ".physionet",
    },
)
