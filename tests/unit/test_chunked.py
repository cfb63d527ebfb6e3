"""A record read and cut part by part (RecordWindows) gives cut_lead's windows, bit for bit.

On REAL records (mitdb 100 at 360 Hz in format 212, chfdb chf02 at 250 Hz,
nsrdb 16483 at 128 Hz, from ../shared) and on a synthetic long record with
every drop reason (missing samples, flat line, ADC clipping, artefact), with
parts much smaller than the record so that many part boundaries are crossed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgcwt.data import DROP_REASONS, QualityLimits, RecordWindows, cut_lead, open_record, read_record

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the fixture module
from fixtures_physionet import require_shared_physionet  # noqa: E402

QUALITY = QualityLimits()


def whole_lead_cut(db_dir: Path, name: str, fs, window, hop, cap, max_duration_s=None):
    """The windows and counts as training cuts them: the whole record read, each lead cut at once."""
    rec = read_record(db_dir, name, max_duration_s=max_duration_s)
    cuts = [
        cut_lead(rec.signal[:, j], rec.clipped[:, j], rec.fs, fs, window, hop, QUALITY, cap)
        for j in range(rec.signal.shape[1])
    ]
    counts = [
        (c.n_samples, len(c.starts), {r: int(np.sum(c.reasons == r)) for r in DROP_REASONS}, len(c.kept)) for c in cuts
    ]
    return np.concatenate([c.windows for c in cuts]), counts


def part_by_part(db_dir: Path, name: str, fs, window, hop, cap, chunk_windows, max_duration_s=None):
    parts = RecordWindows(
        open_record(db_dir, name, max_duration_s=max_duration_s), fs, window, hop, QUALITY, cap, chunk_windows
    )
    got = [(j, w) for j, w in parts]
    assert all(len(w) <= chunk_windows for _, w in got)  # a part holds at most chunk_windows windows
    assert [j for j, _ in got] == sorted(j for j, _ in got)  # lead after lead
    counts = [(s.n_samples, s.n_windows, s.dropped, s.kept) for s in parts.summaries]
    return np.concatenate([w for _, w in got]), counts


@pytest.mark.parametrize("db, name", [("mitdb", "100"), ("chfdb", "chf02"), ("nsrdb", "16483")])
@pytest.mark.parametrize("hop, cap", [(512, None), (200, None), (512, 7)])
def test_real_records_part_by_part_equal_the_whole_record_cut(db, name, hop, cap):
    root = require_shared_physionet()
    expected, expected_counts = whole_lead_cut(root / db, name, 128.0, 512, hop, cap, max_duration_s=900)
    got, counts = part_by_part(root / db, name, 128.0, 512, hop, cap, chunk_windows=37, max_duration_s=900)
    assert len(got) > 10 and got.dtype == np.float32
    assert np.array_equal(got, expected)
    assert counts == expected_counts


def _write_long_record(folder: Path, n: int, fs: float = 360.0) -> Path:
    """A 2-lead record of ``n`` samples with NaN gaps, a flat stretch, clipped and too-large spans."""
    t = np.arange(n) / fs
    rng = np.random.default_rng(0)
    beat = np.exp(-(((t * 1.2) % 1 - 0.3) ** 2) / (2 * 0.01**2))  # a QRS-like peak 1.2 times a second
    sig = np.stack([beat + 0.05 * rng.normal(size=n), 0.7 * beat + 0.05 * rng.normal(size=n)], axis=1)
    d = np.round(sig * 1000).astype(np.int64)  # digital values, 1000 per mV
    d[50_000:50_003, 0] = -32768  # missing samples (format 16's NaN code)
    d[120_000:140_000, 1] = 0  # flat line
    d[200_000:230_000, 0] = 32767  # the ADC's top code: clipped
    d[300_000:310_000, 1] *= 30  # implausibly large (up to 30 mV), not clipped
    wfdb.wrsamp(
        "long",
        fs=fs,
        units=["mV", "mV"],
        sig_name=["I", "II"],
        d_signal=d,
        fmt=["16", "16"],
        adc_gain=[1000.0, 1000.0],
        baseline=[0, 0],
        write_dir=str(folder),
    )
    return folder / "long"


def test_a_long_synthetic_record_with_every_drop_reason(tmp_path):
    _write_long_record(tmp_path, 400_000)
    for hop, cap in [(512, None), (300, None), (512, 25)]:
        expected, expected_counts = whole_lead_cut(tmp_path, "long", 128.0, 512, hop, cap)
        got, counts = part_by_part(tmp_path, "long", 128.0, 512, hop, cap, chunk_windows=50)
        assert np.array_equal(got, expected), (hop, cap)
        assert counts == expected_counts
        if cap is None:  # every drop reason occurs, on part boundaries too
            assert all(sum(c[2][r] for c in counts) > 0 for r in DROP_REASONS), counts
    # at the record's own rate (no resampling) and upsampled
    for fs in (360.0, 500.0):
        expected, expected_counts = whole_lead_cut(tmp_path, "long", fs, 512, 512, None)
        got, counts = part_by_part(tmp_path, "long", fs, 512, 512, None, chunk_windows=64)
        assert np.array_equal(got, expected) and counts == expected_counts
