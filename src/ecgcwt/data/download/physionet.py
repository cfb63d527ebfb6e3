"""Download PhysioNet databases (mitdb, chfdb, nsrdb, ...) into a local WFDB folder.

This is the ``data.source: physionet`` stage. One call fetches one database
version into ``resources/physionet/{db}/``; the Snakemake rule runs one job
per database.

Layout
------
On success ``dest`` holds, for every record, ``{record}.hea`` and
``{record}.dat`` (plus ``{record}.atr`` for full-length downloads when
``annotations=True`` and the database has them), a manifest
``.download.json`` and, written last and atomically, ``RECORDS`` (one record
name per line, in PhysioNet's order). ``RECORDS`` is the rule's output: its
presence means the folder is complete. It is removed when a download starts,
so a failed or interrupted run never leaves a folder that looks complete.

What is fetched
---------------
``max_duration_s`` given (default 512 s, the MathWorks dataset design: at
128 Hz that is the first 65,536 samples of each lead): only the first
``ceil(max_duration_s * fs)`` samples of each record are read, with
``wfdb.rdrecord(..., pn_dir=..., sampto=...)``, which asks the server for
that byte range only. They are written locally as WFDB format 16 with the
original gains, baselines and units, so the physical values are exactly the
original's (checked by reading the written record back). Records shorter than
``max_duration_s`` keep their full length.

``max_duration_s=None``: the original files are downloaded whole and
byte-for-byte.

Resume
------
Each record is written to a temporary name and renamed into place, and the
manifest stores, per record, the request (database version, max_duration_s,
annotations), the size and SHA-256 of every file written (taken when it was
written) and how its source was verified. A rerun skips a record only when its
manifest entry matches the request, every file still has its recorded size and
SHA-256, its header reads with wfdb, (format 16) its ``.dat`` size is
n_samples x n_signals x 2 bytes and, with ``verify="strict"``, the entry says
it was verified; anything else (a file truncated, edited or damaged on disk
after the download, a missing manifest entry, a different ``max_duration_s``,
an unverified download from a ``verify="warn"`` run) is logged with the reason
and fetched again. A full-length download interrupted mid-file keeps
``.{file}.part`` and resumes it with an HTTP ``Range`` request.

Verification
------------
What can be checked depends on the mode, and this module checks all of it:

* PhysioNet publishes ``{db}/{version}/SHA256SUMS.txt``, checksums of WHOLE
  files. Every file downloaded whole (the headers in both modes, all files in
  full-length mode) is checked against it; a mismatch deletes the file and
  retries, then raises :class:`~ecgcwt.errors.DownloadError` naming the file.
* WFDB headers carry a 16-bit checksum of all samples of each signal. Where
  the whole signal is read (full-length mode; partial mode when the record is
  no longer than ``max_duration_s``) the samples are checked against it: a
  mismatch is an error (retried where the files could not be checked against
  SHA256SUMS.txt, since then a damaged transfer is the likely cause).
* Partial mode (``max_duration_s`` set) reads a byte range of each ``.dat``,
  which no published checksum covers. The samples are therefore read a second
  time, independently (a separate ``Range`` request with urllib instead of
  wfdb's requests session, with a unique query string so that a URL-keyed
  cache cannot answer it from the same stored bytes, decoded locally), and the
  two reads must agree sample for sample; a disagreement (a transfer corrupted
  in flight) is retried, then raises naming the file. What partial mode CANNOT
  detect: a ``.dat`` that is damaged on the server itself, inside the range
  read, for a record longer than ``max_duration_s`` -- both reads return the
  same wrong bytes, SHA256SUMS.txt covers the whole file and the header's
  checksum all samples of the record. ``max_duration_s=None`` (whole files)
  is the fully verified mode.

Where ``SHA256SUMS.txt`` is missing (some mirrors) or does not list a file,
``verify="strict"`` (the workflow's default, ``data.verify``) fails with a
message saying how to proceed, and ``verify="warn"`` logs a warning, continues
and records ``"verified": false`` (with the files concerned) in the manifest.
``"strict"`` is the default here too.

Network errors are retried ``retries`` times in total per file with
exponential backoff (``backoff_s``, ``2 * backoff_s``, ...). Errors that a
retry cannot fix (HTTP 404 and other client errors) fail at once.

Server
------
The default server is PhysioNet (``https://physionet.org/files/``). Set
``index_url`` (or the environment variable ``ECGCWT_PHYSIONET_URL``, used when
``index_url`` is None) to a mirror laid out like PhysioNet:
``{index_url}/{db}/{version}/{file}``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import posixpath
import secrets
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

import numpy as np
import wfdb
from wfdb.io import _signal as wfdb_signal
from wfdb.io import _url as wfdb_url
from wfdb.io import download as wfdb_download

from ecgcwt import __version__
from ecgcwt.atomic import write_text
from ecgcwt.data.records import check_record_names
from ecgcwt.errors import DownloadError

#: Environment variable naming a PhysioNet mirror, used when ``index_url`` is None.
ENV_INDEX_URL = "ECGCWT_PHYSIONET_URL"
#: Manifest of what was downloaded, per record (JSON, in ``dest``).
MANIFEST_NAME = ".download.json"
#: Checksum list PhysioNet publishes for each database version.
SHA256SUMS_NAME = "SHA256SUMS.txt"
#: Values of ``verify`` (``data.verify``): what to do where SHA256SUMS.txt cannot vouch for a file.
VERIFY_MODES = ("strict", "warn")

_RESUME_HINT = (
    "Check your internet connection or PhysioNet's status; rerun the same command "
    "to resume (completed records are kept). Where this machine is offline (a cluster's "
    "submit host), download on one with internet first: "
    "`snakemake --cores 1 --until download_physionet weights`."
)
_CHUNK = 1 << 16
# Prefix of per-record scratch folders in dest; leftovers of a killed run are removed.
_TMP_PREFIX = ".ecgcwt-tmp-"
# HTTP client errors that a retry cannot fix (timeouts and rate limits can be).
_RETRYABLE_4XX = {408, 425, 429}

_NOT_READ = object()  # SHA256SUMS.txt not fetched yet
# Query parameter of partial mode's second read (a fresh value per read defeats URL-keyed caches).
_VERIFY_QUERY = "ecgcwt-verify"
# Frames per chunk when reading a whole record to check the header's checksums.
_CHECKSUM_CHUNK = 1 << 20

_PARTIAL_NOTE = (
    "[download] note: max_duration_s is set, so only the first samples of each .dat are fetched. "
    "Headers are checked against SHA256SUMS.txt; the samples against a second, independent read "
    "(a transfer corrupted in flight is caught) and, where the whole record is read, against the "
    "header's checksums. PhysioNet's SHA256SUMS.txt covers whole files only: a .dat damaged on the "
    "server itself is NOT detected in this mode (max_duration_s: null downloads whole files and "
    "verifies them)."
)

T = TypeVar("T")
Log = Callable[[str], object]


@dataclasses.dataclass(frozen=True)
class DownloadSummary:
    """What one :func:`download_database` call did.

    ``records`` are all requested records in PhysioNet's order, ``fetched``
    those downloaded by this call, ``skipped`` those already complete,
    ``bytes`` the size of the files this call wrote into ``dest`` and
    ``unverified`` the records in ``dest`` whose files SHA256SUMS.txt could not
    vouch for (only with ``verify="warn"``).
    """

    db: str
    version: str
    records: list[str]
    fetched: list[str]
    skipped: list[str]
    bytes: int
    unverified: list[str] = dataclasses.field(default_factory=list)


class _IntegrityError(Exception):
    """Downloaded content that is incomplete or fails its checksum (retried).

    ``hint`` replaces the generic advice in the final error when set.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def download_database(
    db: str,
    version: str,
    dest: str | os.PathLike,
    *,
    records: str | Sequence[str] = "all",
    max_duration_s: float | None = 512,
    retries: int = 3,
    backoff_s: float = 2.0,
    index_url: str | None = None,
    annotations: bool = False,
    timeout_s: float = 60.0,
    verify: str = "strict",
    log: Log = print,
) -> DownloadSummary:
    """Download PhysioNet database ``db`` version ``version`` into ``dest``.

    Parameters
    ----------
    db, version:
        PhysioNet slug and version, e.g. ``"mitdb"``, ``"1.0.0"``.
    dest:
        Target folder (``resources/physionet/{db}``); created if needed.
    records:
        ``"all"`` (the database's RECORDS list) or a list of record names;
        a name not in the database raises :class:`DownloadError`.
    max_duration_s:
        Keep the first ``max_duration_s`` seconds of each record (fetching
        only those samples); ``None`` downloads the original files whole.
    retries:
        Attempts per file in total (1 = no retry).
    backoff_s:
        Wait before the second attempt; doubled before each further one.
    index_url:
        Server root laid out like ``https://physionet.org/files/``; default
        ``$ECGCWT_PHYSIONET_URL`` or PhysioNet.
    annotations:
        Full-length mode only: also download ``{record}.atr`` where present.
    timeout_s:
        Seconds without a response before a request counts as failed.
    verify:
        ``"strict"``: a missing SHA256SUMS.txt, or a downloaded-whole file it
        does not list, is an error (and records an earlier ``"warn"`` run left
        unverified are fetched again). ``"warn"``: log a warning, continue and
        mark the records ``"verified": false`` in the manifest.
    log:
        Called with one progress or warning line at a time.

    Returns
    -------
    DownloadSummary

    Raises
    ------
    DownloadError
        After the last retry, on a checksum mismatch that persists, for an
        unknown record name or a database/version the server does not have,
        and with ``verify="strict"`` where SHA256SUMS.txt is missing.
    """
    _check_arguments(db, version, records, max_duration_s, retries, backoff_s, timeout_s)
    if verify not in VERIFY_MODES:
        raise DownloadError(f"verify must be one of {', '.join(VERIFY_MODES)} (data.verify), got {verify!r}")
    base_url = _resolve_index_url(index_url)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    records_path = dest / "RECORDS"
    # The folder is incomplete from now until this call succeeds.
    records_path.unlink(missing_ok=True)
    for leftover in dest.glob(f"{_TMP_PREFIX}*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)

    pn_dir = f"{db}/{version}"
    version_url = posixpath.join(base_url, pn_dir)
    net = _Net(retries=retries, backoff_s=backoff_s, timeout_s=timeout_s, log=log)

    with _wfdb_remote(base_url, timeout_s):
        available = _record_list(net, pn_dir, version_url)
        wanted = _select_records(available, records, db, version_url)

        manifest = _Manifest.load(dest, db)
        request = {
            "version": version,
            "max_duration_s": None if max_duration_s is None else float(max_duration_s),
            "annotations": bool(annotations) if max_duration_s is None else False,
        }
        sums: dict[str, str] | None | object = _NOT_READ
        fetched: list[str] = []
        skipped: list[str] = []
        written = 0
        noted_partial = False
        for i, name in enumerate(wanted, 1):
            where = f"{db}/{name}"
            old = manifest.records.get(name)
            stale = _stale_reason(dest, name, old, request, verify)
            if stale is None:
                skipped.append(name)
                continue
            if isinstance(old, dict):  # a record downloaded before: say why it is fetched again
                log(f"[download] {where}: {stale}; fetching it again")
            if sums is _NOT_READ:  # read once, only when something needs fetching
                sums = _read_sha256sums(net, version_url, db, version, dest, verify, log)
            if max_duration_s is not None and not noted_partial:
                noted_partial = True
                log(_PARTIAL_NOTE)
            log(f"[download] {where} ({i}/{len(wanted)}) from {version_url}")
            checks = _Checks(sums, verify, version_url, log)
            if max_duration_s is None:
                entry = _fetch_original(net, dest, name, version_url, checks, annotations, where, log)
            else:
                entry = _fetch_first_samples(net, dest, name, pn_dir, version_url, checks, float(max_duration_s), where)
            entry.update(request)
            entry.update(checks.manifest_fields())
            entry["source"] = version_url
            _remove_stale_files(dest, name, manifest.records.get(name), entry)
            manifest.records[name] = entry
            manifest.save()
            fetched.append(name)
            written += sum(int(size) for size in entry["sizes"].values())

    write_text(records_path, "".join(f"{name}\n" for name in wanted))
    unverified = [name for name in wanted if manifest.records[name].get("verified") is not True]
    log(
        f"[download] {db} {version}: {len(wanted)} records in {dest} "
        f"({len(fetched)} fetched, {len(skipped)} already complete, {written} bytes written)"
    )
    if unverified:
        log(
            f"[download] WARNING: {len(unverified)} of {len(wanted)} {db} records ({', '.join(unverified[:5])}"
            f"{', ...' if len(unverified) > 5 else ''}) were NOT verified against {SHA256SUMS_NAME} "
            f'(data.verify: warn); {dest / MANIFEST_NAME} marks them "verified": false'
        )
    return DownloadSummary(db, version, list(wanted), fetched, skipped, written, unverified)


# --------------------------------------------------------------------------
# Arguments, server selection


def _check_arguments(db, version, records, max_duration_s, retries, backoff_s, timeout_s) -> None:
    for what, value in (("db", db), ("version", version)):
        if not isinstance(value, str) or not value or "/" in value or value in (".", ".."):
            raise DownloadError(
                f"invalid PhysioNet {what} {value!r}: give a database slug like 'mitdb' "
                f"and a version like '1.0.0' (see data.databases in config.yaml)"
            )
    if isinstance(records, str) and records != "all":
        raise DownloadError(f"records for {db} must be 'all' or a list of record names, got {records!r}")
    if not isinstance(records, str):
        check_record_names(list(records), f"data.records.{db} (config.yaml)", error=DownloadError)
    if max_duration_s is not None and not (
        isinstance(max_duration_s, (int, float)) and math.isfinite(max_duration_s) and max_duration_s > 0
    ):
        raise DownloadError(
            f"max_duration_s must be a positive number of seconds or null (full length), got {max_duration_s!r}"
        )
    if not isinstance(retries, int) or retries < 1:
        raise DownloadError(f"retries must be an integer >= 1 (attempts per file), got {retries!r}")
    if backoff_s < 0 or timeout_s <= 0:
        raise DownloadError(
            f"backoff_s must be >= 0 and timeout_s > 0, got backoff_s={backoff_s!r}, timeout_s={timeout_s!r}"
        )


def _resolve_index_url(index_url: str | None) -> str:
    """The server root, always ending in '/': argument, then environment, then PhysioNet."""
    url = index_url or os.environ.get(ENV_INDEX_URL) or wfdb_download.PN_INDEX_URL
    if not url.startswith(("http://", "https://")):
        source = "index_url" if index_url else ENV_INDEX_URL
        raise DownloadError(
            f"{source}={url!r} is not an http(s) URL; give a PhysioNet mirror root such as "
            f"'https://physionet.org/files/'"
        )
    return url if url.endswith("/") else url + "/"


def _timeout_adapter(timeout_s: float):
    """A requests adapter that applies ``timeout_s`` to requests sent without a timeout.

    wfdb's requests session sends requests without a timeout, so a stalled
    connection would hang the job forever.
    """
    import requests.adapters  # a dependency of wfdb

    class TimeoutAdapter(requests.adapters.HTTPAdapter):
        def send(self, request, stream=False, timeout=None, **kwargs):
            return super().send(request, stream=stream, timeout=timeout or timeout_s, **kwargs)

    # Same pool settings as wfdb's own adapters (wfdb.io._url._get_session).
    return TimeoutAdapter(pool_maxsize=2, pool_block=True)


@contextlib.contextmanager
def _wfdb_remote(base_url: str, timeout_s: float) -> Iterator[None]:
    """Point wfdb's remote reads at ``base_url`` with a timeout; restore both afterwards."""
    previous_url = wfdb_download.config.db_index_url
    session = wfdb_url._get_session()
    previous_adapters = dict(session.adapters)
    wfdb_download.set_db_index_url(base_url)
    for prefix in ("http://", "https://"):
        session.mount(prefix, _timeout_adapter(timeout_s))
    try:
        yield
    finally:
        wfdb_download.set_db_index_url(previous_url)
        for prefix, adapter in previous_adapters.items():
            session.mount(prefix, adapter)


# --------------------------------------------------------------------------
# Network with retries


def _http_status(exc: BaseException) -> int | None:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code
    if isinstance(exc, wfdb_url.NetFileError):
        return exc.status_code
    return None


def _is_permanent(exc: BaseException) -> bool:
    """A client error (404, 403, ...) that repeating the request cannot fix."""
    status = _http_status(exc)
    return status is not None and 400 <= status < 500 and status not in _RETRYABLE_4XX


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, _IntegrityError):
        return str(exc)
    text = str(exc) or type(exc).__name__
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"


@dataclasses.dataclass
class _Net:
    retries: int
    backoff_s: float
    timeout_s: float
    log: Log

    def attempt(self, what: str, url: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` up to ``retries`` times; network and integrity errors are retried."""
        last: BaseException | None = None
        for attempt in range(1, self.retries + 1):
            try:
                return fn()
            except (OSError, _IntegrityError) as exc:  # URLError, requests and wfdb errors are OSError
                if _is_permanent(exc):
                    raise DownloadError(
                        f"could not download {what} from {url}: {_reason(exc)}. The server does "
                        f"not have this file: check the database name, version and record names "
                        f"(data.databases / data.records in config.yaml) or the mirror URL."
                    ) from exc
                last = exc
                if attempt < self.retries:
                    delay = self.backoff_s * 2 ** (attempt - 1)
                    self.log(
                        f"[download] {what}: attempt {attempt}/{self.retries} failed "
                        f"({_reason(exc)}); retrying in {delay:g} s"
                    )
                    time.sleep(delay)
        hint = _RESUME_HINT
        if isinstance(last, _IntegrityError) and last.hint:
            hint = last.hint
        elif isinstance(last, _IntegrityError):
            hint = (
                "If this persists, the server's copy differs from the checksum PhysioNet "
                "publishes (a damaged mirror or an interfering proxy); " + hint[0].lower() + hint[1:]
            )
        raise DownloadError(
            f"could not download {what} from {url} after {self.retries} tries: {_reason(last)}. {hint}"
        ) from last

    def get_bytes(self, url: str) -> bytes:
        """One plain GET of a small file; raises _IntegrityError on a short body."""
        with urllib.request.urlopen(_request(url), timeout=self.timeout_s) as response:
            data = response.read()
            expected = response.headers.get("Content-Length")
        if expected is not None and not response.headers.get("Content-Encoding"):
            if len(data) != int(expected):
                raise _IntegrityError(f"received {len(data)} of {expected} bytes from {url}")
        return data

    def get_file(self, url: str, part: Path) -> None:
        """Stream ``url`` into ``part``, continuing a partial ``part`` with a Range request."""
        start = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={start}-"} if start else {}
        try:
            response = urllib.request.urlopen(_request(url, headers), timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start:
                # The partial file is not a prefix of the server's file: start over.
                part.unlink()
                raise _IntegrityError(f"stale partial download of {url} discarded") from exc
            raise
        with response:
            status = response.status
            if status == 206:
                content_range = response.headers.get("Content-Range", "")
                if not content_range.startswith(f"bytes {start}-"):
                    part.unlink()
                    raise _IntegrityError(f"unexpected Content-Range {content_range!r} from {url}")
                mode = "ab"
                total = _content_range_total(content_range)
            else:  # 200: the server sent the whole file
                mode, start = "wb", 0
                length = response.headers.get("Content-Length")
                total = int(length) if length and not response.headers.get("Content-Encoding") else None
            with open(part, mode) as out:
                shutil.copyfileobj(response, out, _CHUNK)
        size = part.stat().st_size
        if total is not None and size != total:
            if size > total:  # cannot be a prefix of the file: start over
                part.unlink()
            raise _IntegrityError(f"received {size} of {total} bytes of {url}")

    def get_range(self, url: str, start: int, stop: int | None) -> bytes:
        """Bytes ``start`` to ``stop - 1`` (``stop=None``: to the end) of ``url``, with urllib.

        Used for the second, independent read of partial mode. A server that
        ignores ``Range`` answers 200 with the whole file: only the bytes
        wanted are read from it. Raises _IntegrityError on a short body.
        """
        headers = {"Range": f"bytes={start}-{'' if stop is None else stop - 1}"}
        with urllib.request.urlopen(_request(url, headers), timeout=self.timeout_s) as response:
            if response.status == 206:
                content_range = response.headers.get("Content-Range", "")
                if not content_range.startswith(f"bytes {start}-"):
                    raise _IntegrityError(f"unexpected Content-Range {content_range!r} from {url}")
                total = _content_range_total(content_range)
                data = response.read() if stop is None else response.read(stop - start)
            else:  # 200: the whole file
                length = response.headers.get("Content-Length")
                total = int(length) if length and not response.headers.get("Content-Encoding") else None
                data = (response.read() if stop is None else response.read(stop))[start:]
        end = stop if total is None else (total if stop is None else min(stop, total))
        if end is not None and len(data) != end - start:
            raise _IntegrityError(f"received {len(data)} of {end - start} bytes (from byte {start}) of {url}")
        return data


def _request(url: str, headers: dict[str, str] | None = None) -> urllib.request.Request:
    return urllib.request.Request(url, headers={"User-Agent": f"ecgcwt/{__version__} (urllib)", **(headers or {})})


def _content_range_total(content_range: str) -> int | None:
    total = content_range.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


# --------------------------------------------------------------------------
# Database-level files


def _record_list(net: _Net, pn_dir: str, version_url: str) -> list[str]:
    url = posixpath.join(version_url, "RECORDS")

    def fetch() -> list[str]:
        try:
            return wfdb.get_record_list(pn_dir)
        except ValueError as exc:
            if "no WFDB files" in str(exc):  # wfdb's translation of a 404 on RECORDS
                raise DownloadError(
                    f"{url} does not exist: PhysioNet has no database {pn_dir!r}. Check the "
                    f"database name and version in data.databases (config.yaml) or the mirror URL."
                ) from exc
            raise DownloadError(f"{url} is not a readable RECORDS list: {exc}") from exc

    names = [name.strip() for name in net.attempt(f"{pn_dir}/RECORDS", url, fetch)]
    names = [name for name in names if name]
    # the one record-name rule of every source (no absolute paths, no '..', ...), then this downloader's own limit
    check_record_names(names, url, error=DownloadError)
    nested = [name for name in names if "/" in name]
    if nested:
        raise DownloadError(
            f"{url} lists records in subfolders ({nested[0]!r}, ...); this downloader supports "
            f"flat databases such as mitdb, chfdb and nsrdb only."
        )
    return names


def _select_records(available: list[str], records, db: str, version_url: str) -> list[str]:
    if isinstance(records, str):  # "all" (other strings rejected earlier)
        return available
    requested = [str(name) for name in records]
    unknown = [name for name in requested if name not in set(available)]
    if unknown:
        raise DownloadError(
            f"record(s) {', '.join(unknown)} not in {db} (RECORDS at {version_url} lists "
            f"{len(available)} records, e.g. {', '.join(available[:5])}); fix data.records "
            f"in config.yaml."
        )
    wanted = set(requested)
    return [name for name in available if name in wanted]  # PhysioNet's order


def _read_sha256sums(
    net: _Net, version_url: str, db: str, version: str, dest: Path, verify: str, log: Log
) -> dict[str, str] | None:
    """``{path: sha256}`` from SHA256SUMS.txt, or None where the server has none.

    A missing file is an error with ``verify="strict"`` and a warning with
    ``verify="warn"``.
    """
    url = posixpath.join(version_url, SHA256SUMS_NAME)
    try:
        text = net.attempt(f"{db}/{version}/{SHA256SUMS_NAME}", url, lambda: net.get_bytes(url))
    except DownloadError as exc:
        if not _is_permanent(exc.__cause__):
            raise
        if verify == "strict":
            raise DownloadError(
                f"{db} {version}: {url} is not available ({_reason(exc.__cause__)}), so the files of "
                f"{db} {version} cannot be checked against PhysioNet's checksums, and data.verify is "
                f"'strict'. To proceed either set data.verify: warn in config.yaml (the files are then "
                f"downloaded unverified, a warning is logged and {dest / MANIFEST_NAME} marks them "
                f'"verified": false), or point data.physionet_url (or {ENV_INDEX_URL}) at a mirror that '
                f"has {SHA256SUMS_NAME}, such as https://physionet.org/files/."
            ) from exc.__cause__
        log(
            f"[download] WARNING: {url} is not available ({_reason(exc.__cause__)}); downloaded files of "
            f"{db} {version} cannot be checked against PhysioNet's checksums. Continuing because "
            f"data.verify is 'warn'; {dest / MANIFEST_NAME} marks these records \"verified\": false."
        )
        return None
    sums: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and len(parts[0]) == 64:
            sums[parts[1].lstrip("*").removeprefix("./")] = parts[0].lower()
    return sums


class _Checks:
    """What was verified for one record, and how; becomes fields of its manifest entry.

    ``checks[file]`` lists the checks a source file passed: ``"sha256sums"``
    (whole file against SHA256SUMS.txt), ``"header_checksum"`` (all samples
    against the header's per-signal checksum), ``"second_read"`` (the samples
    read, partial mode, equal to a second independent read). ``unverified``
    maps files that SHA256SUMS.txt should have vouched for, but could not, to
    the reason (``verify="warn"`` only: ``"strict"`` raises instead).
    """

    def __init__(self, sums, verify: str, version_url: str, log: Log):
        self.sums = sums
        self.verify = verify
        self.version_url = version_url
        self.log = log
        self.checks: dict[str, list[str]] = {}
        self.unverified: dict[str, str] = {}

    def passed(self, file_name: str, check: str) -> None:
        done = self.checks.setdefault(file_name, [])
        if check not in done:
            done.append(check)

    def sha256_verified(self, file_name: str) -> bool:
        return "sha256sums" in self.checks.get(file_name, [])

    def require_listed(self, file_name: str, where: str) -> None:
        """Before downloading ``file_name`` whole: fail (strict) or note (warn) where
        SHA256SUMS.txt cannot vouch for it."""
        if self.sums is None:
            self.unverified[file_name] = f"no {SHA256SUMS_NAME} on the server"
            return
        if file_name in self.sums:
            return
        url = posixpath.join(self.version_url, SHA256SUMS_NAME)
        if self.verify == "strict":
            raise DownloadError(
                f"{where}: {file_name} is not listed in {url}, so it cannot be verified, and data.verify "
                f"is 'strict'. To proceed either set data.verify: warn in config.yaml (the file is then "
                f"downloaded unverified and marked so in the download manifest), or use a mirror whose "
                f"{SHA256SUMS_NAME} lists it (data.physionet_url)."
            )
        self.log(f"[download] WARNING: {file_name} is not listed in {SHA256SUMS_NAME}; not verified")
        self.unverified[file_name] = f"not listed in {SHA256SUMS_NAME}"

    def verify_file(self, data_path: Path, file_name: str, url: str) -> None:
        """Raise _IntegrityError (retried) if ``data_path`` does not match SHA256SUMS.txt."""
        if self.sums is None or file_name not in self.sums:
            return
        actual = _sha256(data_path)
        if actual != self.sums[file_name]:
            data_path.unlink()
            raise _IntegrityError(
                f"SHA256 mismatch for {file_name}: expected {self.sums[file_name]}, got {actual} ({url}); "
                f"the file was deleted"
            )
        self.passed(file_name, "sha256sums")

    def manifest_fields(self) -> dict:
        return {
            "verify": self.verify,
            "verified": not self.unverified,
            "checks": {name: list(done) for name, done in sorted(self.checks.items())},
            "unverified": dict(sorted(self.unverified.items())),
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------
# Manifest and completeness


@dataclasses.dataclass
class _Manifest:
    path: Path
    db: str
    records: dict[str, dict]

    @classmethod
    def load(cls, dest: Path, db: str) -> "_Manifest":
        path = dest / MANIFEST_NAME
        records: dict[str, dict] = {}
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and data.get("db") == db and isinstance(data.get("records"), dict):
                records = data["records"]
        except (OSError, ValueError):
            pass  # missing or unreadable: every record is checked from scratch
        return cls(path, db, records)

    def save(self) -> None:
        write_text(
            self.path,
            json.dumps({"db": self.db, "ecgcwt_version": __version__, "records": self.records}, indent=1) + "\n",
        )


def _stale_reason(dest: Path, name: str, entry: dict | None, request: dict, verify: str) -> str | None:
    """None when ``name`` in ``dest`` is exactly what ``request`` would download, else why not.

    Every file is checked against the size and SHA-256 the manifest recorded
    when it was written, so a file damaged on disk after a complete download
    (truncated, edited, bytes zeroed) is detected and fetched again.
    """
    if not isinstance(entry, dict):
        return "not in the download manifest"
    changed = [key for key, value in request.items() if entry.get(key) != value]
    if changed:
        return f"downloaded with different settings ({', '.join(changed)})"
    files, sizes = entry.get("files"), entry.get("sizes")
    if not isinstance(files, dict) or not isinstance(sizes, dict) or f"{name}.hea" not in files:
        return "its manifest entry is incomplete"  # a hand-edited or foreign manifest
    for file_name, digest in files.items():
        path = dest / file_name
        if not path.is_file():
            return f"{file_name} is missing"
        if path.stat().st_size != sizes.get(file_name):
            return (
                f"{file_name} on disk has {path.stat().st_size} bytes, the manifest recorded "
                f"{sizes.get(file_name)} when it was written (damaged after the download)"
            )
        if _sha256(path) != digest:
            return (
                f"{file_name} on disk no longer has the SHA-256 recorded when it was written "
                f"(damaged after the download)"
            )
    try:
        header = wfdb.rdheader(str(dest / name))
    except Exception:  # any parse failure means "fetch again"
        return f"{name}.hea does not read as a WFDB header"
    if entry.get("max_duration_s") is not None:
        expected = header.sig_len * header.n_sig * 2  # format 16, one file
        if (dest / f"{name}.dat").stat().st_size != expected:
            return f"{name}.dat does not hold the {header.sig_len} samples its header announces"
    if verify == "strict" and entry.get("verified") is not True:
        if "verified" not in entry:
            return "its manifest entry predates download verification and data.verify is 'strict'"
        return "it was downloaded unverified (data.verify: warn) and data.verify is now 'strict'"
    return None


def _install(tmp_dir: Path, dest: Path, names: list[str]) -> None:
    """Move finished files into ``dest``, the header last.

    A run killed between two renames leaves files whose checksums no longer
    match the manifest, so the next run fetches that record again.
    """
    for file_name in names:
        os.replace(tmp_dir / file_name, dest / file_name)


def _remove_stale_files(dest: Path, name: str, old: dict | None, new: dict) -> None:
    """Delete files of an earlier download of ``name`` that the new one does not have
    (e.g. ``.atr`` after switching from full length to the first samples)."""
    old_files = old.get("files") if isinstance(old, dict) else None
    for file_name in old_files if isinstance(old_files, dict) else ():
        if file_name not in new["files"] and file_name.startswith(f"{name}.") and "/" not in file_name:
            (dest / file_name).unlink(missing_ok=True)


def _entry(tmp_dir: Path, names: list[str], **fields) -> dict:
    return {
        "files": {n: _sha256(tmp_dir / n) for n in names},
        "sizes": {n: (tmp_dir / n).stat().st_size for n in names},
        **fields,
    }


# --------------------------------------------------------------------------
# Per-record fetches


def _fetch_first_samples(
    net: _Net,
    dest: Path,
    name: str,
    pn_dir: str,
    version_url: str,
    checks: _Checks,
    max_duration_s: float,
    where: str,
) -> dict:
    """Read the first ``max_duration_s`` seconds with a range request; write format 16.

    The header is downloaded whole and checked against SHA256SUMS.txt. The
    samples are read twice, independently, and must agree; where the record is
    no longer than ``max_duration_s`` (all samples read) they are also checked
    against the header's per-signal checksums. See the module docstring for
    what this cannot detect.
    """
    with tempfile.TemporaryDirectory(prefix=f"{_TMP_PREFIX}{name}.", dir=dest) as tmp:
        tmp_dir = Path(tmp)
        src_dir = tmp_dir / "source"
        src_dir.mkdir()
        # The header is downloaded whole, so it can be checked against SHA256SUMS.txt.
        hea_url = posixpath.join(version_url, f"{name}.hea")
        checks.require_listed(f"{name}.hea", where)

        def fetch_header() -> wfdb.Record:
            (src_dir / f"{name}.hea").write_bytes(net.get_bytes(hea_url))
            checks.verify_file(src_dir / f"{name}.hea", f"{name}.hea", hea_url)
            return wfdb.rdheader(str(src_dir / name))

        header = net.attempt(f"{where}.hea", hea_url, fetch_header)
        _check_single_segment(header, where, hea_url)
        n_samples = min(int(header.sig_len), math.ceil(max_duration_s * header.fs - 1e-9))
        whole = n_samples == int(header.sig_len)

        dat_names = list(dict.fromkeys(header.file_name))
        dat_url = posixpath.join(version_url, dat_names[0])

        def fetch_samples() -> wfdb.Record:
            record = wfdb.rdrecord(name, pn_dir=pn_dir, sampto=n_samples, physical=False)
            shape = getattr(record.d_signal, "shape", None)
            if shape != (n_samples, header.n_sig):
                raise _IntegrityError(f"expected {n_samples} samples x {header.n_sig} signals, got {shape}")
            _check_same_header(record, header, where)  # wfdb fetched the header again, unchecked
            again = _second_read(net, src_dir, name, header, n_samples, version_url)
            _compare_reads(record.d_signal, again, header, where)
            return record

        record = net.attempt(f"{where} ({n_samples} samples)", dat_url, fetch_samples)
        for file_name in dat_names:
            checks.passed(file_name, "second_read")
        if whole:  # every sample was read: the header's checksums can be checked
            bad = _checksum_mismatches(_sample_sums(record.d_signal, header.fmt), header, range(header.n_sig))
            if bad:
                problem, cause = _checksum_problem(where, header, bad, checks, version_url, partial=True)
                raise DownloadError(f"{problem}. {cause}")
            for file_name in dat_names:
                if _has_checksums(header, file_name):
                    checks.passed(file_name, "header_checksum")
        record.d_signal = _as_format16(record, where)
        record.fmt = ["16"] * record.n_sig
        record.file_name = [f"{name}.dat"] * record.n_sig
        record.byte_offset = [None] * record.n_sig
        record.skew = [None] * record.n_sig  # rdrecord has already applied any skew
        record.record_name = name
        out_dir = tmp_dir / "out"
        out_dir.mkdir()
        record.wrsamp(write_dir=str(out_dir))
        _check_round_trip(out_dir / name, record.d_signal, record, where)

        files = [f"{name}.dat", f"{name}.hea"]
        entry = _entry(out_dir, files, n_samples=n_samples, fs=float(header.fs), n_sig=header.n_sig)
        _install(out_dir, dest, files)
    return entry


def _check_same_header(record: wfdb.Record, header, where: str) -> None:
    """wfdb's remote read fetches the header again: it must equal the checked one."""
    fields = ("fs", "n_sig", "fmt", "adc_gain", "baseline", "units", "sig_name", "file_name", "byte_offset")
    differ = [f for f in fields if getattr(record, f, None) != getattr(header, f, None)]
    if differ:
        raise _IntegrityError(
            f"{where}: the header wfdb read differs from the one checked against SHA256SUMS.txt ({', '.join(differ)})"
        )


def _signal_files(header) -> dict[str, list[int]]:
    """Signal file name -> indices of the signals stored in it, in header order."""
    groups: dict[str, list[int]] = {}
    for index, file_name in enumerate(header.file_name):
        groups.setdefault(file_name, []).append(index)
    return groups


def _second_read(net: _Net, src_dir: Path, name: str, header, n_samples: int, version_url: str) -> np.ndarray:
    """The first ``n_samples`` digital samples, read again independently of wfdb's remote read.

    For each signal file the same byte range wfdb reads is requested again,
    with urllib (not wfdb's requests session) and a fresh query string (a
    URL-keyed cache cannot answer it with the bytes it gave the first read),
    written at its offset into a local copy beside the checked header and
    decoded by wfdb from there. This catches a transfer corrupted in flight; it
    cannot catch a file that is damaged on the server (both reads agree).
    """
    for file_name, signals in _signal_files(header).items():
        if "/" in file_name:
            raise DownloadError(f"{name}: signal file {file_name!r} in a subfolder is not supported")
        fmt = header.fmt[signals[0]]
        if fmt in wfdb_signal.COMPRESSED_FMTS:  # no byte ranges in FLAC: read the whole file
            start, stop = 0, None
        else:
            byte_offset = (header.byte_offset or [None] * header.n_sig)[signals[0]] or 0
            skew = [((header.skew or [None] * header.n_sig)[i] or 0) for i in signals]
            start, n_read, *_ = wfdb_signal._dat_read_params(
                fmt, int(header.sig_len), byte_offset, skew, len(signals), 0, n_samples
            )
            stop = start + wfdb_signal._required_byte_num("read", fmt, n_read)
        url = posixpath.join(version_url, file_name)
        data = _get_range_uncached(net, url, start, stop)
        with open(src_dir / file_name, "wb") as out:
            out.seek(start)  # the bytes before the range are never read
            out.write(data)
    again = wfdb.rdrecord(str(src_dir / name), sampto=n_samples, physical=False)
    for file_name in _signal_files(header):
        (src_dir / file_name).unlink()
    return again.d_signal


def _get_range_uncached(net: _Net, url: str, start: int, stop: int | None) -> bytes:
    """``net.get_range`` with a unique query string; plain URL if the server rejects queries."""
    try:
        return net.get_range(f"{url}?{_VERIFY_QUERY}={secrets.token_hex(6)}", start, stop)
    except urllib.error.HTTPError as exc:
        if not _is_permanent(exc):
            raise
        return net.get_range(url, start, stop)  # a mirror that refuses query strings


def _compare_reads(first: np.ndarray, second: np.ndarray, header, where: str) -> None:
    """Raise _IntegrityError (retried) if the two reads of the same samples differ."""
    first, second = np.asarray(first), np.asarray(second)
    if first.shape == second.shape and np.array_equal(first, second):
        return
    if first.shape != second.shape:
        detail = f"shapes {first.shape} and {second.shape}"
    else:
        differ = np.argwhere(first != second)
        sample, signal = (int(v) for v in differ[0])
        detail = (
            f"{len(differ)} samples differ, the first at sample {sample} of signal {signal} "
            f"({header.sig_name[signal]}, {header.file_name[signal]}): {first[sample, signal]} vs "
            f"{second[sample, signal]}"
        )
    raise _IntegrityError(
        f"two independent reads of the first {first.shape[0] if first.ndim else 0} samples of "
        f"{', '.join(dict.fromkeys(header.file_name))} disagree ({detail}): the data was corrupted in transfer",
        hint=(
            "The two reads kept disagreeing: something between this machine and the server (network, "
            "proxy, cache) is corrupting the data. Rerun later, from another network, or with another "
            "mirror (data.physionet_url); completed records are kept."
        ),
    )


def _sample_sums(d_signal: np.ndarray, fmts: Sequence[str]) -> list[tuple[int, int]]:
    """Per signal: (sum of the digital samples, number of invalid-sample markers)."""
    d = np.asarray(d_signal, dtype=np.int64)
    out = []
    for ch, fmt in enumerate(fmts):
        invalid = wfdb_signal.INVALID_SAMPLE_VALUE.get(fmt)
        n_invalid = int(np.count_nonzero(d[:, ch] == invalid)) if invalid is not None else 0
        out.append((int(d[:, ch].sum()), n_invalid))
    return out


def _has_checksums(header, file_name: str) -> bool:
    checksums = header.checksum or []
    return all(i < len(checksums) and checksums[i] is not None for i in _signal_files(header).get(file_name, []))


def _checksum_mismatches(sums: list[tuple[int, int]], header, signals) -> list[tuple[int, int, int]]:
    """(signal, computed, header's) for each signal whose samples do not match the header's checksum.

    The WFDB checksum is the sum of all samples modulo 2**16 (written signed or
    unsigned). Writers differ on invalid samples: they are counted either as the
    format's own marker (e.g. -2048 in format 212, as stored) or as WFDB's
    -32768; either matches. Signals without a checksum are not checked.
    """
    checksums = header.checksum or []
    bad = []
    for ch in signals:
        want = checksums[ch] if ch < len(checksums) else None
        if want is None:
            continue
        total, n_invalid = sums[ch]
        invalid = wfdb_signal.INVALID_SAMPLE_VALUE.get(header.fmt[ch]) or 0
        candidates = {total % 65536, (total + n_invalid * (-32768 - invalid)) % 65536}
        if int(want) % 65536 not in candidates:
            bad.append((ch, total % 65536, int(want)))
    return bad


def _checksum_problem(where: str, header, bad, checks: _Checks, version_url: str, partial: bool) -> tuple[str, str]:
    """(what is wrong, what it means and what to do) for header checksum mismatches."""
    files = list(dict.fromkeys(header.file_name[ch] for ch, _, _ in bad))
    # The computed sum is shown in the header's own convention (WFDB writes it signed or unsigned).
    what = "; ".join(
        f"signal {ch} ({header.sig_name[ch]}): checksum of the samples "
        f"{got - 65536 if want < 0 and got > 32767 else got}, the header says {want}"
        for ch, got, want in bad
    )
    verified = all(checks.sha256_verified(f) for f in [f"{header.record_name}.hea", *([] if partial else files)])
    if verified and partial:
        cause = (
            "Two independent reads agree and the header matches SHA256SUMS.txt, so the server's copy of "
            f"{', '.join(files)} is damaged: use another mirror (data.physionet_url) or report it to its maintainers."
        )
    elif verified:
        cause = (
            f"Both {header.record_name}.hea and {', '.join(files)} match SHA256SUMS.txt, so the files the "
            f"server publishes are inconsistent with each other: report it to the maintainers of "
            f"{version_url} and use another version or mirror."
        )
    else:
        cause = (
            f"The files could not be checked against SHA256SUMS.txt, so the copy on the server ({version_url}) "
            f"is probably damaged: use a mirror that publishes {SHA256SUMS_NAME} (data.physionet_url)."
        )
    return (
        f"{where}: {', '.join(files)} does not match the WFDB checksums in {header.record_name}.hea "
        f"({what}); nothing of this record was kept",
        cause,
    )


def _check_single_segment(header, where: str, url: str) -> None:
    if isinstance(header, wfdb.MultiRecord) or not getattr(header, "file_name", None):
        raise DownloadError(
            f"{where} ({url}) is a multi-segment or signal-less record; this downloader handles "
            f"single-segment records such as those of mitdb, chfdb and nsrdb only."
        )
    if any(spf not in (None, 1) for spf in header.samps_per_frame or []):
        raise DownloadError(
            f"{where} ({url}) has several samples per frame; this downloader handles one sample "
            f"per frame only (as in mitdb, chfdb and nsrdb)."
        )


def _as_format16(record: wfdb.Record, where: str) -> np.ndarray:
    """Digital samples as format 16: same values, invalid samples mapped to format 16's marker."""
    d = np.asarray(record.d_signal, dtype=np.int64).copy()
    lo, hi = wfdb_signal.SAMPLE_VALUE_RANGE["16"]
    for ch, fmt in enumerate(record.fmt):
        invalid = wfdb_signal.INVALID_SAMPLE_VALUE.get(fmt)
        column = d[:, ch]
        mask = column == invalid if invalid is not None else np.zeros(len(column), bool)
        valid = column[~mask]
        if valid.size and (valid.min() <= lo or valid.max() > hi):
            raise DownloadError(
                f"{where}: signal {ch} (format {fmt}) has digital values outside format 16's "
                f"range; download it full length (max_duration_s: null) instead."
            )
        column[mask] = wfdb_signal.INVALID_SAMPLE_VALUE["16"]
    return d


def _check_round_trip(path: Path, d16: np.ndarray, record: wfdb.Record, where: str) -> None:
    """Re-read the written record: digital values, gains, baselines and units must be unchanged.

    Physical values are (digital - baseline) / gain, so equal digital values,
    gains and baselines mean exactly equal physical values.
    """
    back = wfdb.rdrecord(str(path), physical=False)
    same = (
        back.d_signal is not None
        and np.array_equal(back.d_signal, d16)
        and list(back.adc_gain) == list(record.adc_gain)
        and list(back.baseline) == list(record.baseline)
        and list(back.units) == list(record.units)
        and list(back.fmt) == ["16"] * record.n_sig
        and back.fs == record.fs
    )
    if not same:
        raise DownloadError(
            f"{where}: the format-16 copy written in {path.parent} does not reproduce the "
            f"downloaded samples; this is a bug, please report it."
        )


def _fetch_original(
    net: _Net,
    dest: Path,
    name: str,
    version_url: str,
    checks: _Checks,
    annotations: bool,
    where: str,
    log: Log,
) -> dict:
    """Download the record's original files whole, each checked against SHA256SUMS.txt,
    and the samples against the header's per-signal checksums."""
    sums = checks.sums
    with tempfile.TemporaryDirectory(prefix=f"{_TMP_PREFIX}{name}.", dir=dest) as tmp:
        tmp_dir = Path(tmp)

        def download(file_name: str) -> None:
            url = posixpath.join(version_url, file_name)
            part = partial_download_path(dest, file_name)

            def fetch() -> None:
                net.get_file(url, part)
                checks.verify_file(part, file_name, url)

            net.attempt(f"{posixpath.dirname(where)}/{file_name}", url, fetch)
            os.replace(part, tmp_dir / file_name)

        checks.require_listed(f"{name}.hea", where)
        download(f"{name}.hea")
        header = wfdb.rdheader(str(tmp_dir / name))
        hea_url = posixpath.join(version_url, f"{name}.hea")
        _check_single_segment(header, where, hea_url)
        files = list(dict.fromkeys(header.file_name))
        for file_name in files:
            if "/" in file_name:
                raise DownloadError(f"{where}: signal file {file_name!r} in a subfolder is not supported")
            checks.require_listed(file_name, where)

        def fetch_signals() -> None:
            for file_name in files:
                download(file_name)
            bad = _checksum_mismatches(_record_sums(tmp_dir / name, header), header, range(header.n_sig))
            if not bad:
                return
            problem, cause = _checksum_problem(where, header, bad, checks, version_url, partial=False)
            if all(checks.sha256_verified(f) for f in [f"{name}.hea", *files]):
                raise DownloadError(f"{problem}. {cause}")  # the published files disagree: a retry cannot help
            for file_name in files:  # unverified: perhaps damaged in transfer, fetch again
                (tmp_dir / file_name).unlink(missing_ok=True)
            raise _IntegrityError(problem, hint=cause + " Completed records are kept.")

        net.attempt(f"{where} (signal files)", posixpath.join(version_url, files[0]), fetch_signals)
        for file_name in files:
            if _has_checksums(header, file_name):
                checks.passed(file_name, "header_checksum")
        if annotations:
            atr = f"{name}.atr"
            if sums is not None and atr not in sums:
                log(f"[download] {where}: no {atr} in this database; continuing without annotations")
            else:
                try:
                    if sums is None:
                        checks.require_listed(atr, where)
                    download(atr)
                    files.append(atr)
                except DownloadError as exc:
                    checks.unverified.pop(atr, None)
                    if sums is not None or _http_status(exc.__cause__) != 404:
                        raise
                    log(f"[download] {where}: no {atr} on the server; continuing without annotations")
        files.append(f"{name}.hea")  # installed last
        entry = _entry(tmp_dir, files, n_samples=int(header.sig_len), fs=float(header.fs), n_sig=header.n_sig)
        _install(tmp_dir, dest, files)
    return entry


def _record_sums(path: Path, header) -> list[tuple[int, int]]:
    """:func:`_sample_sums` of a whole local record, read in chunks (long records stay small in memory)."""
    n = int(header.sig_len)
    totals = [(0, 0)] * header.n_sig
    for start in range(0, n, _CHECKSUM_CHUNK):
        stop = min(n, start + _CHECKSUM_CHUNK)
        try:
            chunk = wfdb.rdrecord(str(path), sampfrom=start, sampto=stop, physical=False).d_signal
        except Exception as exc:  # a truncated or garbled signal file
            raise _IntegrityError(f"{path.name}: samples {start}-{stop} cannot be read ({exc})") from exc
        if chunk is None or chunk.shape != (stop - start, header.n_sig):
            raise _IntegrityError(
                f"{path.name}: samples {start}-{stop} cannot be read (got {getattr(chunk, 'shape', None)})"
            )
        totals = [(t + s, k + m) for (t, k), (s, m) in zip(totals, _sample_sums(chunk, header.fmt))]
    return totals


def partial_download_path(dest: Path, file_name: str) -> Path:
    """Where a full-length download of ``file_name`` accumulates until it is verified."""
    return dest / f".{file_name}.part"
