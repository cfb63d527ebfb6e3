"""Segmentation: polyphase resampling, windows, quality checks, the segment store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy.signal import resample_poly

from ecgcwt.data.segment_store import iter_signal_batches, read_info, read_table, write_segment_store
from ecgcwt.data.segmentation import (
    DatabaseSource,
    QualityLimits,
    SegmentSpec,
    evenly_spaced,
    resample,
    segment_databases,
    segment_to_store,
    window_starts,
)
from ecgcwt.data.synthetic import generate_database
from ecgcwt.errors import DataError, RecordError


def _sources(root: Path):
    return [
        DatabaseSource("mitdb", root / "mitdb", "ARR"),
        DatabaseSource("chfdb", root / "chfdb", "CHF"),
        DatabaseSource("nsrdb", root / "nsrdb", "NSR"),
    ]


def test_resample_is_scipy_polyphase_with_the_exact_ratio():
    # Reference: scipy.signal.resample_poly with the reduced ratio written out by hand (128/360 = 16/45).
    x = np.random.default_rng(0).standard_normal(3600)
    np.testing.assert_array_equal(resample(x, 360, 128), resample_poly(x, 16, 45))
    assert len(resample(x, 250, 128)) == 3600 * 128 // 250 + 1  # ceil(3600 * 64 / 125)
    assert resample(x, 128, 128) is x


def test_resampling_keeps_an_in_band_tone():
    fs_in, fs_out, f = 360, 128, 5.0
    t = np.arange(36000) / fs_in
    y = resample(np.sin(2 * np.pi * f * t), fs_in, fs_out)
    t_out = np.arange(len(y)) / fs_out
    inner = slice(100, -100)  # away from the filter's edge transients
    np.testing.assert_allclose(y[inner], np.sin(2 * np.pi * f * t_out)[inner], atol=2e-3)


def test_window_starts_and_even_cap():
    np.testing.assert_array_equal(window_starts(10, 4, 3), [0, 3, 6])
    assert len(window_starts(3, 4, 1)) == 0
    np.testing.assert_array_equal(evenly_spaced(64, 10), [0, 7, 14, 21, 28, 35, 42, 49, 56, 63])
    np.testing.assert_array_equal(evenly_spaced(5, 10), np.arange(5))
    np.testing.assert_array_equal(evenly_spaced(5, None), np.arange(5))


def test_real_records_mathworks_design(physionet_dir, tmp_path):
    # Default design: first 512 s at 128 Hz = 65,536 samples per lead, 64 windows of 1024, 10 kept evenly.
    sources = [
        DatabaseSource("mitdb", physionet_dir / "mitdb", "ARR", ["100", "101"]),
        DatabaseSource("chfdb", physionet_dir / "chfdb", "CHF"),
        DatabaseSource("nsrdb", physionet_dir / "nsrdb", "NSR"),
    ]
    signals, table, qc, classes = segment_databases(sources, SegmentSpec())
    assert classes == ["ARR", "CHF", "NSR"]
    assert signals.shape == (4 * 2 * 10, 1024) and signals.dtype == np.float32
    # the chfdb test record holds only the first 65,536 samples at 250 Hz (262 s): 32 windows
    q = qc.set_index("db")
    assert (q.loc[["mitdb", "nsrdb"], "seconds"] == 512).all() and (q.loc[["mitdb", "nsrdb"], "windows"] == 64).all()
    assert (q.loc["chfdb", "windows"] == 32).all() and (qc["kept"] == 10).all()
    assert set(table["subject"]) == {"mitdb/100", "mitdb/101", "chfdb/chf02", "nsrdb/16483"}
    r100 = table[table["recording"] == "mitdb/100/0"]
    assert list(r100["start"]) == [i * 1024 for i in (0, 7, 14, 21, 28, 35, 42, 49, 56, 63)]
    assert set(r100["lead_name"]) == {"MLII"}
    # the stored window is exactly the resampled signal at its start
    ref = resample_poly(wfdb.rdrecord(str(physionet_dir / "mitdb" / "100"), sampto=184320).p_signal[:, 0], 16, 45)
    row = r100.iloc[3]
    np.testing.assert_allclose(signals[row["segment"]], ref[row["start"] : row["start"] + 1024], rtol=1e-6, atol=1e-6)
    # round trip through the store
    path = tmp_path / "segments.h5"
    write_segment_store(path, signals, table, fs=128, window=1024, hop=1024, classes=classes)
    info = read_info(path)
    assert info.classes == ("ARR", "CHF", "NSR") and info.n_segments == 80 and info.fs == 128
    back = read_table(path)
    assert back.equals(table)
    rows = [5, 6, 7, 40]
    got = np.concatenate([s for _, s in iter_signal_batches(path, 3, rows)])
    np.testing.assert_array_equal(got, signals[rows])


def test_lead_selection_and_subject_map(tmp_path):
    for src in _sources(tmp_path):
        generate_database(src.db, src.label, src.path, subjects=2, duration_s=20, seed=0)
    spec = SegmentSpec(window=512, hop=256, max_per_recording=None, leads=[1], max_duration_s=None)
    _, table, qc, _ = segment_databases(_sources(tmp_path), spec, {"mitdb/syn002": "mitdb/syn001"})
    assert set(table["lead"]) == {1} and set(table["lead_name"]) == {"ECG2"}
    # 20 s at 128 Hz = 2560 samples: (2560 - 512) // 256 + 1 = 9 windows per recording
    assert (qc["windows"] == 9).all() and len(table) == 6 * 9
    assert set(table.loc[table["db"] == "mitdb", "subject"]) == {"mitdb/syn001"}


def test_subject_map_key_naming_no_record_is_refused_before_any_record_is_read(tmp_path, monkeypatch):
    from ecgcwt.data import segmentation
    from ecgcwt.errors import ConfigError

    for src in _sources(tmp_path):
        generate_database(src.db, src.label, src.path, subjects=2, duration_s=20, seed=0)
    spec = SegmentSpec(window=512, hop=256, max_per_recording=None, leads=[1], max_duration_s=None)
    read = []
    monkeypatch.setattr(segmentation, "read_record", lambda *a, **k: read.append(a) or pytest.fail("read"))
    # one typo ("syn0002" for "syn002") would leave mitdb/syn002 its own subject, split from syn001
    with pytest.raises(ConfigError) as err:
        segment_to_store(tmp_path / "s.h5", _sources(tmp_path), spec, {"mitdb/syn0002": "mitdb/syn001"})
    msg = str(err.value)
    assert "data.subject_map" in msg and "'mitdb/syn0002'" in msg and "mitdb/syn002" in msg
    assert not read and not (tmp_path / "s.h5").exists()
    # the default entry (MIT-BIH 202 = 201) is allowed where the run has no record 202
    monkeypatch.undo()
    _, table, _, _ = segment_databases(_sources(tmp_path), spec, {"mitdb/202": "mitdb/201"})
    assert set(table["subject"]) == {f"{db}/syn00{i}" for db in ("mitdb", "chfdb", "nsrdb") for i in (1, 2)}


def test_subject_map_check_names_a_few_keys_and_costs_one_lookup_per_key():
    import time

    from ecgcwt.data import check_subject_map
    from ecgcwt.errors import ConfigError

    names = [f"{i:03d}" for i in range(100, 400)]
    huge = {f"mitdb/x{i}": f"p{i}" for i in range(100_000)}
    start = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        check_subject_map(huge, {"mitdb": names}, error=ConfigError)
    elapsed = time.perf_counter() - start
    msg = str(err.value)
    assert "100000 key(s)" in msg and "'mitdb/x0'" in msg and "and 99997 more" in msg and len(msg) < 2000
    assert elapsed < 5, elapsed  # bounded: set lookups, difflib on three keys only
    check_subject_map({"mitdb/101": "mitdb/100", "chfdb/zz": "q"}, {"mitdb": names}, error=ConfigError)


def _write(tmp_path, name, sig, fs=128):
    wfdb.wrsamp(
        name,
        fs=fs,
        units=["mV"],
        sig_name=["I"],
        p_signal=sig[:, None],
        fmt=["16"],
        adc_gain=[200.0],
        baseline=[0],
        write_dir=str(tmp_path),
    )


def test_quality_checks_drop_and_count_bad_windows(tmp_path):
    rng = np.random.default_rng(0)
    x = np.sin(np.arange(128 * 50) / 5.0) + 0.1 * rng.standard_normal(128 * 50)
    x[0:100] = np.nan  # window 0: missing samples
    x[1024:2048] = 0.3  # window 1: flat
    x[2048:2148] = 163.835  # window 2: at the ADC limit for 100 of 1024 samples
    x[3500] = 50.0  # window 3: implausible spike
    db = tmp_path / "db"
    db.mkdir()
    _write(db, "q1", x)
    (db / "RECORDS").write_text("q1\n")
    other = tmp_path / "other"
    other.mkdir()
    _write(other, "ok", np.sin(np.arange(128 * 20) / 5.0))
    (other / "RECORDS").write_text("ok\n")
    spec = SegmentSpec(window=1024, hop=1024, max_per_recording=None, max_duration_s=None)
    signals, table, qc, _ = segment_databases(
        [DatabaseSource("db", db, "A"), DatabaseSource("other", other, "B")], spec
    )
    row = qc.set_index("recording").loc["db/q1/0"]
    assert (
        row["windows"],
        row["dropped_nan"],
        row["dropped_flat"],
        row["dropped_clipped"],
        row["dropped_artefact"],
        row["kept"],
    ) == (6, 1, 1, 1, 1, 2)
    assert list(table.loc[table["db"] == "db", "start"]) == [4096, 5120]
    assert np.isfinite(signals).all()


def test_record_shorter_than_one_window(tmp_path):
    _write(tmp_path, "short", np.sin(np.arange(500) / 5.0))
    (tmp_path / "RECORDS").write_text("short\n")
    with pytest.raises(
        RecordError,
        match=r"short lead 0 has 500 samples at 128 Hz .* shorter than one window of "
        r"1024 samples.*Lower segments.window",
    ):
        segment_databases([DatabaseSource("x", tmp_path, "A")], SegmentSpec(max_duration_s=None))


def test_class_with_no_usable_window(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    _write(a, "flat", np.full(2048, 0.5))
    _write(b, "ok", np.sin(np.arange(2048) / 5.0))
    (a / "RECORDS").write_text("flat\n")
    (b / "RECORDS").write_text("ok\n")
    with pytest.raises(DataError, match=r"no usable window left for class\(es\) \['A'\]"):
        segment_databases(
            [DatabaseSource("a", a, "A"), DatabaseSource("b", b, "B")],
            SegmentSpec(max_duration_s=None, quality=QualityLimits()),
        )


def test_enospc_while_writing_segments_is_one_clear_error(tmp_path, monkeypatch):
    """h5py failing with ENOSPC after the signals were written: one error naming segments.h5, no file left."""
    import errno

    import h5py
    import pandas as pd

    from ecgcwt.data import write_segment_store
    from ecgcwt.data.segment_store import TABLE_COLUMNS
    from ecgcwt.errors import DiskFullError

    create = h5py.Group.create_dataset

    def full(self, name, *args, **kwargs):
        if name != "signals":
            raise OSError(errno.ENOSPC, "Can't write data (file write failed: errno = 28, error message = 'No space')")
        return create(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", full)
    n = 4
    table = pd.DataFrame({c: [str(i) for i in range(n)] for c in TABLE_COLUMNS})
    for c in ("segment", "lead", "start", "label_index"):
        table[c] = np.arange(n)
    target = tmp_path / "data" / "segments.h5"
    with pytest.raises(DiskFullError, match=rf"{target}: no space left on the device while writing it"):
        write_segment_store(target, np.zeros((n, 64)), table, fs=128, window=64, hop=64, classes=["A", "B"])
    assert list(target.parent.iterdir()) == []
