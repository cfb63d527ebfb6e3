"""Cut recordings into fixed-length windows at one sampling rate, dropping bad windows.

Per record and lead: resample to the target rate with a polyphase filter
(scipy.signal.resample_poly, exact rational ratio), cut windows of ``window``
samples every ``hop`` samples, drop windows that fail the quality checks
(missing samples, flat line, ADC clipping, implausible amplitude) and count
why, then keep at most ``max_per_recording`` windows spread evenly over the
recording (so a cap samples the whole recording rather than its start).

A record that cannot be used (missing, truncated or corrupt files, shorter
than one window, no usable window on any lead) stops the run, or with
``on_bad_record="skip"`` (``data.on_bad_record``) is left out and listed in
the QC table with ``status`` ``skipped`` and its ``reason``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
from scipy.signal import resample_poly

from ecgcwt.atomic import atomic_path, hdf5_writer
from ecgcwt.data.records import (
    UnusableRecord,
    check_record_names,
    check_subject_map,
    link_target,
    read_record,
    read_record_list,
)
from ecgcwt.data.segment_store import SegmentStoreWriter, write_segment_store
from ecgcwt.data.settings import QualityLimits, SegmentSpec, segment_attrs
from ecgcwt.errors import ConfigError, DataError

log = logging.getLogger(__name__)

DROP_REASONS = ("nan", "flat", "clipped", "artefact")


def write_segments(
    path, signals: np.ndarray, table: pd.DataFrame, spec: SegmentSpec, classes, data_description: str = "physionet"
) -> None:
    """``segments.h5`` with the settings that cut it and the data source (carried on to the cache and ``model.pt``)."""
    write_segment_store(
        path,
        signals,
        table,
        fs=spec.fs,
        window=spec.window,
        hop=spec.hop,
        classes=classes,
        extra_attrs={**segment_attrs(spec), "data_source": data_description},
    )


@dataclass(frozen=True)
class DatabaseSource:
    db: str
    path: Path
    label: str
    records: Sequence[str] | None = None  # None = the folder's RECORDS list


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Polyphase resampling along axis 0 by the exact rational ratio fs_out/fs_in."""
    if fs_in == fs_out:
        return x
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    return resample_poly(x, ratio.numerator, ratio.denominator, axis=0)


def window_starts(n: int, window: int, hop: int) -> np.ndarray:
    return np.arange(0, n - window + 1, hop, dtype=np.int64) if n >= window else np.empty(0, np.int64)


def evenly_spaced(n: int, cap: int | None) -> np.ndarray:
    """Indices of ``min(n, cap)`` items spread evenly over ``range(n)`` (first and last included)."""
    if cap is None or n <= cap:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, cap)).astype(np.int64))


def classify_windows(
    x: np.ndarray,
    bad_native: np.ndarray,
    clip_native: np.ndarray,
    starts: np.ndarray,
    window: int,
    scale: float,
    limits: QualityLimits,
    *,
    x_offset: int = 0,
    native_offset: int = 0,
    n_native: int | None = None,
) -> np.ndarray:
    """Drop reason per window ('' = kept). ``scale`` maps target samples to native samples.

    ``x`` may be part of a lead: target samples from ``x_offset`` on, with ``bad_native`` and
    ``clip_native`` the native samples from ``native_offset`` on, of a lead of ``n_native`` native
    samples (default: the arrays are the whole lead). Each window's verdict is then the same as on
    the whole lead, as long as the part holds the window and the native span that feeds it.
    """
    reasons = np.full(len(starts), "", dtype=object)
    nan_cum = np.concatenate([[0], np.cumsum(bad_native)])
    clip_cum = np.concatenate([[0], np.cumsum(clip_native)])
    n_native = len(bad_native) + native_offset if n_native is None else int(n_native)
    for i, s in enumerate(starts):
        # the native span feeding this window (the polyphase filter's spread is a few samples; a
        # one-sample margin on each side keeps NaNs next to the window from leaking in unnoticed)
        a = max(0, int(np.floor(s * scale)) - 1)
        b = min(n_native, int(np.ceil((s + window) * scale)) + 1)
        w = x[s - x_offset : s - x_offset + window]
        na, nb = a - native_offset, b - native_offset
        if nan_cum[nb] - nan_cum[na] > 0:
            reasons[i] = "nan"
        elif np.std(w) < limits.flat_std_mv:
            reasons[i] = "flat"
        elif (clip_cum[nb] - clip_cum[na]) / max(1, b - a) > limits.clip_fraction:
            reasons[i] = "clipped"
        elif np.max(np.abs(w)) > limits.max_abs_mv:
            reasons[i] = "artefact"
    return reasons


@dataclass(frozen=True)
class LeadWindows:
    """One lead cut into windows: what training (:func:`segment_databases`) and prediction both use."""

    n_samples: int  # after resampling
    starts: np.ndarray  # every candidate window's start (samples at the target rate)
    reasons: np.ndarray  # drop reason per candidate ('' = usable)
    kept: np.ndarray  # starts of the windows kept (usable, at most ``cap``, spread evenly)
    windows: np.ndarray  # float32 (len(kept), window)


def cut_lead(
    raw: np.ndarray,
    clipped: np.ndarray,
    fs_in: float,
    fs: float,
    window: int,
    hop: int,
    quality: QualityLimits,
    cap: int | None,
) -> LeadWindows:
    """Resample one lead (NaN samples filled with 0, then flagged), cut windows, drop those failing ``quality``."""
    bad = np.isnan(raw)
    x = resample(np.where(bad, 0.0, raw), fs_in, fs)
    starts = window_starts(len(x), window, hop)
    reasons = classify_windows(x, bad, clipped, starts, window, fs_in / fs, quality)
    good = np.flatnonzero(reasons == "")
    kept = starts[good[evenly_spaced(len(good), cap)]]
    windows = np.empty((len(kept), window), np.float32)
    for i, s in enumerate(kept):
        windows[i] = x[s : s + window]
    return LeadWindows(n_samples=len(x), starts=starts, reasons=reasons, kept=kept, windows=windows)


#: Values of ``data.on_bad_record``.
ON_BAD_RECORD = ("fail", "skip")

#: Columns of the QC table: the per-recording counts, then ``status`` and ``reason``, then ``link_target``
#: (where the record's files really are when a symbolic link in the data folder leads there; "" for plain files).
QC_COLUMNS = [
    "db",
    "record",
    "lead",
    "recording",
    "subject",
    "label",
    "seconds",
    "windows",
    *(f"dropped_{r}" for r in DROP_REASONS),
    "kept",
    "status",
    "reason",
    "link_target",
]
#: ``status`` of a QC row: a recording that gave windows, a lead without a usable window in a record that
#: gave windows on another lead, or a record left out (``data.on_bad_record: skip``).
QC_STATUS = ("ok", "empty", "skipped")


def _no_window_reason(qc_rows: list[dict]) -> str:
    leads = "; ".join(
        f"lead {q['lead']}: {q['windows']} windows, dropped "
        + ", ".join(f"{r} {q[f'dropped_{r}']}" for r in DROP_REASONS if q[f"dropped_{r}"])
        for q in qc_rows
    )
    return f"no usable window: every window failed the quality checks ({leads})"


def skipped_records(qc: pd.DataFrame) -> pd.DataFrame:
    """One row per record left out (``db, record, label, reason``) from a QC table; empty when none."""
    cols = ["db", "record", "label", "reason"]
    if "status" not in qc.columns:
        return pd.DataFrame(columns=cols)
    rows = qc[qc["status"] == "skipped"]
    return rows.drop_duplicates(["db", "record"])[cols].reset_index(drop=True)


def segment_databases(
    sources: Iterable[DatabaseSource],
    spec: SegmentSpec,
    subject_map: dict[str, str] | None = None,
    *,
    on_bad_record: str = "fail",
    data_source: str = "physionet",
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame, list[str]]:
    """Segment every record of every database, in memory.

    Returns ``(signals, table, qc, classes)``: float32 windows (n, window), the
    segment table (columns of :data:`ecgcwt.data.segment_store.TABLE_COLUMNS`), the
    quality-control table (:data:`QC_COLUMNS`: one row per recording, and per
    skipped record) and the sorted class names. :func:`segment_to_store`
    writes the same windows to ``segments.h5`` record by record instead,
    without holding them all.

    A record that cannot be used (missing, truncated or corrupt files, shorter
    than one window, or no window passing the quality checks on any lead)
    raises :class:`~ecgcwt.data.records.UnusableRecord` with ``on_bad_record="fail"``
    (the advice fits ``data_source``, the config's ``data.source``); with
    ``"skip"`` it is left out, logged, and listed in the QC table with
    ``status`` ``skipped`` and its ``reason``. Either way an invalid record
    name (RECORDS entry or ``DatabaseSource.records``) is an error, checked
    before any record is read, and so is a class left without any window.
    """
    run = _Segmenter(sources, spec, subject_map, on_bad_record, data_source)
    chunks = [w for windows in run.records() for w in windows]
    table, qc = run.finish()
    signals = np.concatenate(chunks) if chunks else np.empty((0, spec.window), np.float32)
    return signals, table, qc, run.classes


def segment_to_store(
    path: str | os.PathLike,
    sources: Iterable[DatabaseSource],
    spec: SegmentSpec,
    subject_map: dict[str, str] | None = None,
    *,
    on_bad_record: str = "fail",
    data_source: str = "physionet",
    edit_table: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    data_description: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """:func:`segment_databases` streamed into ``segments.h5`` at ``path``: returns ``(table, qc, classes)``.

    Each record's windows are appended to the store as the record is cut
    (:class:`~ecgcwt.data.segment_store.SegmentStoreWriter`), so memory holds one
    record and one chunk of windows, not every window: the full length of the
    PhysioNet databases (~680,000 windows, 2.8 GB of float32) fits a small job.
    The file holds the same datasets :func:`write_segments` writes from
    :func:`segment_databases`' arrays. It is written atomically: an error
    (a bad record with ``on_bad_record="fail"``, a class without windows)
    leaves no file. ``edit_table`` may rewrite the table before it is stored;
    it must keep the rows and their order. ``data_description`` (e.g.
    :func:`ecgcwt.config.describe_data_source`) is stored as the ``data_source``
    attribute; the scalogram cache and every model trained on it carry it on, so
    ``ecgcwt predict`` can say what data a model saw.
    """
    extra = segment_attrs(spec)
    extra["data_source"] = data_description or data_source
    run = _Segmenter(sources, spec, subject_map, on_bad_record, data_source)
    with atomic_path(path, suffix=".h5.tmp") as tmp:
        with hdf5_writer(tmp) as f:
            writer = SegmentStoreWriter(f, spec.window)
            for windows in run.records():
                for w in windows:
                    writer.append(w)
            table, qc = run.finish()
            if edit_table is not None:
                edited = edit_table(table.copy())
                if len(edited) != len(table):
                    raise ValueError("edit_table must keep every row of the segment table, in order")
                table = edited
            writer.finish(table, fs=spec.fs, hop=spec.hop, classes=run.classes, extra_attrs=extra)
    return table, qc, run.classes


#: Columns of the segment table in the order :func:`segment_databases` gives them.
_TABLE_ORDER = ["segment", "db", "record", "subject", "recording", "lead", "lead_name", "start", "label", "label_index"]


class _Segmenter:
    """One segmentation run: :meth:`records` yields each usable record's windows, :meth:`finish` the tables.

    The table is kept as one entry per recording (its constant columns and the
    kept starts), not one Python object per window.
    """

    def __init__(self, sources, spec: SegmentSpec, subject_map, on_bad_record: str, data_source: str) -> None:
        if on_bad_record not in ON_BAD_RECORD:
            raise ConfigError(f"data.on_bad_record is {on_bad_record!r}; allowed: {', '.join(ON_BAD_RECORD)}.")
        self.sources = list(sources)
        self.spec = spec
        self.subject_map = subject_map or {}
        self.on_bad_record = on_bad_record
        self.data_source = data_source
        self.classes = sorted({s.label for s in self.sources})
        self.class_index = {c: i for i, c in enumerate(self.classes)}
        # every name of every database is checked before the first record is read
        self.names_of = {}
        for src in self.sources:
            if src.records is not None:
                listed_in = f"config data.records.{src.db}"
                self.names_of[src.db] = (check_record_names(list(src.records), listed_in), listed_in)
            else:
                self.names_of[src.db] = (
                    read_record_list(src.path, data_source=data_source),
                    str(Path(src.path) / "RECORDS"),
                )
        check_subject_map(self.subject_map, {db: names for db, (names, _) in self.names_of.items()}, error=ConfigError)
        self.leads_kept: list[tuple] = []  # (db, record, subject, recording, lead, lead_name, label, starts)
        self.qc_rows: list[dict] = []
        self.bad: list[tuple[DatabaseSource, str, str]] = []  # (source, record, reason) of records without any window

    def _skip(self, src: DatabaseSource, name: str, subject: str, error: UnusableRecord, rec_rows=()) -> None:
        log.warning("skipped record %s/%s (%s): %s", src.db, name, src.label, error.reason)
        self.bad.append((src, name, error.reason))
        base = {
            "db": src.db,
            "record": name,
            "subject": subject,
            "label": src.label,
            "status": "skipped",
            "reason": error.reason,
            "link_target": link_target(src.path, name),
        }
        if rec_rows:
            self.qc_rows.extend({**q, **base} for q in rec_rows)
        else:
            self.qc_rows.append(base)  # nothing was read: no lead, no counts

    def records(self) -> Iterator[list[np.ndarray]]:
        """The float32 windows of each usable record (one array per lead with windows), record by record."""
        spec, on_bad_record = self.spec, self.on_bad_record
        for src in self.sources:
            names, listed_in = self.names_of[src.db]
            for name in names:
                subject = self.subject_map.get(f"{src.db}/{name}", f"{src.db}/{name}")
                try:
                    rec = read_record(
                        src.path,
                        name,
                        max_duration_s=spec.max_duration_s,
                        channels=spec.leads,
                        data_source=self.data_source,
                        listed_in=listed_in,
                    )
                except UnusableRecord as exc:
                    if on_bad_record == "fail":
                        raise
                    self._skip(src, name, subject, exc)
                    continue
                rec_rows: list[dict] = []  # QC rows of the record's leads, filled as they are cut
                try:
                    rec_chunks, rec_leads = self._cut_record(src, name, subject, rec, rec_rows)
                except UnusableRecord as exc:
                    if on_bad_record == "fail":
                        raise
                    self._skip(src, name, subject, exc, rec_rows)
                    continue
                del rec
                if not rec_chunks:
                    # no lead of this record gave a window: the record is unusable as a whole
                    reason = _no_window_reason(rec_rows)
                    if on_bad_record == "skip":
                        self._skip(src, name, subject, UnusableRecord(reason, ""), rec_rows)
                    else:
                        log.warning("record %s/%s (%s): %s", src.db, name, src.label, reason)
                        self.bad.append((src, name, reason))
                        self.qc_rows.extend({**q, "status": "empty", "reason": reason} for q in rec_rows)
                    continue
                for q in rec_rows:
                    if q["kept"] == 0:
                        q["status"], q["reason"] = "empty", _no_window_reason([q])
                        log.warning("%s: %s; the record's other lead(s) are used", q["recording"], q["reason"])
                self.qc_rows.extend(rec_rows)
                self.leads_kept.extend(rec_leads)
                yield rec_chunks

    def _cut_record(self, src: DatabaseSource, name: str, subject: str, rec, rec_rows: list[dict]):
        """Windows and table entries of each lead of ``rec``; its QC rows appended to ``rec_rows``."""
        spec = self.spec
        leads = list(spec.leads) if spec.leads is not None else list(range(rec.signal.shape[1]))
        rec_chunks, rec_leads = [], []
        linked = link_target(src.path, name)  # where a symbolic link in the data folder leads ("" for plain files)
        for j, lead in enumerate(leads):
            cut = cut_lead(
                rec.signal[:, j],
                rec.clipped[:, j],
                rec.fs,
                spec.fs,
                spec.window,
                spec.hop,
                spec.quality,
                spec.max_per_recording,
            )
            n = cut.n_samples
            recording = f"{src.db}/{name}/{lead}"
            qc = {
                "db": src.db,
                "record": name,
                "lead": lead,
                "recording": recording,
                "subject": subject,
                "label": src.label,
                "seconds": n / spec.fs,
                "windows": len(cut.starts),
                "link_target": linked,
            }
            if len(cut.starts) == 0:
                rec_rows.append({**qc, **{f"dropped_{r}": 0 for r in DROP_REASONS}, "kept": 0})
                raise UnusableRecord(
                    f"record {rec.path} lead {lead} has {n} samples at {spec.fs:g} Hz "
                    f"({n / spec.fs:.1f} s), shorter than one window of {spec.window} samples "
                    f"({spec.window / spec.fs:.1f} s).",
                    "Lower segments.window, raise data.max_duration_s, leave the record out with "
                    "data.records, or set data.on_bad_record: skip to go on without it.",
                )
            qc.update({f"dropped_{r}": int(np.sum(cut.reasons == r)) for r in DROP_REASONS})
            qc["kept"] = len(cut.kept)
            qc["status"], qc["reason"] = "ok", ""
            rec_rows.append(qc)
            if len(cut.kept) == 0:
                continue
            rec_chunks.append(cut.windows)
            # rec holds only the selected leads: its j-th name is this lead's
            rec_leads.append((src.db, name, subject, recording, lead, rec.sig_names[j], src.label, cut.kept))
        return rec_chunks, rec_leads

    def finish(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The segment table and the QC table, after every record; the checks on the run as a whole."""
        table = self._table()
        qc_df = _qc_frame(self.qc_rows)
        classes, bad, on_bad_record = self.classes, self.bad, self.on_bad_record
        missing = [c for c in classes if c not in set(table["label"])]
        if missing:
            listed = [f"{s.db}/{n} ({s.label}): {r}" for s, n, r in bad if s.label in missing]
            what = "skipped or without a usable window" if on_bad_record == "skip" else "without a usable window"
            raise DataError(
                f"no usable window left for class(es) {missing}: "
                + (
                    f"every record of the class is {what}:\n  " + "\n  ".join(listed) + "\n"
                    if listed
                    else "every window failed the quality checks (see the per-recording counts in the QC table). "
                )
                + "A classifier needs every class: fix or replace the records, loosen segments.quality, or remove "
                "the class's database(s) from data.databases."
            )
        if bad and on_bad_record == "fail":
            listed = "\n  ".join(f"{s.db}/{n} ({Path(s.path) / n}): {r}" for s, n, r in bad)
            raise UnusableRecord(
                f"{len(bad)} record(s) gave no usable window:\n  {listed}\n",
                "Check the record(s), loosen segments.quality, leave them out with data.records, or set "
                "data.on_bad_record: skip to go on without them.",
            )
        return table, qc_df

    def _table(self) -> pd.DataFrame:
        counts = np.array([len(x[-1]) for x in self.leads_kept], dtype=np.int64)
        n = int(counts.sum())

        def column(i: int) -> np.ndarray:  # one value per recording, repeated for its windows (shared objects)
            values = np.empty(len(self.leads_kept), dtype=object)
            values[:] = [x[i] for x in self.leads_kept]
            return np.repeat(values, counts)

        starts = [np.asarray(x[-1], dtype=np.int64) for x in self.leads_kept]
        labels = column(6)
        table = pd.DataFrame(
            {
                "segment": np.arange(n, dtype=np.int64),
                "db": column(0),
                "record": column(1),
                "subject": column(2),
                "recording": column(3),
                "lead": column(4).astype(np.int64),
                "lead_name": column(5),
                "start": np.concatenate(starts) if starts else np.empty(0, np.int64),
                "label": labels,
                "label_index": np.array([self.class_index[c] for c in labels], dtype=np.int64),
            },
            columns=_TABLE_ORDER,
        )
        return table


def _qc_frame(qc_rows: list[dict]) -> pd.DataFrame:
    """The QC table with integer counts that stay integers where a skipped record has none."""
    qc = pd.DataFrame(qc_rows, columns=QC_COLUMNS)
    for col in ["lead", "windows", *(f"dropped_{r}" for r in DROP_REASONS), "kept"]:
        qc[col] = qc[col].astype("Int64")
    qc["seconds"] = qc["seconds"].astype(float)
    qc["reason"] = qc["reason"].fillna("")
    qc["link_target"] = qc["link_target"].fillna("")
    return qc
