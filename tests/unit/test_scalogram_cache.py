"""Tests of the scalogram cache scalograms.h5 (ecgcwt.imaging.cache)."""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

import ecgcwt.imaging.cache
from ecgcwt.data import segment_store
from ecgcwt.errors import ConfigError, DataError
from ecgcwt.imaging import (
    CACHE_CODECS,
    CACHE_FORMAT,
    DEFAULT_CODEC,
    ChunkReader,
    CwtParams,
    FilterBank,
    build_scalogram_cache,
    image_colormap,
    read_scalogram_attrs,
    read_scalogram_info,
    read_scalogram_table,
    row_delta_decode,
    row_delta_encode,
    scalogram_images,
    scalogram_indices,
    write_gallery,
)

PHYSIONET = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "physionet"
CLASSES = ["ARR", "CHF", "NSR"]

CFG = {
    "wavelet": "morse",
    "morse_gamma": 3,
    "morse_time_bandwidth": 60,
    "amor_omega0": 6.0,
    "voices_per_octave": 12,
    "freq_limits": None,
    "boundary": "reflect",
    "image": {"size": 48, "mode": "jet", "colors": 128, "log": False},
    "batch_size": 4,
}


def make_table(n: int, labels=None) -> pd.DataFrame:
    idx = np.arange(n)
    labels = labels if labels is not None else [CLASSES[i % 3] for i in idx]
    return pd.DataFrame(
        {
            "segment": idx,
            "db": "synth",
            "record": [str(i // 2) for i in idx],
            "subject": [f"synth/{i // 2}" for i in idx],
            "recording": [f"synth/{i // 2}/0" for i in idx],
            "lead": 0,
            "lead_name": "MLII",
            "start": (idx % 2) * 512,
            "label": labels,
            "label_index": [CLASSES.index(c) for c in labels],
        }
    )


@pytest.fixture()
def store(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    n, window = 10, 512
    t = np.arange(window) / 128.0
    sig = np.stack([np.sin(2 * np.pi * (1 + i) * t) + 0.1 * rng.standard_normal(window) for i in range(n)])
    path = tmp_path / "segments.h5"
    segment_store.write_segment_store(path, sig, make_table(n), fs=128.0, window=window, hop=window, classes=CLASSES)
    return path


def test_cache_format_attrs_table_and_chunks(store, tmp_path):
    out = build_scalogram_cache(store, tmp_path / "sc" / "scalograms.h5", CFG, threads=1)
    with h5py.File(out, "r") as f:
        ds = f["images"]
        assert ds.shape == (10, 48, 48) and ds.dtype == np.uint8  # one colour index per pixel
        assert ds.chunks == (1, 48, 48)
        plist = ds.id.get_create_plist()  # the declared filter: HDF5's registered Zstandard id, level 3
        assert [plist.get_filter(i)[:3] for i in range(plist.get_nfilters())] == [(32015, 1, (3,))]
        np.testing.assert_array_equal(f["colormap"][:], image_colormap("jet", 128))
        assert f["colormap"].shape == (128, 3) and f["colormap"].dtype == np.uint8
        assert f.attrs["cache_format"] == CACHE_FORMAT and f.attrs["codec"] == DEFAULT_CODEC
        table = segment_store.table_from_group(f["table"])
    pd.testing.assert_frame_equal(table, segment_store.read_table(store))
    a = read_scalogram_attrs(out)
    for key in (
        "wavelet",
        "morse_gamma",
        "morse_time_bandwidth",
        "amor_omega0",
        "voices_per_octave",
        "fmin_hz",
        "fmax_hz",
        "boundary",
        "image_size",
        "image_mode",
        "colors",
        "log",
        "frequencies",
        "fs",
        "window",
        "classes",
        "ecgcwt_version",
    ):
        assert key in a, key
    assert a["wavelet"] == "morse" and a["image_size"] == 48 and a["colors"] == 128 and a["log"] is False
    assert a["classes"] == tuple(CLASSES) and a["fs"] == 128.0 and a["window"] == 512
    freqs = np.asarray(a["frequencies"])
    assert freqs.dtype == np.float64 and np.all(np.diff(freqs) < 0)
    assert freqs[0] == pytest.approx(a["fmax_hz"]) and a["freq_limits_source"] == "matlab_default"
    assert a["n_images"] == 10


def test_cwt_batch_size_cannot_change_the_cache(store, tmp_path):
    """cwt.batch_size only batches the work (ecgcwt.config.RUN_SETTINGS): images and attributes are identical."""
    caches = [build_scalogram_cache(store, tmp_path / f"b{b}.h5", CFG, batch_size=b) for b in (1, 3, 256)]
    with ChunkReader(caches[0]) as reader, h5py.File(caches[0], "r") as f:
        images, attrs = reader.read(np.arange(reader.n_images)), {k: np.asarray(v).tolist() for k, v in f.attrs.items()}
    for path in caches[1:]:
        with ChunkReader(path) as reader, h5py.File(path, "r") as f:
            assert np.array_equal(reader.read(np.arange(reader.n_images)), images)
            assert {k: np.asarray(v).tolist() for k, v in f.attrs.items()} == attrs


def test_threads_cannot_change_the_cache(tmp_path):
    """Several worker threads share each batch's images; the stored chunks are byte for byte those of one thread."""
    rng = np.random.default_rng(1)
    n, window = 100, 512
    t = np.arange(window) / 128.0
    sig = np.stack([np.sin(2 * np.pi * (1 + i % 7) * t) + 0.2 * rng.standard_normal(window) for i in range(n)])
    store = tmp_path / "segments.h5"
    segment_store.write_segment_store(store, sig, make_table(n), fs=128.0, window=window, hop=window, classes=CLASSES)
    one = build_scalogram_cache(store, tmp_path / "one.h5", CFG, batch_size=64, threads=1)
    two = build_scalogram_cache(store, tmp_path / "two.h5", CFG, batch_size=64, threads=2)
    with h5py.File(one, "r") as a, h5py.File(two, "r") as b:
        chunks = [[f["images"].id.read_direct_chunk((i, 0, 0))[1] for i in range(n)] for f in (a, b)]
    assert chunks[0] == chunks[1]
    with ChunkReader(two) as reader:
        fb = FilterBank(window, 128.0, CwtParams.from_config(CFG))
        expected = scalogram_indices(fb.magnitude(sig.astype(np.float32), fb.image_columns(48)), size=48)
        assert np.array_equal(reader.read(np.arange(n)), expected)


def test_cached_images_equal_the_direct_pipeline(store, tmp_path):
    """The parallel compression + direct-chunk write stores exactly what the pipeline computed."""
    out = build_scalogram_cache(store, tmp_path / "scalograms.h5", CFG, batch_size=3)
    signals = next(segment_store.iter_signal_batches(store, 100))[1]
    fb = FilterBank(512, 128.0, CwtParams.from_config(CFG))
    mag = fb.magnitude(signals, fb.image_columns(48))
    expected = scalogram_indices(mag, size=48)
    with ChunkReader(out) as reader:
        assert np.array_equal(reader.read(np.arange(10)), expected)
        assert np.array_equal(reader.read([7])[0], expected[7])  # a random single read
        # the cache's table applied to its indices is the RGB image, bit for bit
        assert np.array_equal(reader.colormap[reader.read(np.arange(10))], scalogram_images(mag, size=48))
    hdf5plugin = pytest.importorskip("hdf5plugin", reason="hdf5plugin (HDF5's Zstd filter for h5py) not installed")
    assert hdf5plugin.Zstd is not None
    # any HDF5 reader with the Zstd filter: the stored row deltas, summed down the rows
    with h5py.File(out, "r") as f:
        assert np.array_equal(np.cumsum(f["images"][:], axis=1, dtype=np.uint8), expected)


@pytest.mark.parametrize("codec", sorted(CACHE_CODECS))
def test_every_codec_reads_back_the_same_indices(store, tmp_path, codec):
    ref = build_scalogram_cache(store, tmp_path / "ref.h5", CFG, codec="gzip-1")
    out = build_scalogram_cache(store, tmp_path / f"{codec}.h5", CFG, codec=codec, threads=2)
    rows = [7, 0, 3, 3, 9]
    with ChunkReader(ref) as a, ChunkReader(out, threads=2) as b:
        np.testing.assert_array_equal(a.read(rows), b.read(rows))
        np.testing.assert_array_equal(a.colormap, b.colormap)
        assert b.raw_chunks == (codec != "lzf")  # deflate (with or without shuffle) and zstd: raw chunks
    assert read_scalogram_attrs(out)["codec"] == codec
    with pytest.raises(ConfigError, match="unknown scalogram cache codec 'zip'"):
        build_scalogram_cache(store, tmp_path / "x.h5", CFG, codec="zip")


def test_an_old_rgb_cache_is_refused_by_every_reader(store, tmp_path):
    """A format-1 cache (uint8 RGB, no cache_format attribute) is named as such, with what to do."""
    new = build_scalogram_cache(store, tmp_path / "new.h5", CFG)
    old = tmp_path / "scalograms.h5"
    with h5py.File(new, "r") as f, h5py.File(old, "w") as g:
        for k, v in f.attrs.items():
            if k not in ("cache_format", "codec"):
                g.attrs[k] = v
        f.copy("table", g)
        with ChunkReader(new) as reader:
            rgb = reader.colormap[reader.read(np.arange(reader.n_images))]
        g.create_dataset("images", data=rgb, chunks=(1, 48, 48, 3), compression="gzip")
    msg = r"built by an older ecgcwt \(RGB images\); delete results/scalograms/ and rerun"
    for read in (read_scalogram_info, read_scalogram_attrs, read_scalogram_table, ChunkReader):
        with pytest.raises(DataError, match=msg):
            read(old)
    with pytest.raises(DataError, match=msg):
        write_gallery(old, tmp_path / "g.png")


def test_a_format_2_cache_is_refused_by_every_reader(store, tmp_path):
    """A format-2 cache (plain index images) is named as built by an older ecgcwt, with what to do."""
    old = build_scalogram_cache(store, tmp_path / "scalograms.h5", CFG, codec="gzip-1")
    with h5py.File(old, "a") as f:
        f.attrs["cache_format"] = 2
    msg = (
        r"has format 2 \(built by an older ecgcwt\), this ecgcwt reads format 4; "
        r"delete results/scalograms/ and rerun"
    )
    for read in (read_scalogram_info, read_scalogram_attrs, read_scalogram_table, ChunkReader):
        with pytest.raises(DataError, match=msg):
            read(old)
    with pytest.raises(DataError, match=msg):
        write_gallery(old, tmp_path / "g.png")
    with h5py.File(old, "a") as f:
        f.attrs["cache_format"] = CACHE_FORMAT
        f.attrs["codec"] = "zstd-22"
    with pytest.raises(DataError, match="has codec 'zstd-22', this ecgcwt reads gzip-1, gzip-4-shuffle, lzf, rowdelta"):
        ChunkReader(old)


def test_row_deltas_store_fewer_bytes_and_give_the_same_rgb_batch(store, tmp_path):
    plain = build_scalogram_cache(store, tmp_path / "plain.h5", CFG, codec="gzip-1")
    delta = build_scalogram_cache(store, tmp_path / "delta.h5", CFG, threads=2)
    assert read_scalogram_attrs(delta)["codec"] == DEFAULT_CODEC == "rowdelta-zstd-3"
    with h5py.File(plain, "r") as a, h5py.File(delta, "r") as b:
        assert b["images"].id.get_storage_size() < 0.95 * a["images"].id.get_storage_size()
    rows = [9, 0, 4, 4, 1]
    with ChunkReader(plain) as a, ChunkReader(delta, threads=2) as b:
        assert np.array_equal(a.colormap[a.read(rows)], b.colormap[b.read(rows)])  # RGB, bit for bit
    x = np.random.default_rng(0).integers(0, 256, (5, 7), dtype=np.uint8)
    assert np.array_equal(row_delta_decode(row_delta_encode(x)), x)  # exact, modulo 256


def test_build_reads_in_bounded_batches_and_honours_threads(store, tmp_path, monkeypatch):
    seen, threads_seen = [], []
    real = segment_store.iter_signal_batches

    def spy(path, batch_size, rows=None):
        for r, s in real(path, batch_size, rows):
            seen.append(len(r))
            yield r, s

    monkeypatch.setattr(ecgcwt.imaging.cache, "iter_signal_batches", spy)
    before = torch.get_num_threads()
    build_scalogram_cache(
        store,
        tmp_path / "scalograms.h5",
        CFG,
        batch_size=3,
        threads=1,
        progress=lambda done, total: threads_seen.append((done, total, torch.get_num_threads())),
    )
    assert seen == [3, 3, 3, 1]
    assert [d for d, _, _ in threads_seen] == [3, 6, 9, 10] and all(t == 10 for _, t, _ in threads_seen)
    assert all(th == 1 for _, _, th in threads_seen)
    assert torch.get_num_threads() == before
    # without the argument the configured batch size applies
    seen.clear()
    build_scalogram_cache(store, tmp_path / "again.h5", CFG)
    assert seen == [4, 4, 2]


def test_failure_leaves_no_file(store, tmp_path):
    target = tmp_path / "out" / "scalograms.h5"

    def boom(done, total):
        if done >= 4:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        build_scalogram_cache(store, target, CFG, progress=boom)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary file left behind either


def test_previous_cache_survives_a_failed_rebuild(store, tmp_path):
    target = tmp_path / "scalograms.h5"
    build_scalogram_cache(store, target, CFG)
    before = target.read_bytes()
    cfg = copy.deepcopy(CFG)
    cfg["image"]["mode"] = "gray3"
    with pytest.raises(RuntimeError):
        build_scalogram_cache(store, target, cfg, progress=lambda d, t: (_ for _ in ()).throw(RuntimeError("x")))
    assert target.read_bytes() == before


@pytest.mark.parametrize(
    "change, key",
    [
        ({"freq_limits": [20.0, 5.0]}, "cwt.freq_limits"),
        ({"freq_limits": [1.0, 100.0]}, "Nyquist"),
        ({"wavelet": "haar"}, "cwt.wavelet"),
        ({"voices_per_octave": 0}, "cwt.voices_per_octave"),
        ({"batch_size": 0}, "cwt.batch_size"),
        ({"colour": 3}, r"cwt: Additional properties are not allowed \('colour'"),
        ({"image": {"size": 48, "mode": "hot"}}, "cwt.image.mode"),
    ],
)
def test_bad_config_raises_config_error_naming_the_key(store, tmp_path, change, key):
    cfg = {**copy.deepcopy(CFG), **change}
    with pytest.raises(ConfigError, match=key):
        build_scalogram_cache(store, tmp_path / "x.h5", cfg)
    assert not (tmp_path / "x.h5").exists()


def test_explicit_frequency_limits_are_recorded(store, tmp_path):
    cfg = {**copy.deepcopy(CFG), "freq_limits": [0.5, 40.0]}
    a = read_scalogram_attrs(build_scalogram_cache(store, tmp_path / "s.h5", cfg))
    assert a["fmin_hz"] == 0.5 and a["fmax_hz"] == 40.0 and a["freq_limits_source"] == "config"
    assert a["frequencies"][0] == pytest.approx(40.0)


def test_gallery_png(store, tmp_path):
    sc = build_scalogram_cache(store, tmp_path / "scalograms.h5", CFG)
    png = write_gallery(sc, tmp_path / "fig" / "gallery.png", per_class=2, seed=1)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert [p.name for p in png.parent.iterdir()] == ["gallery.png"]


def test_cache_from_a_real_physionet_record(tmp_path):
    """mitdb/100 (360 Hz) -> 128 Hz polyphase -> 1024-sample windows -> segments.h5 -> scalograms.h5."""
    wfdb = pytest.importorskip("wfdb")
    from scipy.signal import resample_poly

    rec = PHYSIONET / "mitdb" / "100"
    if not rec.with_suffix(".hea").exists():
        pytest.skip(f"real PhysioNet records not found at {PHYSIONET} (see ../shared/data/physionet/README.md)")
    r = wfdb.rdrecord(str(rec), sampto=360 * 60)
    frac = Fraction(128, int(r.fs))
    x = resample_poly(r.p_signal[:, 0], frac.numerator, frac.denominator)
    windows = np.stack([x[i : i + 1024] for i in range(0, len(x) - 1023, 1024)]).astype(np.float32)
    n = len(windows)
    assert n == 7
    seg = tmp_path / "segments.h5"
    segment_store.write_segment_store(
        seg, windows, make_table(n, ["ARR"] * n), fs=128.0, window=1024, hop=1024, classes=CLASSES
    )
    cfg = {**copy.deepcopy(CFG), "image": {"size": 224, "mode": "jet", "colors": 128, "log": False}}
    out = build_scalogram_cache(seg, tmp_path / "scalograms.h5", cfg, threads=1)
    a = read_scalogram_attrs(out)
    assert a["n_images"] == n and a["fmax_hz"] == pytest.approx(0.4341 * 128, rel=1e-3)
    with ChunkReader(out) as reader:
        img = reader.colormap[reader.read([3])[0]]
    assert img.shape == (224, 224, 3)
    # real ECG at 224 px: the default codec's row deltas store at most 15 KB per image, a third less than gzip-1
    plain = build_scalogram_cache(seg, tmp_path / "plain.h5", cfg, threads=1, codec="gzip-1")
    with h5py.File(out, "r") as f, h5py.File(plain, "r") as g:
        stored, before = f["images"].id.get_storage_size(), g["images"].id.get_storage_size()
    assert stored / n <= 15e3 and stored < 0.75 * before, (stored / n, before / n)
    with ChunkReader(out) as a, ChunkReader(plain) as b:
        assert np.array_equal(a.colormap[a.read(np.arange(n))], b.colormap[b.read(np.arange(n))])
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 40  # a real scalogram uses much of the colour map
    # QRS complexes (~1 Hz, broadband) show as vertical bands: columns vary a lot more than rows' order
    assert img.std(axis=(0, 2)).max() > 5


def test_enospc_while_writing_the_cache_is_one_clear_error(store, tmp_path):
    """A full disk mid-write (injected after 4 batches): the error names scalograms.h5, nothing is left behind."""
    import errno

    from ecgcwt.errors import DiskFullError

    target = tmp_path / "out" / "scalograms.h5"

    def full(done, total):
        if done >= 4:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError, match=rf"{target}: no space left on the device while writing it"):
        build_scalogram_cache(store, target, CFG, batch_size=2, progress=full)
    assert list(target.parent.iterdir()) == []  # no final file, no temporary, no space reserve
