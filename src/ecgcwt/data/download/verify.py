"""Verification of downloaded records: SHA256SUMS.txt bookkeeping, second read, WFDB checksums, round trip.

What each mode can and cannot detect is described in the docstring of
:mod:`ecgcwt.data.download.physionet`. ``_Checks`` records, per record, which
checks each source file passed; it becomes fields of the manifest entry.
"""

from __future__ import annotations

import posixpath
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

import numpy as np
import wfdb
from wfdb.io import _signal as wfdb_signal

from ecgcwt.data.download.http import Log, _IntegrityError, _is_permanent, _Net
from ecgcwt.data.download.manifest import _sha256
from ecgcwt.errors import DownloadError

#: Checksum list PhysioNet publishes for each database version.
SHA256SUMS_NAME = "SHA256SUMS.txt"

# Query parameter of partial mode's second read (a fresh value per read defeats URL-keyed caches).
_VERIFY_QUERY = "ecgcwt-verify"
# Frames per chunk when reading a whole record to check the header's checksums.
_CHECKSUM_CHUNK = 1 << 20


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
