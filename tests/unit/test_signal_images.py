"""Training images computed per batch (signal augmentation): the cache's images when nothing is augmented,
seeded batches when something is, and a cnn2d job that trains on them reproducibly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ecgcwt.data import DatabaseSource, SegmentSpec, assign_folds, segment_databases, write_segments
from ecgcwt.data.synthetic import generate_database
from ecgcwt.errors import ConfigError, DataError
from ecgcwt.imaging import ChunkReader, build_scalogram_cache, read_scalogram_info, read_scalogram_table
from ecgcwt.learn.augment import SIGNAL_AUGMENTATIONS, augment_settings
from ecgcwt.learn.cnn2d.feeding import BatchFeeder, InMemoryImages
from ecgcwt.learn.cnn2d.learner import train_fold
from ecgcwt.learn.cnn2d.signal_images import SignalImageFeeder

from ..conftest import require_physionet

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
EVERY = {name: {"p": 0.5} for name in SIGNAL_AUGMENTATIONS}
NONE = {name: {"p": 0.0} for name in SIGNAL_AUGMENTATIONS}


@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    """Real windows (mitdb 100, chfdb chf02, nsrdb 16483; first lead; 128 Hz x 1024) in a segment store."""
    root = require_physionet()
    d = tmp_path_factory.mktemp("real")
    sources = [
        DatabaseSource("mitdb", root / "mitdb", "ARR", ["100"]),
        DatabaseSource("chfdb", root / "chfdb", "CHF", ["chf02"]),
        DatabaseSource("nsrdb", root / "nsrdb", "NSR", ["16483"]),
    ]
    spec = SegmentSpec(max_per_recording=4, leads=[0])
    signals, table, _, classes = segment_databases(sources, spec)
    write_segments(d / "segments.h5", signals, table, spec, classes)
    return d


CWT_SETTINGS = {
    "morse_jet_224": {},
    "amor_log_gray": {"wavelet": "amor", "voices_per_octave": 10, "image": {"size": 96, "mode": "gray3", "log": True}},
}


def feeder_of(cache, rows) -> BatchFeeder:
    reader = ChunkReader(cache)
    return BatchFeeder(InMemoryImages(reader, rows), "cpu", MEAN, STD, channels_last=True)


def signal_feeder(store, cache, rows, augment, seed=0) -> SignalImageFeeder:
    info = read_scalogram_info(cache)
    return SignalImageFeeder(
        store / "segments.h5",
        info.attrs,
        read_scalogram_table(cache),
        rows,
        feeder_of(cache, rows),
        augment_settings(augment),
        seed,
        cache_path=cache,
    )


@pytest.mark.parametrize("name", list(CWT_SETTINGS))
def test_without_augmentation_the_images_are_the_cached_ones(real_store, tmp_path, name):
    cache = tmp_path / "scalograms.h5"
    build_scalogram_cache(real_store / "segments.h5", cache, CWT_SETTINGS[name])
    n = read_scalogram_info(cache).n_images
    rows = np.arange(n)
    order = np.random.default_rng(0).permutation(rows)  # any order, batches of 5
    batches = [order[i : i + 5] for i in range(0, n, 5)]
    made = signal_feeder(real_store, cache, rows, NONE)
    # the index images themselves: the cache's, pixel for pixel
    reader = ChunkReader(cache)
    plan = made.epoch(0, order).plan
    for i, b in enumerate(batches):
        computed = made.indices(b, plan[5 * i : 5 * i + len(b)]).numpy()
        np.testing.assert_array_equal(computed, reader.read(b))
    # and the model's float input, through the same colour map and normalisation
    cached = torch.cat(list(feeder_of(cache, rows).batches(batches)))
    fresh = torch.cat(list(made.epoch(0, order).batches(batches)))
    assert fresh.shape == cached.shape and fresh.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fresh, cached, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def real_cache(real_store):
    cache = real_store / "scalograms.h5"
    build_scalogram_cache(real_store / "segments.h5", cache, {"image": {"size": 64}})
    return cache


def test_augmented_batches_are_seeded_by_seed_and_epoch(real_store, real_cache):
    n = read_scalogram_info(real_cache).n_images
    rows = np.arange(n)
    order = np.random.default_rng(1).permutation(rows)
    batches = [order[:6], order[6:]]

    def epoch(seed, e):
        return torch.cat(
            list(signal_feeder(real_store, real_cache, rows, EVERY, seed).epoch(e, order).batches(batches))
        )

    first = epoch(0, 3)
    torch.testing.assert_close(first, epoch(0, 3), rtol=0, atol=0)  # two runs: identical batches
    assert not torch.equal(first, epoch(0, 4)) and not torch.equal(first, epoch(1, 3))
    cached = torch.cat(list(feeder_of(real_cache, rows).batches(batches)))
    assert not torch.equal(first, cached)
    # batches must follow the epoch's order
    with pytest.raises(ValueError, match="epoch's order"):
        list(signal_feeder(real_store, real_cache, rows, EVERY).epoch(0, order).batches([order[1:3]]))


def test_a_store_that_did_not_make_the_cache_is_named(real_store, real_cache, tmp_path):
    from ecgcwt.data import read_table

    table = read_table(real_store / "segments.h5")
    spec = SegmentSpec(max_per_recording=4, leads=[0])
    other = tmp_path / "other.h5"
    signals = np.zeros((len(table), 1024), np.float32)
    write_segments(other, signals, table.assign(subject=table["subject"] + "x"), spec, ["ARR", "CHF", "NSR"])
    info = read_scalogram_info(real_cache)
    with pytest.raises(DataError, match=r"other.h5.*does not hold the windows of the scalogram cache.*scalograms.h5"):
        SignalImageFeeder(
            other,
            info.attrs,
            read_scalogram_table(real_cache),
            [0],
            feeder_of(real_cache, [0]),
            augment_settings(EVERY),
            0,
            cache_path=real_cache,
        )
    with pytest.raises(DataError, match=r"missing.h5.*does not exist.*segment step"):
        SignalImageFeeder(
            tmp_path / "missing.h5",
            info.attrs,
            read_scalogram_table(real_cache),
            [0],
            feeder_of(real_cache, [0]),
            augment_settings(EVERY),
            0,
        )


# --------------------------------------------------------------------------- a cnn2d job


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A small synthetic segment store (4 subjects per class), its 32-px cache and 4 folds."""
    d = tmp_path_factory.mktemp("synthetic")
    sources = []
    for db, label in {"mitdb": "ARR", "chfdb": "CHF", "nsrdb": "NSR"}.items():
        generate_database(db, label, d / db, subjects=4, duration_s=16, seed=0)
        sources.append(DatabaseSource(db, d / db, label))
    spec = SegmentSpec(fs=128, window=512, hop=512, max_per_recording=None, leads=[0], max_duration_s=None)
    signals, table, _, classes = segment_databases(sources, spec)
    write_segments(d / "segments.h5", signals, table, spec, classes)
    build_scalogram_cache(d / "segments.h5", d / "scalograms.h5", {"image": {"size": 32}})
    assign_folds(table, 4, seed=0).to_csv(d / "folds.csv", index=False)
    return d


CFG = {"pretrained": "none", "epochs": 2, "batch_size": 8, "lr": 1e-3, "seed": 0, "calibrate": "none"}


def train(d, out, augment, segments=True):
    return train_fold(
        d / "scalograms.h5",
        d / "folds.csv",
        backbone="squeezenet1_1",
        fold=1,
        cfg={**CFG, "augment": augment},
        out_dir=out,
        threads=2,
        log=lambda s: None,
        segments_h5=d / "segments.h5" if segments else None,
    )


def test_a_cnn2d_job_trains_on_augmented_images_reproducibly(synthetic, tmp_path):
    metrics = train(synthetic, tmp_path / "a", {**EVERY, "shift": True})
    assert metrics["learner"]["images"].endswith("+signal")
    train(synthetic, tmp_path / "b", {**EVERY, "shift": True})
    train(synthetic, tmp_path / "plain", {"shift": True})
    history = {k: pd.read_csv(tmp_path / k / "history.csv") for k in ("a", "b", "plain")}
    predictions = {k: pd.read_csv(tmp_path / k / "predictions.csv") for k in ("a", "b", "plain")}
    pd.testing.assert_series_equal(history["a"]["train_loss"], history["b"]["train_loss"])
    pd.testing.assert_frame_equal(predictions["a"], predictions["b"])
    assert not history["a"]["train_loss"].equals(history["plain"]["train_loss"])  # the windows were augmented


def test_signal_augmentation_without_the_segments_is_a_clear_error(synthetic, tmp_path):
    with pytest.raises(ConfigError, match=r"training.augment.*segment"):
        train(synthetic, tmp_path, EVERY, segments=False)
