"""MathWorks' ``ECGData.mat`` as a data source: its rows become WFDB records, one folder per database.

MathWorks' example "Classify Time Series Using Wavelet Analysis and Deep Learning" ships
``ECGData.mat``: a struct ``ECGData`` with ``Data`` (rows x samples, millivolts, 128 Hz) and
``Labels`` (one of ``ARR``, ``CHF``, ``NSR`` per row). Its note (``Modified_physionet_data.txt``)
says how it was made: one hour of each PhysioNet record, physical units, resampled to 128 Hz, each
two-lead record split into two rows, cut to 65,536 samples; 48 mitdb records (96 ARR rows), 15
chfdb records (30 CHF rows), 18 nsrdb records (36 NSR rows), in that order.

Two adjacent rows with the same label are one record's two leads, so one subject. In MathWorks'
162-row file the records are named in the order of MathWorks' own download helper for that example
(``MATHWORKS_RECORDS``: mitdb, chfdb and nsrdb in PhysioNet's record order); the file itself carries
no names, so that order cannot be checked from it. Any other file of this layout gets names by label
and pair number (``ARR01``, ``ARR02``, ...), unless ``data.mathworks.records`` lists the records of
its row pairs (or of its rows). Names matter: ``data.subject_map`` joins records by name (mitdb 201
and 202 are one person).
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np

from ecgcwt.atomic import write_text
from ecgcwt.errors import ConfigError

#: MathWorks' sampling rate for every row of ECGData.mat.
MATHWORKS_FS = 128.0

#: The records of MathWorks' 162-row ECGData.mat, in row-pair order (two rows, one per lead, each):
#: the record lists of MathWorks' download helper for the example (``helperPhysioNetRead``).
MATHWORKS_RECORDS: dict[str, tuple[str, ...]] = {
    "mitdb": tuple(
        "100 101 102 103 104 105 106 107 108 109 111 112 113 114 115 116 117 118 119 121 122 123 124 "
        "200 201 202 203 205 207 208 209 210 212 213 214 215 217 219 220 221 222 223 228 230 231 232 233 234".split()
    ),
    "chfdb": tuple(f"chf{i:02d}" for i in range(1, 16)),
    "nsrdb": tuple(
        "16265 16272 16273 16420 16483 16539 16773 16786 16795 17052 17453 18177 18184 19088 19090 19093 19140 "
        "19830".split()
    ),
}
#: The class of each database of MathWorks' file, in row order.
MATHWORKS_LABELS = {"mitdb": "ARR", "chfdb": "CHF", "nsrdb": "NSR"}

_NAME = re.compile(r"^[A-Za-z0-9_-]+/[A-Za-z0-9_.-]+$")

log = logging.getLogger(__name__)

#: Two leads of one record beat together: the QRS energy envelopes of a record's two rows correlated 0.82 to
#: 0.95 in the six-row test file (mitdb 100, chfdb chf02, nsrdb 16483), rows of different records -0.01 to
#: 0.04. A record's rows below WEAK_PAIR are reported; below it, with a row of another record at least
#: MISPAIRED_MARGIN closer and above STRONG_MATCH, the rows are taken to be paired wrongly.
WEAK_PAIR = 0.5
STRONG_MATCH = 0.6
MISPAIRED_MARGIN = 0.3


def read_ecgdata(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """``(Data, Labels)`` of an ``ECGData.mat``, checked: a clear :class:`ConfigError` for anything else."""
    import scipy.io

    path = Path(path)
    where = f"data.path {path}"
    if not path.is_file():
        raise ConfigError(f"{where} does not exist: point data.path at MathWorks' ECGData.mat (data.source mathworks).")
    try:
        mat = scipy.io.loadmat(str(path), squeeze_me=False)
    except NotImplementedError:
        raise ConfigError(
            f"{where} is a MATLAB v7.3 (HDF5) file, which this reader does not take: in MATLAB, "
            f"load it and save(..., 'ECGData', '-v7') (MathWorks' own ECGData.mat is a v5 file)."
        ) from None
    except Exception as exc:  # not a MAT file at all, truncated, ...
        raise ConfigError(f"{where} cannot be read as a MATLAB .mat file: {exc}") from None
    if "ECGData" not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ConfigError(f"{where} has no variable ECGData (it has: {found or 'none'}): not MathWorks' layout.")
    struct = mat["ECGData"]
    names = getattr(struct, "dtype", None) and struct.dtype.names
    if not names or not {"Data", "Labels"} <= set(names) or struct.size != 1:
        raise ConfigError(
            f"{where}: ECGData must be one struct with the fields Data and Labels (it has: {list(names or [])})."
        )
    entry = struct.reshape(-1)[0]
    data = np.asarray(entry["Data"])
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] == 0 or not np.issubdtype(data.dtype, np.number):
        raise ConfigError(f"{where}: ECGData.Data must be a rows x samples matrix of numbers (it is {data.shape}).")
    labels = [_label(x) for x in np.asarray(entry["Labels"], dtype=object).reshape(-1)]
    if len(labels) != data.shape[0]:
        raise ConfigError(
            f"{where}: ECGData.Labels has {len(labels)} entries but ECGData.Data has {data.shape[0]} rows: "
            f"one label per row."
        )
    if not np.isfinite(data).all():
        rows = sorted({int(r) + 1 for r in np.argwhere(~np.isfinite(data))[:, 0]})
        raise ConfigError(f"{where}: ECGData.Data has missing or infinite samples in rows {rows[:10]} (1-based).")
    return data.astype(np.float64, copy=False), labels


def _label(x) -> str:
    while isinstance(x, np.ndarray):
        x = x.reshape(-1)[0] if x.size == 1 else "".join(map(str, x.reshape(-1)))
    return str(x).strip()


def row_pairs(labels: list[str], where: str = "data.path") -> list[tuple[int, int]]:
    """The row pairs (one record's two leads): rows 0-1, 2-3, ...; each pair of one label, every label an even count."""
    counts = Counter(labels)
    odd = {lab: n for lab, n in counts.items() if n % 2}
    if odd:
        raise ConfigError(
            f"{where}: every label needs an even number of rows (two per record, one per lead); "
            f"{', '.join(f'{lab} has {n}' for lab, n in sorted(odd.items()))}."
        )
    pairs = [(i, i + 1) for i in range(0, len(labels), 2)]
    mixed = [(a + 1, b + 1) for a, b in pairs if labels[a] != labels[b]]
    if mixed:
        raise ConfigError(
            f"{where}: rows {mixed[:5]} (1-based) pair two labels; two adjacent rows are one record's two leads "
            f"and must have one label (sort the rows by label, keeping each record's leads together)."
        )
    return pairs


def database_of_label(databases: dict, labels: list[str], where: str = "data.path") -> dict[str, str]:
    """label -> database, from ``data.databases``: one database per label found in the file."""
    by_label: dict[str, list[str]] = {}
    for db, spec in databases.items():
        by_label.setdefault(spec["label"], []).append(db)
    shared = {lab: dbs for lab, dbs in by_label.items() if len(dbs) > 1}
    if shared:
        raise ConfigError(
            f"data.databases maps several databases to one label {shared}: with data.source mathworks each label "
            f"of the file needs exactly one database."
        )
    unknown = sorted(set(labels) - set(by_label))
    if unknown:
        raise ConfigError(
            f"{where} has rows labelled {unknown}, which no database in data.databases has as its label "
            f"({ {db: s['label'] for db, s in databases.items()} }): add them to data.databases."
        )
    missing = sorted(set(by_label) - set(labels))
    if missing:
        raise ConfigError(
            f"{where} has no rows labelled {missing} (data.databases: "
            f"{', '.join(by_label[lab][0] for lab in missing)}): every class needs records."
        )
    return {lab: dbs[0] for lab, dbs in by_label.items()}


def is_mathworks_file(labels: list[str], databases: dict) -> bool:
    """Whether the rows are MathWorks' 162 (96 ARR, 30 CHF, 36 NSR in that order), mitdb/chfdb/nsrdb those classes."""
    expected = [lab for db, lab in MATHWORKS_LABELS.items() for _ in range(2 * len(MATHWORKS_RECORDS[db]))]
    return labels == expected and all(databases.get(db, {}).get("label") == lab for db, lab in MATHWORKS_LABELS.items())


def row_records(
    labels: list[str], databases: dict, records: list[str] | None = None, where: str = "data.path"
) -> list[tuple[str, str]]:
    """``(database, record)`` of every row.

    ``records`` (``data.mathworks.records``): ``"{db}/{record}"`` per row pair (or per row), in the
    file's order. Without it: MathWorks' record names for MathWorks' 162-row file, else names by label
    and pair number (``ARR01`` for a label's first pair).
    """
    pairs = row_pairs(labels, where)
    db_of = database_of_label(databases, labels, where)
    if records is not None:
        return _listed_records(labels, pairs, db_of, list(records))
    if is_mathworks_file(labels, databases):
        names = [(db, rec) for db in MATHWORKS_LABELS for rec in MATHWORKS_RECORDS[db]]
    else:
        seen: Counter = Counter()
        names = []
        for a, _ in pairs:
            seen[labels[a]] += 1
            names.append((db_of[labels[a]], f"{labels[a]}{seen[labels[a]]:02d}"))
    return [name for name in names for _ in range(2)]


def _listed_records(labels, pairs, db_of, records) -> list[tuple[str, str]]:
    key = "data.mathworks.records"
    if len(records) == len(pairs):
        per_row = [r for r in records for _ in range(2)]
    elif len(records) == len(labels):
        per_row = records
    else:
        raise ConfigError(
            f"{key} lists {len(records)} records, but the file has {len(labels)} rows ({len(pairs)} row pairs): "
            f"list one '{{db}}/{{record}}' per row pair, or one per row."
        )
    out = []
    for row, name in enumerate(per_row):
        if not _NAME.match(name):
            raise ConfigError(f"{key}[{row}] is {name!r}: write '{{db}}/{{record}}', e.g. mitdb/100.")
        db, rec = name.split("/", 1)
        if db != db_of[labels[row]]:
            raise ConfigError(
                f"{key}: row {row + 1} (1-based) is labelled {labels[row]}, whose database is {db_of[labels[row]]}, "
                f"but it is listed as {name}."
            )
        out.append((db, rec))
    leads = Counter(out)
    over = sorted(f"{db}/{rec}" for (db, rec), n in leads.items() if n > 2)
    if over:
        raise ConfigError(f"{key} gives more than two rows (leads) to {over}: a record has at most two leads here.")
    return out


def qrs_envelopes(data: np.ndarray, fs: float) -> np.ndarray | None:
    """Each row's QRS energy over time (5-20 Hz band, squared, 0.1-s mean, every 8th sample); None below 45 Hz."""
    if fs < 45:
        return None
    from scipy.signal import butter, sosfiltfilt

    sos = butter(3, [5, 20], btype="band", fs=fs, output="sos")
    energy = sosfiltfilt(sos, data, axis=1) ** 2
    k = max(1, int(round(0.1 * fs)))
    kernel = np.ones(k) / k
    smooth = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, energy)
    return smooth[:, ::8]


def check_lead_pairs(
    data: np.ndarray, names: list[tuple[str, str]], fs: float, *, rows: list[int] | None = None, mode: str = "error"
) -> list[str]:
    """Whether the rows given one record look like its leads: their QRS energy envelopes move together.

    Returns one warning per record whose rows do not (``rows`` limits the check to those rows' records).
    With ``mode`` error, a record whose rows each match a row of another record far better is refused:
    the file pairs its rows otherwise, and taking them as one subject would split people across folds.
    """
    if mode == "none":
        return []
    env = qrs_envelopes(data, fs)
    if env is None:
        return []
    corr = np.nan_to_num(np.corrcoef(env))
    groups: dict[tuple[str, str], list[int]] = {}
    for row, name in enumerate(names):
        groups.setdefault(name, []).append(row)
    wanted = None if rows is None else set(rows)
    warnings, wrong = [], []
    for (db, rec), members in groups.items():
        if len(members) != 2 or (wanted is not None and not set(members) & wanted):
            continue
        a, b = members
        r = corr[a, b]
        if r >= WEAK_PAIR:
            continue
        others = [i for i in range(len(names)) if names[i] != (db, rec)]
        best = max(((corr[i, j], i, j) for i in (a, b) for j in others), default=(0.0, a, a))
        line = f"rows {a + 1} and {b + 1} (1-based), named {db}/{rec}, beat together weakly (correlation {r:.2f})"
        if best[0] >= STRONG_MATCH and best[0] >= r + MISPAIRED_MARGIN:
            wrong.append(f"{line}, but row {best[1] + 1} beats with row {best[2] + 1} ({best[0]:.2f})")
        else:
            warnings.append(line)
    if wrong and mode == "error":
        raise ConfigError(
            "the rows of data.path do not pair as one record's two leads: "
            + "; ".join(wrong[:5])
            + (f"; and {len(wrong) - 5} more" if len(wrong) > 5 else "")
            + ". If the file orders its rows otherwise, give each row its record in data.mathworks.records (one "
            "'{db}/{record}' per row); data.mathworks.pair_check: warn goes on with adjacent rows as one record."
        )
    warnings += wrong
    for line in warnings:
        log.warning("%s: their two rows may not be one record's two leads", line)
    return warnings


def write_mathworks_database(
    path: str | os.PathLike,
    db: str,
    dest: str | os.PathLike,
    databases: dict,
    *,
    records: list[str] | None = None,
    fs: float = MATHWORKS_FS,
    pair_check: str = "error",
) -> list[str]:
    """Write database ``db``'s rows of the ``ECGData.mat`` at ``path`` into ``dest`` as WFDB records (+ RECORDS).

    Rows of one record become its leads (``ECG1``, ``ECG2``, millivolts, ``fs`` Hz), in row order; first
    :func:`check_lead_pairs` checks that they beat together (``pair_check``: error, warn or none).
    Returns the record names.
    """
    import wfdb

    data, labels = read_ecgdata(path)
    names = row_records(labels, databases, records, where=f"data.path {path}")
    try:
        check_lead_pairs(data, names, fs, rows=[i for i, (d, _) in enumerate(names) if d == db], mode=pair_check)
    except ConfigError as exc:
        raise ConfigError(f"data.path {path}: {exc}") from None
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    order: list[str] = []
    rows_of: dict[str, list[int]] = {}
    for row, (row_db, rec) in enumerate(names):
        if row_db == db:
            if rec not in rows_of:
                order.append(rec)
            rows_of.setdefault(rec, []).append(row)
    for rec in order:
        sig = data[rows_of[rec]].T  # samples x leads
        peak = float(np.abs(sig).max(axis=0).max()) or 1.0
        # 16-bit samples: 1 uV steps where the signal fits +-32 mV, else as fine as the range allows
        gain = min(1000.0, 32000.0 / peak)
        rows = ", ".join(str(r + 1) for r in rows_of[rec])
        wfdb.wrsamp(
            rec,
            fs=fs,
            units=["mV"] * sig.shape[1],
            sig_name=[f"ECG{i + 1}" for i in range(sig.shape[1])],
            p_signal=sig,
            fmt=["16"] * sig.shape[1],
            adc_gain=[gain] * sig.shape[1],
            baseline=[0] * sig.shape[1],
            comments=[f"rows {rows} (1-based) of {Path(path).name}: MathWorks' resampled copy, {fs:g} Hz, mV"],
            write_dir=str(dest),
        )
    # RECORDS last: a killed conversion leaves no RECORDS, so the folder counts as incomplete
    write_text(dest / "RECORDS", "".join(f"{r}\n" for r in order))
    return order
