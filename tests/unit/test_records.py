"""Reading WFDB records: real PhysioNet files, and clear errors for broken ones."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import wfdb

from ecgcwt.data.records import read_record, read_record_list
from ecgcwt.errors import RecordError


def test_real_record_matches_wfdb(physionet_dir):
    # Reference: wfdb.rdrecord's own physical conversion of the same samples.
    rec = read_record(physionet_dir / "mitdb", "100", max_duration_s=10)
    ref = wfdb.rdrecord(str(physionet_dir / "mitdb" / "100"), sampto=3600)
    assert rec.fs == 360 and rec.signal.shape == (3600, 2)
    assert rec.sig_names == ["MLII", "V5"]
    np.testing.assert_array_equal(rec.signal, ref.p_signal)
    assert not rec.clipped.any()


def test_all_three_databases_read(physionet_dir):
    for db, fs in [("mitdb", 360), ("chfdb", 250), ("nsrdb", 128)]:
        names = read_record_list(physionet_dir / db)
        rec = read_record(physionet_dir / db, names[0])
        assert rec.fs == fs and rec.signal.shape[1] == 2 and np.isfinite(rec.signal).all()


def test_max_duration_longer_than_record_keeps_all(physionet_dir):
    rec = read_record(physionet_dir / "nsrdb", "16483", max_duration_s=10_000)
    assert rec.n_samples == 65536


def test_channel_selection_and_bad_channel(physionet_dir):
    rec = read_record(physionet_dir / "mitdb", "100", max_duration_s=1, channels=[1])
    assert rec.sig_names == ["V5"] and rec.signal.shape == (360, 1)
    with pytest.raises(RecordError, match=r"has 2 channels \(MLII, V5\) but segments.leads asks for \[2\]"):
        read_record(physionet_dir / "mitdb", "100", channels=[2])


@pytest.fixture
def chf_copy(physionet_dir, tmp_path):
    db = tmp_path / "chfdb"
    db.mkdir()
    for f in ("chf02.hea", "chf02.dat", "RECORDS"):
        shutil.copy(physionet_dir / "chfdb" / f, db / f)
    return db


def test_missing_header(chf_copy):
    (chf_copy / "chf02.hea").unlink()
    with pytest.raises(RecordError, match=r"header file .*chfdb/chf02.hea not found.*Delete the folder's RECORDS"):
        read_record(chf_copy, "chf02")


def test_missing_signal_file(chf_copy):
    (chf_copy / "chf02.dat").unlink()
    with pytest.raises(RecordError, match=r"signal file .*chf02.dat \(named in .*chf02.hea\) not found"):
        read_record(chf_copy, "chf02")


def test_truncated_signal_file(chf_copy):
    dat = chf_copy / "chf02.dat"
    dat.write_bytes(dat.read_bytes()[:1000])
    with pytest.raises(RecordError, match=r"chf02.dat is truncated: 1000 bytes, but .* declares at least 262144 bytes"):
        read_record(chf_copy, "chf02")
    # the first 250 frames (1000 bytes) are still readable when only they are asked for
    assert read_record(chf_copy, "chf02", max_duration_s=1).n_samples == 250


def test_corrupt_header(chf_copy):
    (chf_copy / "chf02.hea").write_text("this is not a header\n")
    with pytest.raises(RecordError, match=r"cannot parse header .*chf02.hea"):
        read_record(chf_copy, "chf02")


def test_records_file_missing_or_empty(tmp_path):
    with pytest.raises(RecordError, match=r"RECORDS not found"):
        read_record_list(tmp_path)
    (tmp_path / "RECORDS").write_text("\n")
    with pytest.raises(RecordError, match=r"lists no records"):
        read_record_list(tmp_path)


def test_missing_samples_become_nan_and_saturation_is_flagged(tmp_path):
    # A record written with wfdb: NaN is stored as the format's "missing" code,
    # and values at the ADC limit are clipping.
    sig = np.zeros((500, 1))
    sig[:, 0] = np.sin(np.arange(500) / 10)
    sig[100:110, 0] = np.nan
    sig[200:205, 0] = 163.835  # 32767 / 200: the top of format 16 at gain 200
    wfdb.wrsamp(
        "r1",
        fs=100,
        units=["mV"],
        sig_name=["I"],
        p_signal=sig,
        fmt=["16"],
        adc_gain=[200.0],
        baseline=[0],
        write_dir=str(tmp_path),
    )
    (tmp_path / "RECORDS").write_text("r1\n")
    rec = read_record(tmp_path, "r1")
    assert np.isnan(rec.signal[100:110, 0]).all() and np.isfinite(rec.signal[:100]).all()
    assert rec.clipped[200:205, 0].all() and rec.clipped.sum() == 5


def test_record_files_lists_headers_and_the_signal_files_they_name(tmp_path):
    from ecgcwt.data import record_files

    (tmp_path / "RECORDS").write_text("a\nms\nmissing\n../escape\n")
    (tmp_path / "a.hea").write_text(
        "# a comment\na 2 360 100\na.dat 212 200 11 1024 0 0 0 MLII\na.dat 212 200 11 1024 0 0 0 V5\n"
    )
    (tmp_path / "a.dat").write_bytes(b"\0" * 300)
    # a multi-segment record: its segments' headers and signal files, "~" a gap
    (tmp_path / "ms.hea").write_text("ms/2 1 250 200\n~ 50\nms_1 150\n")
    (tmp_path / "ms_1.hea").write_text("ms_1 1 250 150\nms_1.dat 16 200 12 0 0 0 0 I\n")
    (tmp_path / "ms_1.dat").write_bytes(b"\0" * 300)
    assert [p.split("/")[-1] for p in record_files(tmp_path)] == ["a.hea", "a.dat", "ms.hea", "ms_1.hea", "ms_1.dat"]
    assert [p.split("/")[-1] for p in record_files(tmp_path, ["ms"])] == ["ms.hea", "ms_1.hea", "ms_1.dat"]
    assert record_files(tmp_path / "nowhere") == []
