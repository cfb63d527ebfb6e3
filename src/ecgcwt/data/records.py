"""Reading WFDB records from a database folder, with errors a user can act on.

A database folder is laid out as PhysioNet publishes it: ``{db}/RECORDS`` (one
record name per line) and, per record, ``{record}.hea`` (header) and the signal
file(s) the header names (``{record}.dat``). This is what the download and
synthetic stages write, and what ``data.source: local`` reads.

Record names are paths below the database folder; :func:`check_record_name`
is the one check of them for every source (RECORDS files, ``data.records``,
the downloader's listing), so that no name reads or writes outside the folder.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import wfdb
from wfdb.io import _signal

from ecgcwt.errors import RecordError, broken_link

#: Values of ``data.source`` (the advice in error messages depends on it).
DATA_SOURCES = ("physionet", "local", "synthetic", "mathworks")

#: The rule every record name follows, quoted in the error for a name that breaks it.
RECORD_NAME_RULE = (
    "a record name is a plain name, or a path to a sub-folder inside the database folder as PhysioNet uses "
    "(e.g. 100 or p00/p000123): letters, digits, '_', '-', '.' and '/' only; no absolute path, no '..' or '.' "
    "component, no empty component ('//', or a leading or trailing '/'), no backslash"
)
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./")


def record_name_problem(name) -> str | None:
    """Why ``name`` is not an acceptable record name, or None when it is.

    Record names become file paths below the database folder, so a name must
    not be able to leave it (absolute path, ``..``) or hide a different path
    (backslashes, empty components).
    """
    if not isinstance(name, str):
        return f"it is a {type(name).__name__}, not a string"
    if not name:
        return "it is empty"
    if "\\" in name:
        return "it contains a backslash"
    if name.startswith("/"):
        return "it is an absolute path"
    bad = sorted(set(name) - _NAME_CHARS)
    if bad:
        return f"it contains {', '.join(repr(c) for c in bad)}"
    parts = name.split("/")
    if "" in parts:
        return "it has an empty path component"
    if ".." in parts:
        return "it has a '..' component (it would leave the database folder)"
    if "." in parts:
        return "it has a '.' component"
    return None


def check_record_name(name, where: str, *, error: type[Exception] = RecordError) -> str:
    """Return ``name`` when it is an acceptable record name; else raise ``error`` naming ``where`` and the rule.

    ``where`` says where the name came from (a RECORDS file and line, a config
    key, a server's listing). The one check of record names for every source:
    the local reader, the synthetic and downloaded folders, ``data.records`` and
    the downloader's listing all use it.
    """
    problem = record_name_problem(name)
    if problem:
        raise error(f"invalid record name {name!r} in {where}: {problem}. Rule: {RECORD_NAME_RULE}.")
    return name


def check_record_names(names, where: str, *, error: type[Exception] = RecordError) -> list[str]:
    """:func:`check_record_name` for each of ``names`` (all checked before anything is read)."""
    return [check_record_name(n, where, error=error) for n in names]


def check_config_record_names(records, *, error: type[Exception] = RecordError) -> None:
    """Check the names of the config's ``data.records`` (``"all"`` or ``{db: [name, ...]}``)."""
    if isinstance(records, dict):
        for db, names in records.items():
            check_record_names(names, f"config data.records.{db}", error=error)


#: Sampling rates (Hz) a record may have: ECG recorders sample at 100 Hz (PTB-XL's low rate, the lowest in
#: common use) up to 10-20 kHz (high-resolution ECG, pacemaker spikes). Below 100 Hz the QRS complex (energy
#: up to about 40 Hz) is not resolved and the scalograms' upper rows hold nothing a model was trained on;
#: a rate outside this range is far more often a wrong header than an ECG.
ECG_FS_RANGE = (100.0, 20_000.0)


def sampling_rate_problem(fs) -> str | None:
    """Why ``fs`` (Hz, from a record's header) is not a plausible ECG sampling rate, or None."""
    try:
        value = float(fs)
    except (TypeError, ValueError):
        return f"sampling frequency {fs!r} is not a number"
    lo, hi = ECG_FS_RANGE
    if not (math.isfinite(value) and lo <= value <= hi):
        return (
            f"sampling frequency {value:g} Hz is outside the range of ECG recordings this package reads "
            f"({lo:g}..{hi:g} Hz); check the header's sampling frequency field"
        )
    return None


def _declared_fs(hea: Path) -> float | None:
    """The sampling frequency written in a header's record line, as written (wfdb replaces a negative or
    malformed one by 250 Hz without a word); None where the line has no such field."""
    try:
        with open(hea, encoding="latin-1") as fh:
            for line in fh:
                text = line.split("#", 1)[0].split()
                if text:
                    break
            else:
                return None
    except OSError:
        return None
    if len(text) < 3:
        return None
    field = text[2].split("/", 1)[0].split("(", 1)[0]  # "360", "360/12.5", "360(0)"
    try:
        return float(field)
    except ValueError:
        return float("nan")


#: How many unknown ``data.subject_map`` keys an error names, each with its closest record names.
_SUBJECT_MAP_SHOWN = 3


def check_subject_map(
    subject_map, records_by_db: dict[str, Sequence[str]], *, error: type[Exception] = RecordError
) -> None:
    """Every ``data.subject_map`` key ``"{db}/{record}"`` of a database in ``records_by_db`` names one of its records.

    ``records_by_db`` holds the records the run segments (data.records or the
    RECORDS list). A key that names none of them would be dropped, and the
    person it joins would be split across folds (the leak the subject map
    prevents); so it is an error naming the key and the closest record names.
    The schema's default entries (MIT-BIH's 202 = 201) are facts about a
    PhysioNet database and stay allowed when that record is not in the run.
    Databases absent from ``records_by_db`` (their record list not known yet)
    are not checked here. The cost is one set lookup per key; only the first
    few unknown keys are compared with the record names (difflib), so a huge
    map costs no more than reading it.
    """
    from ecgcwt.config import schema_of

    default = schema_of("data.subject_map").get("default") or {}
    known = {db: set(names) for db, names in records_by_db.items()}
    unknown = []
    for key, value in subject_map.items():
        db, _, name = str(key).partition("/")
        if db in known and name not in known[db] and default.get(key) != value:
            unknown.append(str(key))
    if not unknown:
        return
    hints = []
    for key in unknown[:_SUBJECT_MAP_SHOWN]:
        db = key.partition("/")[0]
        close = difflib.get_close_matches(key, [f"{db}/{n}" for n in sorted(known[db])], n=3, cutoff=0.5)
        hints.append(f"{key!r} (closest records: {', '.join(close)})" if close else f"{key!r} (no similar record)")
    more = f" and {len(unknown) - _SUBJECT_MAP_SHOWN} more" if len(unknown) > _SUBJECT_MAP_SHOWN else ""
    raise error(
        f"data.subject_map: {len(unknown)} key(s) name no record of their database: {'; '.join(hints)}{more}. "
        "A key is '{db}/{record}' with a record listed in the database's RECORDS file (or data.records); "
        "fix or remove the key(s), otherwise the records they should join stay separate people and one "
        "person can land in both the training and the test folds."
    )


def fix_advice(data_source: str, db_dir: str | os.PathLike, name: str | None = None) -> str:
    """What to do about a missing, truncated or corrupt record file, for the folder's ``data.source``."""
    db_dir = Path(db_dir)
    which = f"record {name!r}" if name else "the record"
    if data_source == "local":
        return (
            f"Fix or remove {which} in {db_dir} (data.path), list only good records in data.records, "
            f"or set data.on_bad_record: skip to go on without it."
        )
    if data_source == "synthetic":
        return (
            "The workflow generated this folder: rerun `snakemake --forcerun synthetic_database` to write it again "
            "(or set data.on_bad_record: skip to go on without the record)."
        )
    if data_source == "mathworks":
        return (
            "The workflow converted this folder from data.path (ECGData.mat): rerun "
            "`snakemake --forcerun mathworks_database` to write it again (or set data.on_bad_record: skip to go on "
            "without the record)."
        )
    return (
        f"Delete the folder's RECORDS file ({db_dir / 'RECORDS'}) and rerun the workflow, or run "
        f"`snakemake --forcerun download_physionet`: the download step checks every record and fetches missing or "
        f"damaged files again. Or set data.on_bad_record: skip to go on without {which}."
    )


class UnusableRecord(RecordError):
    """A record that cannot be used (missing, truncated or corrupt files, too short, no usable window).

    ``data.on_bad_record: skip`` leaves such a record out, reporting
    ``reason`` (the problem without the advice); ``fail`` raises it. Other
    :class:`RecordError`s (an invalid record name, a lead selection the record
    does not have, a header naming files outside its folder) always stop the run.
    """

    def __init__(self, reason: str, advice: str):
        sep = "" if reason.endswith("\n") else " "  # a reason listing records ends its list with a newline
        super().__init__((reason + sep + advice).rstrip())
        self.reason = reason
        self.advice = advice


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


def read_record_list(db_dir: str | os.PathLike, *, data_source: str = "physionet") -> list[str]:
    """Record names listed in ``{db_dir}/RECORDS``, in file order.

    Every name is checked with :func:`check_record_name` before any is
    returned: an entry that could leave the folder raises :class:`RecordError`
    naming the file, the line and the entry. ``data_source`` (``data.source``)
    selects the advice in the error messages.
    """
    db_dir = Path(db_dir)
    path = db_dir / "RECORDS"
    if not path.is_file() and broken_link(path):
        raise RecordError(f"{path} cannot be read: {broken_link(path)}. Fix the link or point data.path elsewhere.")
    if not path.is_file():
        raise RecordError(
            f"{path} not found: a database folder needs a RECORDS file listing its records. "
            f"For data.source: local, point data.path at a folder with one sub-folder per database "
            f"(e.g. mitdb/RECORDS, mitdb/100.hea, mitdb/100.dat)."
        )
    names = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            name = line.strip()
            problem = record_name_problem(name)
            if problem:  # one line: the file, the line, the entry, what to do (the rule last)
                raise RecordError(
                    f"invalid record name {name!r} in {path} (line {lineno}): {problem}. Edit line {lineno} of "
                    f"{path} to name a record inside {db_dir} (or delete the line). Rule: {RECORD_NAME_RULE}."
                )
            names.append(name)
    if not names:
        if data_source == "local":
            raise RecordError(f"{path} lists no records: list the folder's records in it, one name per line.")
        raise RecordError(f"{path} lists no records. {fix_advice(data_source, db_dir)}")
    return names


def read_record(
    db_dir: str | os.PathLike,
    name: str,
    *,
    max_duration_s: float | None = None,
    channels: Sequence[int] | None = None,
    data_source: str = "physionet",
    listed_in: str | None = None,
) -> Record:
    """Read record ``name`` of the database folder ``db_dir``.

    ``max_duration_s`` keeps only the first seconds (the whole record when
    shorter); ``channels`` selects channel indices. Raises
    :class:`UnusableRecord` (a :class:`RecordError`) naming the file for a
    missing, unreadable or truncated record, with the advice that fits
    ``data_source`` (``data.source``); ``listed_in`` says where the name came
    from (default: the folder's RECORDS file). An invalid name or a header
    naming signal files outside the record's folder raises :class:`RecordError`.
    """
    return open_record(
        db_dir, name, max_duration_s=max_duration_s, channels=channels, data_source=data_source, listed_in=listed_in
    ).read()


def open_record(
    db_dir: str | os.PathLike,
    name: str,
    *,
    max_duration_s: float | None = None,
    channels: Sequence[int] | None = None,
    data_source: str = "physionet",
    listed_in: str | None = None,
) -> "OpenRecord":
    """Check record ``name`` as :func:`read_record` does (same errors) without reading its signal.

    The returned :class:`OpenRecord` reads any range of samples (``read(start, stop)``), so a long
    record can be read part by part in bounded memory; each part is exactly the same rows of what
    :func:`read_record` returns.
    """
    db_dir = Path(db_dir)
    listed_in = listed_in or str(db_dir / "RECORDS")
    check_record_name(name, listed_in)
    fix = fix_advice(data_source, db_dir, name)
    base = db_dir / name
    folder = base.parent  # a header names its signal files relative to its own folder
    hea = base.with_name(base.name + ".hea")
    if not hea.is_file():
        what = broken_link(hea)
        what = f"cannot be read: {what}" if what else "not found"
        raise UnusableRecord(f"header file {hea} {what} (record {name!r} is listed in {listed_in}).", fix)
    try:
        header = wfdb.rdheader(str(base))
    except Exception as exc:  # wfdb raises several types for malformed headers
        raise UnusableRecord(
            f"cannot parse header {hea}: {str(exc) or type(exc).__name__}. The file is corrupt.", fix
        ) from exc
    declared = _declared_fs(hea)
    fs_problem = sampling_rate_problem(declared if declared is not None else header.fs)
    if fs_problem or not header.fs or header.fs <= 0:
        raise UnusableRecord(f"header {hea}: {fs_problem or 'no valid sampling frequency'}.", fix)
    n_sig = header.n_sig or 0
    if n_sig == 0 or not header.file_name:
        raise UnusableRecord(f"header {hea} declares no signals.", fix)
    for fname in sorted(set(header.file_name)):
        if not isinstance(fname, str) or record_name_problem(fname) or "/" in fname:
            raise RecordError(
                f"header {hea} names the signal file {fname!r}: a signal file must be a plain file name in the "
                f"header's folder {folder}. Fix or remove the record."
            )
        if not (folder / fname).is_file():
            what = broken_link(folder / fname)
            what = f"cannot be read: {what}" if what else "not found"
            raise UnusableRecord(f"signal file {folder / fname} (named in {hea}) {what}.", fix)
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
    _check_signal_file_sizes(folder, header, hea, sampto, fix)
    chans = list(range(n_sig)) if channels is None else list(channels)
    return OpenRecord(
        db=db_dir.name,
        name=name,
        path=base,
        fs=float(header.fs),
        n_samples=int(sampto) if sampto else None,
        channels=chans,
        sig_names=[header.sig_name[c] for c in chans],
        fix=fix,
    )


@dataclass
class OpenRecord:
    """A checked record whose samples are read on demand: :meth:`read` gives rows ``start:stop`` (a Record)."""

    db: str
    name: str
    path: Path  # record path without extension
    fs: float
    n_samples: int | None  # the samples that may be read (the record, or its first max_duration_s); None: unknown
    channels: list[int]
    sig_names: list[str]
    fix: str  # the advice for a signal file that turns out unreadable

    def read(self, start: int = 0, stop: int | None = None) -> Record:
        """Samples ``start:stop`` (clamped to ``[0, n_samples]``) of the selected channels, in physical units.

        A header without a signal length (``n_samples`` None) is read whole (``start``/``stop`` ignored).
        """
        base, hea = self.path, self.path.with_name(self.path.name + ".hea")
        if self.n_samples is None:
            start, stop = 0, None
        else:
            stop = self.n_samples if stop is None else min(int(stop), self.n_samples)
            start = max(0, min(int(start), stop))
            if stop == start:
                empty = np.empty((0, len(self.channels)))
                return Record(self.db, self.name, base, self.fs, empty, self.sig_names, [], empty.astype(bool))
        try:
            rec = wfdb.rdrecord(
                str(base), sampfrom=start, sampto=stop, channels=self.channels, physical=False, return_res=64
            )
        except Exception as exc:
            raise UnusableRecord(
                f"cannot read the signal of {base} (header {hea}): {str(exc) or type(exc).__name__}. "
                f"The signal file is truncated or corrupt.",
                self.fix,
            ) from exc
        return _physical(self, rec)


def _physical(opened: OpenRecord, rec) -> Record:
    """Physical units and clipping flags of a wfdb record read with ``physical=False``."""
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
        db=opened.db,
        name=opened.name,
        path=opened.path,
        fs=float(rec.fs),
        signal=phys,
        sig_names=list(rec.sig_name),
        units=list(rec.units),
        clipped=clipped,
    )


def _check_signal_file_sizes(folder: Path, header, hea: Path, sampto: int | None, fix: str) -> None:
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
        header.file_name,
        header.fmt,
        header.samps_per_frame or [1] * header.n_sig,
        header.byte_offset or [None] * header.n_sig,
    ):
        if fmt not in bytes_per_sample:
            return
        per_file[fname] = per_file.get(fname, 0.0) + bytes_per_sample[fmt] * (spf or 1)
        offsets[fname] = off or 0
    for fname, frame_bytes in per_file.items():
        need = offsets[fname] + int(math.floor(frame_bytes * sampto))
        have = (folder / fname).stat().st_size
        if have < need:
            raise UnusableRecord(
                f"signal file {folder / fname} is truncated: {have} bytes, but {hea} declares at least {need} bytes "
                f"for the {sampto} samples needed.",
                fix,
            )


def _header_files(db_dir: Path, name: str, depth: int = 0) -> list[Path]:
    """``name.hea`` and the files its signal lines name (a multi-segment header: its segments' too)."""
    hea = db_dir / f"{name}.hea"
    try:
        lines = [ln.split() for ln in hea.read_text(errors="replace").splitlines()]
    except OSError:  # missing or unreadable: the segment job says which and why (fail or skip)
        return []
    lines = [ln for ln in lines if ln and not ln[0].startswith("#")]
    files = [hea]
    if not lines:
        return files
    folder = hea.parent
    head = lines[0][0]
    for ln in lines[1:]:
        if "/" in head and depth < 2:  # multi-segment: "segment_name n_samples", "~" a gap
            if ln[0] != "~" and record_name_problem(ln[0]) is None:
                files += _header_files(folder, ln[0], depth + 1)
        elif record_name_problem(ln[0]) is None:
            files.append(folder / ln[0])
    return files


def link_target(db_dir: str | os.PathLike, name: str) -> str:
    """Where record ``name``'s files really are when a symbolic link leads there; "" for plain files.

    Links are looked for from the folder above ``db_dir`` (``data.path``) down: the database folder, a
    sub-folder or the files themselves (header and the signal files it names) may be links, e.g. into a
    shared archive. Returns the real paths of the linked files, ``;``-separated (the header's first), also
    for a broken link (its missing target).
    """
    db_dir = Path(db_dir)
    top = Path(os.path.realpath(db_dir.parent)) / db_dir.name
    hea = db_dir / f"{name}.hea"
    targets: dict[str, None] = {}
    for path in [hea, *_header_files(db_dir, name)[1:]]:
        real = os.path.realpath(path)
        if real != str(top / path.relative_to(db_dir)):
            targets[real] = None
    return ";".join(targets)


def record_files(db_dir: str | os.PathLike, names: Sequence[str] | None = None) -> list[str]:
    """Every file that the records of a database folder are read from: each ``.hea`` and the signal files it names.

    ``names`` are the records (None: the folder's ``RECORDS`` list). Light (no
    WFDB reading): the workflow calls it at plan time so that a changed,
    replaced or repaired record file reruns the segment step. Only files that
    exist are listed: a missing one is the segment job's to report (or skip
    under ``data.on_bad_record: skip``), and the file that appears when it is
    repaired is new, hence newer than the segments.
    """
    db_dir = Path(db_dir)
    if names is None:
        try:
            names = (db_dir / "RECORDS").read_text(errors="replace").split()
        except OSError:
            return []
    out: dict[str, None] = {}
    for name in names:
        if record_name_problem(name) is not None:  # the segment job names an invalid entry
            continue
        for path in _header_files(db_dir, name):
            if path.is_file():
                out[str(path)] = None
    return list(out)
