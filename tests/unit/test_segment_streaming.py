"""The segment step streams record by record into segments.h5: the same file as from whole arrays."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from ecgcwt.data import (
    DatabaseSource,
    SegmentSpec,
    SegmentStoreWriter,
    generate_database,
    read_table,
    segment_databases,
    segment_to_store,
    write_segments,
)
from ecgcwt.data.segment_store import TABLE_COLUMNS
from ecgcwt.errors import DataError

# config/demo.yaml's data and segments: 6 synthetic subjects per class of 48 s, windows of 512, at most 6 each
DEMO_SPEC = SegmentSpec(window=512, hop=512, max_per_recording=6, max_duration_s=None)
# config/full-length.yaml's: every window of the full record (the real test records: mitdb 30 min)
FULL_SPEC = SegmentSpec(max_per_recording=None, max_duration_s=None)


def _datasets(path) -> dict:
    """Every dataset of an HDF5 file: values, dtype, chunk shape and filters; and the root attributes."""
    out = {}
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (
                    obj[()],
                    obj.dtype,
                    obj.shape,
                    obj.chunks,
                    obj.compression,
                    obj.compression_opts,
                    obj.shuffle,
                )

        f.visititems(visit)
        out["attrs"] = {k: f.attrs[k] for k in f.attrs}
    return out


def _assert_same_store(streamed, whole) -> None:
    a, b = _datasets(streamed), _datasets(whole)
    assert sorted(a) == sorted(b)
    for name in a:
        if name == "attrs":
            assert sorted(a[name]) == sorted(b[name])
            for k in a[name]:
                np.testing.assert_array_equal(a[name][k], b[name][k], err_msg=k)
            continue
        va, vb = a[name][0], b[name][0]
        assert va.dtype == vb.dtype and va.shape == vb.shape, name
        if va.dtype.kind == "O":  # variable-length strings: the same bytes, string by string
            assert list(va) == list(vb), f"{name} differs"
        else:
            assert va.tobytes() == vb.tobytes(), f"{name} differs"  # byte for byte
        assert a[name][1:] == b[name][1:], f"{name}: layout {a[name][1:]} != {b[name][1:]}"


def _demo_sources(root):
    sources = []
    for db, label in (("mitdb", "ARR"), ("chfdb", "CHF"), ("nsrdb", "NSR")):
        generate_database(db, label, root / db, subjects=6, duration_s=48, seed=0)
        sources.append(DatabaseSource(db, root / db, label))
    return sources


def _both(tmp_path, sources, spec, subject_map=None):
    signals, table, qc, classes = segment_databases(sources, spec, subject_map)
    write_segments(tmp_path / "whole.h5", signals, table, spec, classes)
    s_table, s_qc, s_classes = segment_to_store(tmp_path / "streamed.h5", sources, spec, subject_map)
    assert s_classes == classes
    assert s_table.equals(table) and s_qc.equals(qc)
    return signals, table


def test_demo_config_streams_into_the_same_segment_store(tmp_path):
    signals, table = _both(tmp_path, _demo_sources(tmp_path / "db"), DEMO_SPEC)
    assert signals.shape == (3 * 6 * 2 * 6, 512)  # one chunk (216 rows < 512): the chunk shape is the same too
    _assert_same_store(tmp_path / "streamed.h5", tmp_path / "whole.h5")
    assert read_table(tmp_path / "streamed.h5").equals(table)


def test_real_records_full_length_stream_into_the_same_segment_store(physionet_dir, tmp_path):
    sources = [
        DatabaseSource("mitdb", physionet_dir / "mitdb", "ARR", ["100", "101"]),
        DatabaseSource("chfdb", physionet_dir / "chfdb", "CHF"),
        DatabaseSource("nsrdb", physionet_dir / "nsrdb", "NSR"),
    ]
    signals, _ = _both(tmp_path, sources, FULL_SPEC, {"mitdb/101": "mitdb/100"})
    # mitdb 30 min: 225 windows per lead; chfdb 262 s: 32; nsrdb 512 s: 64; two leads each
    assert len(signals) == 2 * (2 * 225 + 32 + 64)
    _assert_same_store(tmp_path / "streamed.h5", tmp_path / "whole.h5")  # several chunks of 256 rows


def test_writer_buffers_one_chunk_and_writes_every_row_in_order(tmp_path):
    rng = np.random.default_rng(0)
    parts = [rng.normal(size=(n, 64)).astype(np.float32) for n in (1, 4095, 4097, 0, 10)]
    n = sum(len(p) for p in parts)
    table = pd.DataFrame({c: np.zeros(n, np.int64) if k != "str" else ["x"] * n for c, k in TABLE_COLUMNS.items()})
    with h5py.File(tmp_path / "s.h5", "w") as f:
        w = SegmentStoreWriter(f, 64)
        for p in parts:
            w.append(p)
        with pytest.raises(ValueError, match=f"table has 3 rows but {n} windows were appended"):
            w.finish(table.head(3), fs=128, hop=64, classes=["A"])
        with pytest.raises(ValueError, match=r"windows must have shape \(n, 64\), got \(2, 65\)"):
            w.append(np.zeros((2, 65)))
        w.finish(table, fs=128, hop=64, classes=["A"])
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f["signals"].chunks == (4096, 64)  # 1 MiB of float32 windows
        np.testing.assert_array_equal(f["signals"][()], np.concatenate(parts))
    assert len(read_table(tmp_path / "s.h5")) == n


def test_a_class_without_windows_leaves_no_store(tmp_path):
    sources = _demo_sources(tmp_path / "db")
    for p in (tmp_path / "db" / "nsrdb").glob("*.dat"):
        p.write_bytes(b"")  # every NSR record truncated
    out = tmp_path / "segments.h5"
    with pytest.raises(DataError, match=r"no usable window left for class\(es\) \['NSR'\]"):
        segment_to_store(out, sources, DEMO_SPEC, on_bad_record="skip")
    assert not out.exists() and list(tmp_path.glob("*.tmp*")) == []
