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
annotations) and the SHA-256 of every file written. A rerun skips a record
when its manifest entry matches the request, its files still have those
checksums, its header reads with wfdb and (format 16) its ``.dat`` size is
n_samples x n_signals x 2 bytes; anything else (truncated or edited file,
missing manifest entry, different ``max_duration_s``) is fetched again. A
full-length download interrupted mid-file keeps ``.{file}.part`` and resumes
it with an HTTP ``Range`` request.

Verification
------------
PhysioNet publishes ``{db}/{version}/SHA256SUMS.txt``. Every file that is
downloaded whole (the headers in both modes, all files in full-length mode) is
checked against it; a mismatch deletes the file and retries, then raises
:class:`~ecgcwt.errors.DownloadError` naming the file. A partial ``.dat`` read
cannot be checked against a whole-file checksum; its sample count is checked
instead. Where ``SHA256SUMS.txt`` is missing (some mirrors), a warning is
logged and the download continues without checksums.

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

from . import __version__
from .atomic import write_text
from .errors import DownloadError

#: Environment variable naming a PhysioNet mirror, used when ``index_url`` is None.
ENV_INDEX_URL = "ECGCWT_PHYSIONET_URL"
#: Manifest of what was downloaded, per record (JSON, in ``dest``).
MANIFEST_NAME = ".download.json"
#: Checksum list PhysioNet publishes for each database version.
SHA256SUMS_NAME = "SHA256SUMS.txt"

_RESUME_HINT = (
    "Check your internet connection or PhysioNet's status; rerun the same command "
    "to resume (completed records are kept)."
)
_CHUNK = 1 << 16
# Prefix of per-record scratch folders in dest; leftovers of a killed run are removed.
_TMP_PREFIX = ".ecgcwt-tmp-"
# HTTP client errors that a retry cannot fix (timeouts and rate limits can be).
_RETRYABLE_4XX = {408, 425, 429}

_NOT_READ = object()  # SHA256SUMS.txt not fetched yet

T = TypeVar("T")
Log = Callable[[str], object]


@dataclasses.dataclass(frozen=True)
class DownloadSummary:
    """What one :func:`download_database` call did.

    ``records`` are all requested records in PhysioNet's order, ``fetched``
    those downloaded by this call, ``skipped`` those already complete, and
    ``bytes`` the size of the files this call wrote into ``dest``.
    """

    db: str
    version: str
    records: list[str]
    fetched: list[str]
    skipped: list[str]
    bytes: int


class _IntegrityError(Exception):
    """Downloaded content that is incomplete or fails its checksum (retried)."""


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
    log:
        Called with one progress or warning line at a time.

    Returns
    -------
    DownloadSummary

    Raises
    ------
    DownloadError
        After the last retry, on a checksum mismatch that persists, for an
        unknown record name or a database/version the server does not have.
    """
    _check_arguments(db, version, records, max_duration_s, retries, backoff_s, timeout_s)
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
        for i, name in enumerate(wanted, 1):
            if _is_complete(dest, name, manifest.records.get(name), request):
                skipped.append(name)
                continue
            where = f"{db}/{name}"
            if sums is _NOT_READ:  # read once, only when something needs fetching
                sums = _read_sha256sums(net, version_url, db, version, log)
            log(f"[download] {where} ({i}/{len(wanted)}) from {version_url}")
            if max_duration_s is None:
                entry = _fetch_original(net, dest, name, version_url, sums, annotations, where, log)
            else:
                entry = _fetch_first_samples(net, dest, name, pn_dir, version_url, sums, float(max_duration_s), where)
            entry.update(request)
            entry["source"] = version_url
            _remove_stale_files(dest, name, manifest.records.get(name), entry)
            manifest.records[name] = entry
            manifest.save()
            fetched.append(name)
            written += sum(int(size) for size in entry["sizes"].values())

    write_text(records_path, "".join(f"{name}\n" for name in wanted))
    log(
        f"[download] {db} {version}: {len(wanted)} records in {dest} "
        f"({len(fetched)} fetched, {len(skipped)} already complete, {written} bytes written)"
    )
    return DownloadSummary(db, version, list(wanted), fetched, skipped, written)


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
    if max_duration_s is not None and not (
        isinstance(max_duration_s, (int, float)) and math.isfinite(max_duration_s) and max_duration_s > 0
    ):
        raise DownloadError(
            f"max_duration_s must be a positive number of seconds or null (full length), " f"got {max_duration_s!r}"
        )
    if not isinstance(retries, int) or retries < 1:
        raise DownloadError(f"retries must be an integer >= 1 (attempts per file), got {retries!r}")
    if backoff_s < 0 or timeout_s <= 0:
        raise DownloadError(
            f"backoff_s must be >= 0 and timeout_s > 0, got backoff_s={backoff_s!r}, " f"timeout_s={timeout_s!r}"
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
        if isinstance(last, _IntegrityError):
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
    nested = [name for name in names if "/" in name or name in (".", "..")]
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


def _read_sha256sums(net: _Net, version_url: str, db: str, version: str, log: Log) -> dict[str, str] | None:
    """``{path: sha256}`` from SHA256SUMS.txt, or None (with a warning) where there is none."""
    url = posixpath.join(version_url, SHA256SUMS_NAME)
    try:
        text = net.attempt(f"{db}/{version}/{SHA256SUMS_NAME}", url, lambda: net.get_bytes(url))
    except DownloadError as exc:
        if not _is_permanent(exc.__cause__):
            raise
        log(
            f"[download] WARNING: {url} is not available ({_reason(exc.__cause__)}); "
            f"downloaded files of {db} {version} cannot be checked against PhysioNet's checksums."
        )
        return None
    sums: dict[str, str] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and len(parts[0]) == 64:
            sums[parts[1].lstrip("*").removeprefix("./")] = parts[0].lower()
    return sums


def _verify(data_path: Path, name: str, sums: dict[str, str] | None, url: str) -> None:
    """Raise _IntegrityError (retried) if ``data_path`` does not match SHA256SUMS.txt."""
    if sums is None or name not in sums:
        return
    actual = _sha256(data_path)
    if actual != sums[name]:
        data_path.unlink()
        raise _IntegrityError(
            f"SHA256 mismatch for {name}: expected {sums[name]}, got {actual} ({url}); " f"the file was deleted"
        )


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


def _is_complete(dest: Path, name: str, entry: dict | None, request: dict) -> bool:
    """True when ``name`` in ``dest`` is exactly what ``request`` would download."""
    if not isinstance(entry, dict) or any(entry.get(key) != value for key, value in request.items()):
        return False
    files, sizes = entry.get("files"), entry.get("sizes")
    if not isinstance(files, dict) or not isinstance(sizes, dict) or f"{name}.hea" not in files:
        return False  # a hand-edited or foreign manifest: fetch again
    for file_name, digest in files.items():
        path = dest / file_name
        if not path.is_file() or path.stat().st_size != sizes.get(file_name) or _sha256(path) != digest:
            return False
    try:
        header = wfdb.rdheader(str(dest / name))
    except Exception:  # any parse failure means "fetch again"
        return False
    if entry.get("max_duration_s") is not None:
        expected = header.sig_len * header.n_sig * 2  # format 16, one file
        if (dest / f"{name}.dat").stat().st_size != expected:
            return False
    return True


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
    sums: dict[str, str] | None,
    max_duration_s: float,
    where: str,
) -> dict:
    """Read the first ``max_duration_s`` seconds with a range request; write format 16."""
    with tempfile.TemporaryDirectory(prefix=f"{_TMP_PREFIX}{name}.", dir=dest) as tmp:
        tmp_dir = Path(tmp)
        src_dir = tmp_dir / "source"
        src_dir.mkdir()
        # The header is downloaded whole, so it can be checked against SHA256SUMS.txt.
        hea_url = posixpath.join(version_url, f"{name}.hea")

        def fetch_header() -> wfdb.Record:
            (src_dir / f"{name}.hea").write_bytes(net.get_bytes(hea_url))
            _verify(src_dir / f"{name}.hea", f"{name}.hea", sums, hea_url)
            return wfdb.rdheader(str(src_dir / name))

        header = net.attempt(f"{where}.hea", hea_url, fetch_header)
        _check_single_segment(header, where, hea_url)
        n_samples = min(int(header.sig_len), math.ceil(max_duration_s * header.fs - 1e-9))

        dat_names = sorted(set(header.file_name))
        dat_url = posixpath.join(version_url, dat_names[0])

        def fetch_samples() -> wfdb.Record:
            record = wfdb.rdrecord(name, pn_dir=pn_dir, sampto=n_samples, physical=False)
            shape = getattr(record.d_signal, "shape", None)
            if shape != (n_samples, header.n_sig):
                raise _IntegrityError(f"expected {n_samples} samples x {header.n_sig} signals, got {shape}")
            return record

        record = net.attempt(f"{where} ({n_samples} samples)", dat_url, fetch_samples)
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
    sums: dict[str, str] | None,
    annotations: bool,
    where: str,
    log: Log,
) -> dict:
    """Download the record's original files whole, each checked against SHA256SUMS.txt."""
    with tempfile.TemporaryDirectory(prefix=f"{_TMP_PREFIX}{name}.", dir=dest) as tmp:
        tmp_dir = Path(tmp)

        def download(file_name: str) -> None:
            url = posixpath.join(version_url, file_name)
            part = _part_path(dest, file_name)

            def fetch() -> None:
                net.get_file(url, part)
                _verify(part, file_name, sums, url)

            net.attempt(f"{posixpath.dirname(where)}/{file_name}", url, fetch)
            if sums is not None and file_name not in sums:
                log(f"[download] WARNING: {file_name} is not listed in {SHA256SUMS_NAME}; not verified")
            os.replace(part, tmp_dir / file_name)

        download(f"{name}.hea")
        header = wfdb.rdheader(str(tmp_dir / name))
        hea_url = posixpath.join(version_url, f"{name}.hea")
        _check_single_segment(header, where, hea_url)
        files = list(dict.fromkeys(header.file_name))
        for file_name in files:
            if "/" in file_name:
                raise DownloadError(f"{where}: signal file {file_name!r} in a subfolder is not supported")
            download(file_name)
        if annotations:
            atr = f"{name}.atr"
            if sums is not None and atr not in sums:
                log(f"[download] {where}: no {atr} in this database; continuing without annotations")
            else:
                try:
                    download(atr)
                    files.append(atr)
                except DownloadError as exc:
                    if sums is not None or _http_status(exc.__cause__) != 404:
                        raise
                    log(f"[download] {where}: no {atr} on the server; continuing without annotations")
        files.append(f"{name}.hea")  # installed last
        entry = _entry(tmp_dir, files, n_samples=int(header.sig_len), fs=float(header.fs), n_sig=header.n_sig)
        _install(tmp_dir, dest, files)
    return entry


def _part_path(dest: Path, file_name: str) -> Path:
    """Where a full-length download of ``file_name`` accumulates until it is verified."""
    return dest / f".{file_name}.part"
