"""Baselines of issue 7: wavelet features + scikit-learn, and a 1D CNN, behind the fold runner's learner protocol.

The data is a tiny segment store built with the project's own path: synthetic
WFDB records of the three classes (:func:`ecgcwt.data.synthetic.generate_database`,
6 subjects per class, 32 s each), cut by :func:`ecgcwt.data.segmentation.segment_databases`
into windows of 512 samples at 128 Hz (lead 0 only: 8 windows per subject,
144 in all) and written with :func:`ecgcwt.data.segmentation.write_segments`. The
split is by subject, as the runner makes it: subjects 1-4 of each class train
(96 windows), subject 5 validates (24), subject 6 is the test set (24).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import pywt
import scipy.stats

from ecgcwt.data.segment_store import iter_signal_batches, read_table
from ecgcwt.data.segmentation import DatabaseSource, SegmentSpec, segment_databases, write_segments
from ecgcwt.data.synthetic import generate_database
from ecgcwt.errors import ConfigError, DataError
from ecgcwt.learn import build_learner
from ecgcwt.learn.baselines import BaselineConfigError
from ecgcwt.learn.baselines.cnn1d import Cnn1dLearner, load_cnn1d, predict_signals
from ecgcwt.learn.baselines.wavelet import (
    BAND_STATS,
    TIME_STATS,
    WaveletLearner,
    feature_names,
    load_wavelet_model,
    wavelet_features,
)
from ecgcwt.learn.baselines.wavelet import predict_signals as predict_wavelet
from ecgcwt.learn.runner import FoldData

DBS = {"mitdb": "ARR", "chfdb": "CHF", "nsrdb": "NSR"}
SPEC = SegmentSpec(fs=128, window=512, hop=512, max_per_recording=None, leads=[0], max_duration_s=None)
#: A few fast epochs: enough for the 1D CNN to separate the synthetic classes.
CNN_CFG = {
    "epochs": 6,
    "batch_size": 16,
    "lr": 3e-3,
    "patience": 6,
    "dropout": 0.3,
    "seed": 0,
    "augment": True,
    "optimizer": "adamw",
    "lr_schedule": "cosine",
}
#: Chance balanced accuracy is 1/3 (three balanced classes); the learners must reach 0.6 on the test subjects.
#: 24 test windows at chance would score 0.6 or more with probability < 0.5 % (binomial, p = 1/3); the
#: synthetic classes differ in rate, QRS width, T amplitude and P / f waves, so a working learner gets well
#: above it (measured: see the report of issue 7), while a broken one (labels shuffled, all one class) does not.
BEATS_CHANCE = 0.6


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("baselines")
    sources = []
    for db, label in DBS.items():
        generate_database(db, label, root / db, subjects=6, duration_s=32, seed=0)
        sources.append(DatabaseSource(db, root / db, label))
    signals, table, _, classes = segment_databases(sources, SPEC)
    path = root / "segments.h5"
    write_segments(path, signals, table, SPEC, classes)
    return path, signals, classes


def fold_data(store, *, train=("syn001", "syn002", "syn003", "syn004"), val=("syn005",), test=("syn006",)):
    path, _, classes = store
    table = read_table(path)
    record = table["record"].to_numpy()

    def rows(names):
        return np.flatnonzero(np.isin(record, list(names))).astype(np.int64)

    return FoldData(
        source=path,
        table=table,
        classes=list(classes),
        rows={"train": rows(train), "val": rows(val), "test": rows(test)},
        fold=0,
        seed=0,
    )


def balanced_accuracy(data: FoldData, probs: np.ndarray) -> float:
    y = data.table["label_index"].to_numpy()[data.rows["test"]]
    pred = probs.argmax(1)
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def test_store_is_what_the_tests_assume(store):
    data = fold_data(store)
    assert data.classes == ["ARR", "CHF", "NSR"]
    assert [len(data.rows[k]) for k in ("train", "val", "test")] == [96, 24, 24]
    assert store[1].shape == (144, 512)


# --------------------------------------------------------------------------- features


def test_feature_names_shape_and_finite(store):
    signals = store[1]
    feats = wavelet_features(signals[:10], "db4", 5)
    names = feature_names("db4", 5)
    assert feats.shape == (10, 6 * len(BAND_STATS) + len(TIME_STATS)) == (10, 55) == (10, len(names))
    assert feats.dtype == np.float64 and np.isfinite(feats).all()
    assert names[:2] == ["A5_mean_abs", "A5_std"] and names[8] == "D5_mean_abs" and names[-1] == "time_mean_abs_diff"
    assert len(set(names)) == len(names)
    # the level is capped at pywt.dwt_max_level: 64 samples allow 3 levels of db4 (filter length 8)
    assert pywt.dwt_max_level(64, 8) == 3
    assert wavelet_features(signals[:2, :64], "db4", 5).shape == (2, 4 * 8 + 7) == (2, len(feature_names("db4", 5, 64)))
    # one window is a batch of one
    np.testing.assert_array_equal(wavelet_features(signals[3], "db4", 5), feats[3:4])


def test_features_equal_a_direct_pywavelets_computation(store):
    # Golden values, made at test time by an independent route: PyWavelets' 1-D pywt.wavedec of this one
    # window (the learner runs the batched 2-D transform along axis -1), then each statistic written out with
    # numpy and scipy.stats (skew / kurtosis, biased, Fisher) as the module docstring defines it.
    x = store[1][17].astype(np.float64)
    coeffs = pywt.wavedec(x, "db4", mode="symmetric", level=5)
    assert len(coeffs) == 6
    total = sum(float(np.sum(c**2)) for c in coeffs)
    expected = []
    for c in coeffs:
        e = float(np.sum(c**2))
        p = c**2 / e
        p = p[p > 0]
        d = c - c.mean()
        expected += [
            np.mean(np.abs(c)),
            np.std(c),
            e / total,
            np.log(np.mean(c**2) + 1e-12),
            -np.sum(p * np.log(p)) / np.log(len(c)),
            scipy.stats.skew(c),
            scipy.stats.kurtosis(c),
            np.sum(np.signbit(d[1:]) != np.signbit(d[:-1])),
        ]
    d = x - x.mean()
    expected += [
        x.mean(),
        x.std(),
        np.ptp(x),
        scipy.stats.skew(x),
        scipy.stats.kurtosis(x),
        np.sum(np.signbit(d[1:]) != np.signbit(d[:-1])),
        np.mean(np.abs(np.diff(x))),
    ]
    got = wavelet_features(store[1][15:20], "db4", 5)[2]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_constant_window_has_all_energy_in_the_approximation():
    feats = wavelet_features(np.full((1, 256), 0.5, np.float32), "db4", 5)[0]
    f = dict(zip(feature_names("db4", 5, 256), feats))
    assert np.isfinite(feats).all()
    assert f["A5_rel_energy"] == pytest.approx(1.0, abs=1e-12) and f["D1_rel_energy"] == pytest.approx(0.0, abs=1e-12)
    assert f["time_std"] == 0 and f["time_skewness"] == 0 and f["time_zero_crossings"] == 0


# --------------------------------------------------------------------------- wavelet learner


@pytest.mark.parametrize("classifier", ["logistic_regression", "svm"])
def test_wavelet_learner_fits_predicts_saves(store, tmp_path, classifier):
    data = fold_data(store)
    logs: list[str] = []
    learner = WaveletLearner({"classifier": classifier}, seed=3, threads=1)
    t0 = time.perf_counter()
    history = learner.fit(data, tmp_path, logs.append)
    fit_s = time.perf_counter() - t0
    print(f"wavelet {classifier}: fit {fit_s:.2f} s")  # shown with pytest -s
    assert len(history) == 1 and history[0]["epoch"] == 1
    assert {"train_acc", "val_acc", "val_balanced_acc", "seconds"} <= set(history[0])
    assert 0 <= history[0]["val_balanced_acc"] <= 1 and logs
    probs = learner.predict_proba(data, data.rows["test"])
    assert probs.shape == (24, 3) and probs.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    assert balanced_accuracy(data, probs) >= BEATS_CHANCE
    assert learner.predict_proba(data, np.empty(0, np.int64)).shape == (0, 3)  # fold "all": no test rows
    facts = learner.describe()
    assert facts["n_features"] == 55 and facts["classifier"] == classifier and facts["level"] == 5
    json.dumps(facts, allow_nan=False)  # goes into metrics.json as it is

    # deterministic with the seed
    again = WaveletLearner({"classifier": classifier}, seed=3, threads=1)
    again.fit(data, tmp_path, lambda s: None)
    np.testing.assert_array_equal(again.predict_proba(data, data.rows["test"]), probs)

    # saved atomically, reloaded to the same predictions
    path = tmp_path / learner.model_file
    learner.save(path, data)
    assert path.name == "model.joblib" and sorted(p.name for p in tmp_path.iterdir()) == ["model.joblib"]
    model, meta = load_wavelet_model(path)
    assert meta["kind"] == "wavelet" and meta["classes"] == ["ARR", "CHF", "NSR"] and meta["window"] == 512
    test_signals = np.concatenate([s for _, s in iter_signal_batches(data.source, 7, data.rows["test"])])
    np.testing.assert_array_equal(predict_wavelet(model, meta, test_signals), probs)
    # model.joblib classifies raw windows by itself: the wavelet features are the pipeline's first step
    np.testing.assert_array_equal(model.predict_proba(test_signals), probs)
    assert list(model.named_steps["features"].get_feature_names_out()) == feature_names("db4", 5)


def test_wavelet_spec_errors():
    with pytest.raises(ValueError, match="unknown classifier 'random_forest'; allowed: logistic_regression, svm"):
        WaveletLearner({"classifier": "random_forest"})
    with pytest.raises(ValueError, match="not a discrete wavelet"):
        WaveletLearner({"wavelet": "morl"})  # continuous only
    with pytest.raises(ValueError, match="level must be an integer >= 1"):
        WaveletLearner({"level": 0})
    with pytest.raises(ValueError, match="C must be a positive number"):
        WaveletLearner({"C": -1})
    with pytest.raises(BaselineConfigError, match="unknown setting"):
        WaveletLearner({"levels": 4})
    with pytest.raises(ConfigError, match="unknown model kind 'rf'; one of cnn2d, cnn1d, wavelet"):
        build_learner({"kind": "rf"})


@pytest.mark.parametrize("kind", ["wavelet", "cnn1d"])
def test_empty_training_rows_is_a_clear_error(store, tmp_path, kind):
    data = fold_data(store, train=())
    learner = build_learner(
        {"kind": kind, "training": {"epochs": 1}} if kind == "cnn1d" else {"kind": kind}, device="cpu"
    )
    with pytest.raises(DataError, match=rf"{kind} fold 0: no training windows \(data.rows\['train'\] is empty\)"):
        learner.fit(data, tmp_path, lambda s: None)
    with pytest.raises(RuntimeError, match="call fit"):
        learner.predict_proba(data, data.rows["test"])


# --------------------------------------------------------------------------- 1D CNN


def test_cnn1d_learner_fits_predicts_saves(store, tmp_path):
    data = fold_data(store)
    logs: list[str] = []
    learner = Cnn1dLearner(CNN_CFG, device="cpu", threads=1)
    t0 = time.perf_counter()
    history = learner.fit(data, tmp_path, logs.append)
    fit_s = time.perf_counter() - t0
    print(f"cnn1d: fit {fit_s:.2f} s for {len(history)} epochs")  # shown with pytest -s
    keys = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_balanced_acc", "lr", "seconds"]
    assert [list(r) for r in history] == [keys] * len(history)
    assert [r["epoch"] for r in history] == list(range(1, len(history) + 1))
    facts = learner.describe()
    best = min(history, key=lambda r: r["val_loss"])
    assert facts["best_epoch"] == best["epoch"] and facts["device"] == "cpu"
    assert facts["params"]["epochs"] == CNN_CFG["epochs"] and facts["n_params"] == 148_115
    assert facts["class_balance"] == "sampler" and any("class balance sampler" in line for line in logs)
    json.dumps(facts, allow_nan=False)  # goes into metrics.json as it is

    probs = learner.predict_proba(data, data.rows["test"])
    assert probs.shape == (24, 3) and probs.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    assert balanced_accuracy(data, probs) >= BEATS_CHANCE
    assert learner.predict_proba(data, np.empty(0, np.int64)).shape == (0, 3)  # fold "all": no test rows

    # the same seed on the same CPU and thread count gives the same network
    again = Cnn1dLearner(CNN_CFG, device="cpu", threads=1)
    again.fit(data, tmp_path, lambda s: None)
    np.testing.assert_array_equal(again.predict_proba(data, data.rows["test"]), probs)

    # saved atomically, reloaded (weights_only) to the same predictions
    path = tmp_path / learner.model_file
    learner.save(path, data)
    assert path.name == "model.pt" and sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    model, meta = load_cnn1d(path)
    assert meta["kind"] == "cnn1d" and meta["classes"] == ["ARR", "CHF", "NSR"]
    assert (meta["window"], meta["fs"]) == (512, 128.0) and meta["config"]["seed"] == 0
    assert meta["arch"]["channels"] == [16, 32, 64, 96, 128] and meta["best_epoch"] == facts["best_epoch"]
    test_signals = np.concatenate([s for _, s in iter_signal_batches(data.source, 5, data.rows["test"])])
    assert meta["temperature"] == facts["temperature"] > 0  # probabilities are softmax(logits / T)
    np.testing.assert_array_equal(predict_signals(model, test_signals, temperature=meta["temperature"]), probs)


def early_stopping_rule(val_losses: list[float], patience: int) -> tuple[int, int, bool]:
    """(epochs run, best epoch, stopped early) of the rule "stop after ``patience`` epochs without a lower
    validation loss", replayed on a run's validation losses, written out independently of the learner."""
    best, best_epoch, since = float("inf"), 0, 0
    for epoch, loss in enumerate(val_losses, start=1):
        if loss < best:
            best, best_epoch, since = loss, epoch, 0
        else:
            since += 1
            if since >= patience:
                return epoch, best_epoch, True
    return len(val_losses), best_epoch, False


def test_cnn1d_without_validation_keeps_the_last_epoch(store, tmp_path):
    data = fold_data(store, val=())
    learner = Cnn1dLearner({**CNN_CFG, "epochs": 2}, device="cpu", threads=1)
    history = learner.fit(data, tmp_path, lambda s: None)
    assert len(history) == 2 and all(np.isnan(r["val_loss"]) for r in history)
    facts = learner.describe()
    assert facts["best_epoch"] == 2 and not facts["stopped_early"] and facts["early_stopping_monitor"] is None


def test_cnn1d_stops_early_on_validation_loss_and_keeps_the_best_epoch(store, tmp_path):
    # lr 1.0 wrecks the network after the first epoch (measured: the validation loss jumps to ~23 and stays
    # there), so with patience 1 training stops at epoch 2 and keeps epoch 1's weights
    data = fold_data(store)
    # (calibrate none: the probabilities checked below are then the network's own, as in the history)
    cfg = {**CNN_CFG, "epochs": 6, "patience": 1, "lr": 1.0, "augment": False, "calibrate": "none"}
    learner = Cnn1dLearner(cfg, device="cpu", threads=1)
    logs: list[str] = []
    history = learner.fit(data, tmp_path, logs.append)
    facts = learner.describe()
    assert facts["stopped_early"] and len(history) < 6 and any("early stop" in line for line in logs)
    assert (facts["epochs_run"], facts["best_epoch"], facts["stopped_early"]) == early_stopping_rule(
        [r["val_loss"] for r in history], patience=1
    )
    # the weights kept are the best epoch's: their validation loss is the best one in the history
    val_probs = learner.predict_proba(data, data.rows["val"])
    y = data.table["label_index"].to_numpy()[data.rows["val"]]
    loss = -np.mean(np.log(np.clip(val_probs[np.arange(len(y)), y], 1e-15, 1)))
    assert loss == pytest.approx(history[facts["best_epoch"] - 1]["val_loss"], rel=1e-6)


#: Trains the 1D CNN in a child process that the test kills: the fold's rows come in an .npz, and each
#: epoch ends with a pause (after its checkpoint), so the kill lands between two epochs of a run in progress.
KILLED_CHILD = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from ecgcwt.data.segment_store import read_table
from ecgcwt.learn.baselines.cnn1d import Cnn1dLearner
from ecgcwt.learn.runner import FoldData
store, rows, out, cfg = Path(sys.argv[1]), np.load(sys.argv[2]), Path(sys.argv[3]), json.loads(sys.argv[4])
data = FoldData(store, read_table(store), json.loads(sys.argv[5]), {k: rows[k] for k in rows.files}, 0, 0)
learner = Cnn1dLearner(cfg, device="cpu", threads=1, on_epoch_end=lambda row: time.sleep(1.0))
learner.fit(data, out, print)
learner.save(out / learner.model_file, data)
"""


def test_cnn1d_killed_mid_training_resumes_to_the_identical_model_file(store, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import ecgcwt

    data = fold_data(store)
    cfg = {**CNN_CFG, "epochs": 4, "checkpoint_interval_s": 0}
    reference = Cnn1dLearner(cfg, device="cpu", threads=1)
    reference.fit(data, tmp_path / "reference", lambda s: None)
    reference.save(tmp_path / "reference" / "model.pt", data)

    run = tmp_path / "killed"
    np.savez(tmp_path / "rows.npz", **data.rows)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(ecgcwt.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    args = [str(data.source), str(tmp_path / "rows.npz"), str(run), json.dumps(cfg), json.dumps(data.classes)]
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, *args], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (run / "checkpoint.pt").exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL, "the child ended before its first checkpoint: nothing was killed"
    assert (run / "checkpoint.pt").exists() and not (run / "model.pt").exists()

    messages: list[str] = []
    resumed = Cnn1dLearner(cfg, device="cpu", threads=1)
    history = resumed.fit(data, run, messages.append)
    resumed.save(run / "model.pt", data)
    assert any(m.startswith(f"resuming from {run / 'checkpoint.pt'} after epoch") for m in messages)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert sorted(p.name for p in run.iterdir()) == ["model.pt"]  # the checkpoint goes once the model is saved
    assert (run / "model.pt").read_bytes() == (tmp_path / "reference" / "model.pt").read_bytes()


def test_cnn1d_bad_config_names_the_key():
    with pytest.raises(ConfigError, match="training.optimizer"):
        Cnn1dLearner({"optimizer": "lbfgs"})


# --------------------------------------------------------------------------- real records


def test_wavelet_features_of_real_mitdb_windows_are_finite(physionet_dir):
    # one real MIT-BIH record, cut as the workflow cuts it (128 Hz, 1024-sample windows, 10 per lead)
    sources = [DatabaseSource("mitdb", physionet_dir / "mitdb", "ARR", ["100"])]
    signals, table, _, _ = segment_databases(sources, SegmentSpec())
    assert signals.shape == (20, 1024)
    feats = wavelet_features(signals, "db4", 5)
    assert feats.shape == (20, 55) and np.isfinite(feats).all()
    # real windows carry energy in every sub-band
    f = dict(zip(feature_names("db4", 5), feats.T))
    assert all((f[f"{b}_rel_energy"] > 0).all() for b in ("A5", "D5", "D4", "D3", "D2", "D1"))


def test_cnn1d_class_balance_loss_weights_the_classes(store, tmp_path):
    data = fold_data(store, train=("syn001", "syn002", "syn003"))
    keep = data.rows["train"]
    labels = data.table["label_index"].to_numpy()[keep]
    data.rows["train"] = np.concatenate([keep[labels != 1], keep[labels == 1][:4]])  # 4 CHF windows, 24 each other
    logs: list[str] = []
    learner = Cnn1dLearner({**CNN_CFG, "epochs": 1, "class_balance": "loss"}, device="cpu", threads=1)
    learner.fit(data, tmp_path, logs.append)
    assert learner.describe()["class_balance"] == "loss"
    # n / (k * n_c): 52 windows, 3 classes
    assert any(f"loss weights {[round(52 / 72, 3), round(52 / 12, 3), round(52 / 72, 3)]}" in line for line in logs)


@pytest.mark.parametrize("budget_mb", [0.07, 0.0])
def test_cnn1d_over_its_memory_budget_reads_blocks_and_trains_the_same_network(store, tmp_path, budget_mb):
    """96 training windows of 512 samples are 0.2 MB as float32: over a 0.07 MB budget they are read in
    blocks of 2 batches of 16 (0 MB: one batch at a time), giving the probabilities of the in-memory fit."""
    data = fold_data(store)
    cfg = {**CNN_CFG, "epochs": 2}
    logs: list[str] = []
    whole = Cnn1dLearner(cfg, device="cpu", threads=1)
    whole.fit(data, tmp_path, logs.append)
    blocks = Cnn1dLearner({**cfg, "memory_budget_mb": budget_mb}, device="cpu", threads=1)
    blocks.fit(data, tmp_path, logs.append)
    assert whole.describe()["signals_in_memory"] and not blocks.describe()["signals_in_memory"]
    assert any(f"over training.memory_budget_mb {budget_mb}" in line for line in logs)
    np.testing.assert_array_equal(
        blocks.predict_proba(data, data.rows["test"]), whole.predict_proba(data, data.rows["test"])
    )
    assert blocks.describe()["temperature"] == whole.describe()["temperature"]
