"""Cut recordings into fixed-length windows at one sampling rate, dropping bad windows.

Per record and lead: resample to the target rate with a polyphase filter
(scipy.signal.resample_poly, exact rational ratio), cut windows of ``window``
samples every ``hop`` samples, drop windows that fail the quality checks
(missing samples, flat line, ADC clipping, implausible amplitude) and count
why, then keep at most ``max_per_recording`` windows spread evenly over the
recording (so a cap samples the whole recording rather than its start).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.signal import resample_poly

from .errors import DataError, RecordError
from .records import read_record, read_record_list

log = logging.getLogger(__name__)

DROP_REASONS = ("nan", "flat", "clipped", "artefact")


@dataclass(frozen=True)
class QualityLimits:
    flat_std_mv: float = 0.01
    clip_fraction: float = 0.05
    max_abs_mv: float = 10.0


@dataclass(frozen=True)
class SegmentSpec:
    fs: float = 128.0
    window: int = 1024
    hop: int = 1024
    max_per_recording: int | None = 10
    leads: Sequence[int] | None = None  # None = all leads
    max_duration_s: float | None = 512.0
    quality: QualityLimits = field(default_factory=QualityLimits)


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
    x: np.ndarray, bad_native: np.ndarray, clip_native: np.ndarray, starts: np.ndarray, window: int, scale: float,
    limits: QualityLimits,
) -> np.ndarray:
    """Drop reason per window ('' = kept). ``scale`` maps target samples to native samples."""
    reasons = np.full(len(starts), "", dtype=object)
    nan_cum = np.concatenate([[0], np.cumsum(bad_native)])
    clip_cum = np.concatenate([[0], np.cumsum(clip_native)])
    n_native = len(bad_native)
    for i, s in enumerate(starts):
        # the native span feeding this window (the polyphase filter's spread is a few samples; a
        # one-sample margin on each side keeps NaNs next to the window from leaking in unnoticed)
        a = max(0, int(np.floor(s * scale)) - 1)
        b = min(n_native, int(np.ceil((s + window) * scale)) + 1)
        w = x[s : s + window]
        if nan_cum[b] - nan_cum[a] > 0:
            reasons[i] = "nan"
        elif np.std(w) < limits.flat_std_mv:
            reasons[i] = "flat"
        elif (clip_cum[b] - clip_cum[a]) / max(1, b - a) > limits.clip_fraction:
            reasons[i] = "clipped"
        elif np.max(np.abs(w)) > limits.max_abs_mv:
            reasons[i] = "artefact"
    return reasons


def segment_databases(
    sources: Iterable[DatabaseSource],
    spec: SegmentSpec,
    subject_map: dict[str, str] | None = None,
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame, list[str]]:
    """Segment every record of every database.

    Returns ``(signals, table, qc, classes)``: float32 windows (n, window), the
    segment table (columns of :data:`ecgcwt.segment_store.TABLE_COLUMNS`), one
    quality-control row per recording, and the sorted class names.
    """
    sources = list(sources)
    subject_map = subject_map or {}
    classes = sorted({s.label for s in sources})
    class_index = {c: i for i, c in enumerate(classes)}
    chunks: list[np.ndarray] = []
    rows: list[dict] = []
    qc_rows: list[dict] = []
    for src in sources:
        names = list(src.records) if src.records is not None else read_record_list(src.path)
        for name in names:
            rec = read_record(src.path, name, max_duration_s=spec.max_duration_s, channels=spec.leads)
            leads = list(spec.leads) if spec.leads is not None else list(range(rec.signal.shape[1]))
            subject = subject_map.get(f"{src.db}/{name}", f"{src.db}/{name}")
            for j, lead in enumerate(leads):
                raw = rec.signal[:, j]
                bad = np.isnan(raw)
                filled = np.where(bad, 0.0, raw)
                x = resample(filled, rec.fs, spec.fs)
                starts = window_starts(len(x), spec.window, spec.hop)
                if len(starts) == 0:
                    raise RecordError(
                        f"record {rec.path} lead {lead} has {len(x)} samples at {spec.fs:g} Hz "
                        f"({len(x) / spec.fs:.1f} s), shorter than one window of {spec.window} samples "
                        f"({spec.window / spec.fs:.1f} s). Lower segments.window, raise data.max_duration_s, "
                        f"or leave the record out with data.records."
                    )
                reasons = classify_windows(
                    x, bad, rec.clipped[:, j], starts, spec.window, rec.fs / spec.fs, spec.quality
                )
                good = np.flatnonzero(reasons == "")
                keep = good[evenly_spaced(len(good), spec.max_per_recording)]
                recording = f"{src.db}/{name}/{lead}"
                qc = {
                    "db": src.db, "record": name, "lead": lead, "recording": recording, "subject": subject,
                    "label": src.label, "seconds": len(x) / spec.fs, "windows": len(starts),
                }
                qc.update({f"dropped_{r}": int(np.sum(reasons == r)) for r in DROP_REASONS})
                qc["kept"] = len(keep)
                qc_rows.append(qc)
                if len(keep) == 0:
                    log.warning("%s: no usable window (%s)", recording, {r: qc[f"dropped_{r}"] for r in DROP_REASONS})
                    continue
                chunks.append(np.stack([x[s : s + spec.window] for s in starts[keep]]).astype(np.float32))
                for s in starts[keep]:
                    rows.append({
                        "db": src.db, "record": name, "subject": subject, "recording": recording,
                        "lead": lead, "lead_name": rec.sig_names[j],  # rec holds only the selected leads
                        "start": int(s), "label": src.label, "label_index": class_index[src.label],
                    })
    table = pd.DataFrame(rows, columns=[
        "db", "record", "subject", "recording", "lead", "lead_name", "start", "label", "label_index"])
    table.insert(0, "segment", np.arange(len(table), dtype=np.int64))
    qc_df = pd.DataFrame(qc_rows)
    missing = [c for c in classes if c not in set(table["label"])]
    if missing:
        raise DataError(
            f"no usable window left for class(es) {missing}: every window failed the quality checks "
            f"(see the per-recording counts in the QC table). Check the records or loosen segments.quality."
        )
    signals = np.concatenate(chunks) if chunks else np.empty((0, spec.window), np.float32)
    return signals, table, qc_df, classes
