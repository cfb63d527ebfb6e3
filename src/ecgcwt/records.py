"""Reading WFDB records from a database folder, with errors a user can act on.

A database folder is laid out as PhysioNet publishes it: ``{db}/RECORDS`` (one
record name per line) and, per record, ``{record}.hea`` (header) and the signal
file(s) the header names (``{record}.dat``). This is what the download and
synthetic stages write, and what ``data.source: local`` reads.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import wfdb
from wfdb.io import _signal

from .errors import RecordError

_FIX = "Delete the folder's RECORDS file and rerun the workflow to download it again, or fix data.path."


@dataclass
class Record:
    """One WFDB record, in physical units."""

    db: str
    name: str
    path: Path  # record path without extension
    fs: float
    signal: np.ndarray  # (n_samples, n_channels) float64, physical units (NaN where WFDB marks missing)
    sig_names: list[str]
    units: list[str]
    clipped: np.ndarray  # (n_samples, n_channels) bool: the stored sample sits at its format's ADC limit

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[0])


def read_record_list(db_dir: str | os.PathLike) -> list[str]:
    """Record names listed in ``{db_dir}/RECORDS``, in file order."""
    db_dir = Path(db_dir)
    path = db_dir / "RECORDS"
    if not path.is_file():
        raise RecordError(
            f"{path} not found: a database folder needs a RECORDS file listing its records. "
            f"For data.source: local, point data.path at a folder with one sub-folder per database "
            f"(e.g. mitdb/RECORDS, mitdb/100.hea, mitdb/100.dat)."
        )
    names = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if not names:
        raise RecordError(f"{path} lists no records. {_FIX}")
    return names


def read_record(
    db_dir: str | os.PathLike,
    name: str,
    *,
    max_duration_s: float | None = None,
    channels: Sequence[int] | None = None,
) -> Record:
    """Read record ``name`` of the database folder ``db_dir``.

    ``max_duration_s`` keeps only the first seconds (the whole record when
    shorter); ``channels`` selects channel indices. Raises :class:`RecordError`
    naming the file for a missing, unreadable or truncated record.
    """
    db_dir = Path(db_dir)
    base = db_dir / name
    hea = base.with_name(base.name + ".hea")
    if not hea.is_file():
        raise RecordError(f"header file {hea} not found (record {name!r} is listed in {db_dir / 'RECORDS'}). {_FIX}")
    try:
        header = wfdb.rdheader(str(base))
    except Exception as exc:  # wfdb raises several types for malformed headers
        raise RecordError(f"cannot parse header {hea}: {exc}. The file is corrupt. {_FIX}") from exc
    if not header.fs or header.fs <= 0:
        raise RecordError(f"header {hea} has no valid sampling frequency. {_FIX}")
    n_sig = header.n_sig or 0
    if n_sig == 0 or not header.file_name:
        raise RecordError(f"header {hea} declares no signals. {_FIX}")
    for fname in sorted(set(header.file_name)):
        if not (db_dir / fname).is_file():
            raise RecordError(f"signal file {db_dir / fname} (named in {hea}) not found. {_FIX}")
    if channels is not None:
        bad = [c for c in channels if c < 0 or c >= n_sig]
        if bad:
            raise RecordError(
                f"{hea} has {n_sig} channels ({', '.join(header.sig_name)}) but segments.leads asks for {bad}. "
                f"Change segments.leads in the config."
            )
    sampto = header.sig_len
    if max_duration_s is not None and header.sig_len:
        sampto = min(header.sig_len, int(math.ceil(max_duration_s * header.fs)))
    _check_signal_file_sizes(db_dir, header, hea, sampto)
    chans = list(range(n_sig)) if channels is None else list(channels)
    try:
        rec = wfdb.rdrecord(str(base), sampto=sampto, channels=chans, physical=False, return_res=64)
    except Exception as exc:
        raise RecordError(
            f"cannot read the signal of {base} (header {hea}): {exc}. The signal file is truncated or corrupt. {_FIX}"
        ) from exc
    d = rec.d_signal
    lo_hi = _signal._digi_bounds(rec.fmt)
    nan_codes = _signal._digi_nan(rec.fmt)
    clipped = np.zeros(d.shape, dtype=bool)
    phys = np.empty(d.shape, dtype=np.float64)
    for j in range(d.shape[1]):
        lo, hi = lo_hi[j]
        is_nan = d[:, j] == nan_codes[j]
        # the format's lowest code means "missing"; the next codes at either end mean the ADC saturated
        clipped[:, j] = ~is_nan & ((d[:, j] <= lo + 1) | (d[:, j] >= hi))
        phys[:, j] = (d[:, j] - rec.baseline[j]) / rec.adc_gain[j]
        phys[is_nan, j] = np.nan
    return Record(
        db=db_dir.name,
        name=name,
        path=base,
        fs=float(rec.fs),
        signal=phys,
        sig_names=list(rec.sig_name),
        units=list(rec.units),
        clipped=clipped,
    )


def _check_signal_file_sizes(db_dir: Path, header, hea: Path, sampto: int | None) -> None:
    """Refuse truncated signal files before wfdb does, with the file's name in the message.

    Only for the byte-per-sample formats whose size is exact; other formats are
    left to wfdb's own check.
    """
    if not sampto:
        return
    bytes_per_sample = {"16": 2, "61": 2, "80": 1, "160": 2, "24": 3, "32": 4, "212": 1.5, "310": 4 / 3, "311": 4 / 3}
    per_file: dict[str, float] = {}
    offsets: dict[str, int] = {}
    for fname, fmt, spf, off in zip(
        header.file_name, header.fmt, header.samps_per_frame or [1] * header.n_sig, header.byte_offset or [None] * header.n_sig
    ):
        if fmt not in bytes_per_sample:
            return
        per_file[fname] = per_file.get(fname, 0.0) + bytes_per_sample[fmt] * (spf or 1)
        offsets[fname] = off or 0
    for fname, frame_bytes in per_file.items():
        need = offsets[fname] + int(math.floor(frame_bytes * sampto))
        have = (db_dir / fname).stat().st_size
        if have < need:
            raise RecordError(
                f"signal file {db_dir / fname} is truncated: {have} bytes, but {hea} declares at least {need} bytes "
                f"for the {sampto} samples needed. {_FIX}"
            )
