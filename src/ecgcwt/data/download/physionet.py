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
What can be checked depends on the mode, and the download checks all of it
(the checks live in :mod:`ecgcwt.data.download.verify`):

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

import dataclasses
import math
import os
import posixpath
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import wfdb

from ecgcwt.atomic import write_text
from ecgcwt.data.download.http import (
    ENV_INDEX_URL,
    Log,
    _http_status,
    _IntegrityError,
    _is_permanent,
    _Net,
    _resolve_index_url,
    _wfdb_remote,
)
from ecgcwt.data.download.manifest import MANIFEST_NAME, _entry, _install, _Manifest, _remove_stale_files, _stale_reason
from ecgcwt.data.download.verify import (
    SHA256SUMS_NAME,
    _as_format16,
    _check_round_trip,
    _check_same_header,
    _check_single_segment,
    _Checks,
    _checksum_mismatches,
    _checksum_problem,
    _compare_reads,
    _has_checksums,
    _record_sums,
    _sample_sums,
    _second_read,
)
from ecgcwt.data.records import check_record_names
from ecgcwt.errors import DownloadError, error_reason

#: Values of ``verify`` (``data.verify``): what to do where SHA256SUMS.txt cannot vouch for a file.
VERIFY_MODES = ("strict", "warn")

# Prefix of per-record scratch folders in dest; leftovers of a killed run are removed.
_TMP_PREFIX = ".ecgcwt-tmp-"

_NOT_READ = object()  # SHA256SUMS.txt not fetched yet

_PARTIAL_NOTE = (
    "[download] note: max_duration_s is set, so only the first samples of each .dat are fetched. "
    "Headers are checked against SHA256SUMS.txt; the samples against a second, independent read "
    "(a transfer corrupted in flight is caught) and, where the whole record is read, against the "
    "header's checksums. PhysioNet's SHA256SUMS.txt covers whole files only: a .dat damaged on the "
    "server itself is NOT detected in this mode (max_duration_s: null downloads whole files and "
    "verifies them)."
)


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
# Arguments


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
                f"{db} {version}: {url} is not available ({error_reason(exc.__cause__)}), so the files of "
                f"{db} {version} cannot be checked against PhysioNet's checksums, and data.verify is "
                f"'strict'. To proceed either set data.verify: warn in config.yaml (the files are then "
                f"downloaded unverified, a warning is logged and {dest / MANIFEST_NAME} marks them "
                f'"verified": false), or point data.physionet_url (or {ENV_INDEX_URL}) at a mirror that '
                f"has {SHA256SUMS_NAME}, such as https://physionet.org/files/."
            ) from exc.__cause__
        log(
            f"[download] WARNING: {url} is not available ({error_reason(exc.__cause__)}); downloaded files of "
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


def partial_download_path(dest: Path, file_name: str) -> Path:
    """Where a full-length download of ``file_name`` accumulates until it is verified."""
    return dest / f".{file_name}.part"
