"""Training one fold: subject split, outputs, reproducibility, checkpoint/resume, early stopping.

Runs on a tiny synthetic scalogram cache (32 px, 72 images, 12 subjects) whose
classes differ by a bright horizontal band, so that a small CNN learns it in
two epochs; backbones are built with ``weights=None`` and 2 threads.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from ecgcwt.apply.model_file import predict_scalograms
from ecgcwt.data import segment_store
from ecgcwt.data.folds import read_folds
from ecgcwt.errors import ConfigError, DataError
from ecgcwt.imaging import CACHE_FORMAT, image_colormap
from ecgcwt.learn.cnn2d.backbones import build_model
from ecgcwt.learn.cnn2d.learner import (
    HISTORY_COLUMNS,
    TrainingInterrupted,
    resolve_precision,
    resolve_training_config,
    split_subjects,
    train_fold,
)
from tests.conftest import finish_test_cache

CLASSES = ("ARR", "CHF", "NSR")
BASE_CFG = {"pretrained": "none", "epochs": 2, "batch_size": 16, "lr": 1e-3, "patience": 3, "seed": 0}
QUIET = lambda msg: None  # noqa: E731


def make_cache(h5_path, folds_path, size=32, subjects_per_class=4, leads=2, windows=3, k=4, seed=0):
    """Scalogram cache in the contract format + folds.csv; class c has a bright band in rows c*size/3.."""
    rng = np.random.default_rng(seed)
    rows, images, fold_rows = [], [], []
    for ci, c in enumerate(CLASSES):
        for s in range(subjects_per_class):
            subject = f"db{ci}/{s}"
            fold_rows.append({"subject": subject, "label": c, "fold": s % k})
            for lead in range(leads):
                for w in range(windows):
                    img = rng.integers(0, 60, (size, size))  # grey colour indices
                    img[ci * size // 3 : (ci + 1) * size // 3] += 150
                    images.append(img.astype(np.uint8))
                    rows.append(
                        {
                            "segment": len(rows),
                            "db": f"db{ci}",
                            "record": str(s),
                            "subject": subject,
                            "recording": f"{subject}/{lead}",
                            "lead": lead,
                            "lead_name": f"L{lead}",
                            "start": w * 1024,
                            "label": c,
                            "label_index": ci,
                        }
                    )
    with h5py.File(h5_path, "w") as f:
        f.create_dataset("images", data=np.stack(images), chunks=(1, size, size), compression="gzip")
        f.create_dataset("colormap", data=image_colormap("gray3"))
        f.attrs["cache_format"] = CACHE_FORMAT
        segment_store.write_table_group(f.create_group("table"), pd.DataFrame(rows))
        f.attrs["classes"] = np.array(CLASSES, dtype=object)
        f.attrs["image_size"] = size
        f.attrs["wavelet"] = "morse"
        f.attrs["frequencies"] = np.linspace(40.0, 0.5, size)
        finish_test_cache(f, mode="gray3", colors=256)
    pd.DataFrame(fold_rows).to_csv(folds_path, index=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    make_cache(d / "scalograms.h5", d / "folds.csv")
    before = torch.get_num_threads()
    yield d / "scalograms.h5", d / "folds.csv"
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def reference_run(data, tmp_path_factory):
    """An uninterrupted squeezenet run on fold 1, shared by several tests."""
    out = tmp_path_factory.mktemp("ref")
    metrics = train_fold(*data, backbone="squeezenet1_1", fold=1, cfg=BASE_CFG, out_dir=out, threads=2, log=QUIET)
    return out, metrics


def without_timing(history: pd.DataFrame) -> pd.DataFrame:
    return history.drop(columns=["seconds", "images_per_s"])


def test_split_is_grouped_stratified_and_seeded(data):
    folds = read_folds(data[1])
    split = split_subjects(folds, 1, 0.2, seed=0)
    assert split.test == ["db0/1", "db1/1", "db2/1"]
    assert not set(split.train) & set(split.val) and not (set(split.train) | set(split.val)) & set(split.test)
    labels = folds.set_index("subject")["label"]
    assert sorted(labels[split.val]) == ["ARR", "CHF", "NSR"]  # one per class: 3 training subjects each
    assert len(split.train) == 6
    assert split_subjects(folds, 1, 0.2, seed=0) == split
    everything = split_subjects(folds, "all", 0.2, seed=0)
    assert everything.test == [] and len(everything.train) + len(everything.val) == 12
    assert split_subjects(folds, 1, 0.0, seed=0).val == []
    with pytest.raises(ConfigError, match="fold 9"):
        split_subjects(folds, 9, 0.2, seed=0)


def test_outputs_of_a_fold(reference_run, data):
    out, metrics = reference_run
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "metrics.json", "model.pt", "predictions.csv"]
    history = pd.read_csv(out / "history.csv")
    assert list(history.columns) == HISTORY_COLUMNS and history["epoch"].tolist() == [1, 2]
    preds = pd.read_csv(out / "predictions.csv", dtype={"subject": str, "record": str})
    assert list(preds.columns[:10]) == [
        "segment",
        "db",
        "record",
        "subject",
        "recording",
        "lead",
        "label",
        "label_index",
        "pred_index",
        "pred_label",
    ]
    assert [c for c in preds.columns if c.startswith("prob_")] == [f"prob_{c}" for c in CLASSES] + [
        f"prob_raw_{c}" for c in CLASSES
    ]
    assert sorted(preds["subject"].unique()) == ["db0/1", "db1/1", "db2/1"] and len(preds) == 18
    assert np.allclose(preds[[f"prob_{c}" for c in CLASSES]].sum(axis=1), 1, atol=1e-5)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["n_subjects"] == {"train": 6, "val": 3, "test": 3}
    assert saved["n_segments"] == {"train": 36, "val": 18, "test": 18}
    assert saved["levels"]["recording"]["n"] == 6 and saved["levels"]["segment"]["n"] == 18
    assert 1 <= saved["learner"]["best_epoch"] <= 2 and saved["learner"]["early_stopping_monitor"] == "val_loss"
    model = torch.load(out / "model.pt", weights_only=True)
    assert model["meta"]["backbone"] == "squeezenet1_1" and model["meta"]["classes"] == list(CLASSES)
    assert model["meta"]["image_size"] == [32, 32] and len(model["meta"]["mean"]) == 3


def test_same_config_twice_gives_identical_results(reference_run, data, tmp_path):
    out, _ = reference_run
    train_fold(*data, backbone="squeezenet1_1", fold=1, cfg=BASE_CFG, out_dir=tmp_path, threads=2, log=QUIET)
    pd.testing.assert_frame_equal(
        without_timing(pd.read_csv(out / "history.csv")), without_timing(pd.read_csv(tmp_path / "history.csv"))
    )
    pd.testing.assert_frame_equal(pd.read_csv(out / "predictions.csv"), pd.read_csv(tmp_path / "predictions.csv"))


def test_resume_after_interruption_matches_uninterrupted_run(reference_run, data, tmp_path):
    out, _ = reference_run

    def stop_after_first(row):
        if row["epoch"] == 1:
            raise TrainingInterrupted

    every_epoch = {**BASE_CFG, "checkpoint_interval_s": 0}
    with pytest.raises(TrainingInterrupted):
        train_fold(
            *data,
            backbone="squeezenet1_1",
            fold=1,
            cfg=every_epoch,
            out_dir=tmp_path,
            threads=2,
            log=QUIET,
            on_epoch_end=stop_after_first,
        )
    assert (tmp_path / "checkpoint.pt").exists() and not (tmp_path / "model.pt").exists()
    messages = []
    train_fold(
        *data, backbone="squeezenet1_1", fold=1, cfg=every_epoch, out_dir=tmp_path, threads=2, log=messages.append
    )
    assert any("resuming" in m and "epoch 1" in m for m in messages)
    assert not (tmp_path / "checkpoint.pt").exists()  # removed once the outputs are complete
    pd.testing.assert_frame_equal(
        without_timing(pd.read_csv(out / "history.csv")), without_timing(pd.read_csv(tmp_path / "history.csv"))
    )
    pd.testing.assert_frame_equal(pd.read_csv(out / "predictions.csv"), pd.read_csv(tmp_path / "predictions.csv"))


def test_changed_config_does_not_resume(data, tmp_path):
    def stop(row):
        raise TrainingInterrupted

    cfg1 = {**BASE_CFG, "epochs": 2, "checkpoint_interval_s": 0}
    with pytest.raises(TrainingInterrupted):
        train_fold(
            *data, backbone="squeezenet1_1", fold=0, cfg=cfg1, out_dir=tmp_path, threads=2, log=QUIET, on_epoch_end=stop
        )
    messages = []
    train_fold(
        *data,
        backbone="squeezenet1_1",
        fold=0,
        cfg={**cfg1, "lr": 5e-4},
        out_dir=tmp_path,
        threads=2,
        log=messages.append,
    )
    assert any("starting over" in m for m in messages) and not any("resuming" in m for m in messages)


def test_resnet18_learns_and_saved_model_predicts_the_same(data, tmp_path):
    metrics = train_fold(*data, backbone="resnet18", fold=2, cfg=BASE_CFG, out_dir=tmp_path, threads=2, log=QUIET)
    assert metrics["levels"]["recording"]["balanced_accuracy"] >= 2 / 3  # chance is 1/3
    preds = pd.read_csv(tmp_path / "predictions.csv")
    again = predict_scalograms(tmp_path / "model.pt", data[0], rows=preds["segment"].to_numpy(), threads=2)
    assert again["pred_index"].tolist() == preds["pred_index"].tolist()
    np.testing.assert_allclose(
        again[[f"prob_{c}" for c in CLASSES]].to_numpy(), preds[[f"prob_{c}" for c in CLASSES]].to_numpy(), atol=1e-5
    )


def test_fold_all_linear_probe_trains_only_the_head(data, tmp_path):
    cfg = {**BASE_CFG, "epochs": 1, "strategy": "linear_probe"}
    metrics = train_fold(*data, backbone="squeezenet1_1", fold="all", cfg=cfg, out_dir=tmp_path, threads=2, log=QUIET)
    assert not (tmp_path / "predictions.csv").exists() and "levels" not in metrics
    assert metrics["n_subjects"]["test"] == 0 and metrics["n_subjects"]["train"] + metrics["n_subjects"]["val"] == 12
    torch.manual_seed(0)  # train_fold seeds with training.seed before building the model
    initial = build_model("squeezenet1_1", 3, pretrained="none", strategy="linear_probe").model.state_dict()
    trained = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    assert torch.equal(trained["features.0.weight"], initial["features.0.weight"])
    assert not torch.equal(trained["classifier.1.weight"], initial["classifier.1.weight"])


def test_early_stopping_keeps_the_best_epoch(data, tmp_path):
    # a learning rate far too high makes the validation loss rise after the first epochs
    cfg = {**BASE_CFG, "epochs": 8, "patience": 1, "lr": 0.05, "lr_schedule": "constant"}
    metrics = train_fold(*data, backbone="squeezenet1_1", fold=3, cfg=cfg, out_dir=tmp_path, threads=2, log=QUIET)
    history = pd.read_csv(tmp_path / "history.csv")
    facts = metrics["learner"]
    assert facts["stopped_early"] and facts["epochs_run"] < 8
    assert facts["best_epoch"] == int(history.loc[history["val_loss"].idxmin(), "epoch"])
    assert facts["epochs_run"] == facts["best_epoch"] + 1  # patience 1


def test_config_validation():
    assert resolve_training_config({})["dropout"] == 0.6
    with pytest.raises(ConfigError, match=r"training: Additional properties are not allowed \('learning_rate'"):
        resolve_training_config({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="training.optimizer"):
        resolve_training_config({"optimizer": "adam"})
    with pytest.raises(ConfigError, match="training.val_fraction"):
        resolve_training_config({"val_fraction": 1.0})


def test_subjects_missing_from_folds(data, tmp_path):
    folds = pd.read_csv(data[1])
    folds.iloc[1:].to_csv(tmp_path / "folds.csv", index=False)
    with pytest.raises(DataError, match="not in"):
        train_fold(
            data[0],
            tmp_path / "folds.csv",
            backbone="squeezenet1_1",
            fold=0,
            cfg=BASE_CFG,
            out_dir=tmp_path / "out",
            log=QUIET,
        )


def test_precision_choice(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu, "resnet18") is None
    assert resolve_precision("bf16", cpu, "resnet18") == torch.bfloat16
    monkeypatch.setattr("ecgcwt.learn.cnn2d.numerics.cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", cpu, "resnet18") == torch.bfloat16
    assert resolve_precision("auto", cpu, "mobilenet_v3_small") is None  # measured slower in bf16
    monkeypatch.setattr("ecgcwt.learn.cnn2d.numerics.cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", cpu, "resnet18") is None


def test_last_training_batch_of_one_is_dropped(data, tmp_path):
    # 36 training images in batches of 35 would leave a batch of one, which batch norm over
    # resnet18's 1x1 final feature maps (32 px input) cannot train on
    cfg = {**BASE_CFG, "epochs": 1, "batch_size": 35}
    train_fold(*data, backbone="resnet18", fold=1, cfg=cfg, out_dir=tmp_path, threads=2, log=QUIET)
    assert pd.read_csv(tmp_path / "history.csv")["epoch"].tolist() == [1]


def test_streamed_images_train_exactly_like_images_in_memory(reference_run, data, tmp_path):
    out, metrics = reference_run
    assert metrics["learner"]["images"] == "memory"
    streamed = train_fold(
        *data,
        backbone="squeezenet1_1",
        fold=1,
        cfg={**BASE_CFG, "memory_budget_mb": 0},
        out_dir=tmp_path,
        threads=2,
        log=QUIET,
    )
    assert streamed["learner"]["images"] == "stream"
    pd.testing.assert_frame_equal(
        without_timing(pd.read_csv(out / "history.csv")), without_timing(pd.read_csv(tmp_path / "history.csv"))
    )
    pd.testing.assert_frame_equal(pd.read_csv(out / "predictions.csv"), pd.read_csv(tmp_path / "predictions.csv"))


def test_metrics_report_where_the_time_went(reference_run):
    out, _ = reference_run
    timing = json.loads((out / "metrics.json").read_text())["timing"]
    assert 0 < timing["startup_s"] < timing["total_s"]
    assert timing["process_startup_s"] >= timing["startup_s"]
    for phase in ("load_images_s", "train_s", "validate_s", "test_s"):
        assert 0 <= timing[phase] < timing["total_s"]
    assert timing["checkpoints"] == 0  # a 2-epoch run under the 60-s default interval writes none


def test_checkpoints_at_most_once_per_interval_and_a_rerun_still_matches(reference_run, data, tmp_path):
    out, _ = reference_run

    def stop_after_first(row):
        if row["epoch"] == 1:
            raise TrainingInterrupted

    cfg = {**BASE_CFG, "checkpoint_interval_s": 3600}
    with pytest.raises(TrainingInterrupted):
        train_fold(
            *data,
            backbone="squeezenet1_1",
            fold=1,
            cfg=cfg,
            out_dir=tmp_path,
            threads=2,
            log=QUIET,
            on_epoch_end=stop_after_first,
        )
    assert not (tmp_path / "checkpoint.pt").exists()  # none due yet: a kill here restarts the job
    train_fold(*data, backbone="squeezenet1_1", fold=1, cfg=cfg, out_dir=tmp_path, threads=2, log=QUIET)
    pd.testing.assert_frame_equal(pd.read_csv(out / "predictions.csv"), pd.read_csv(tmp_path / "predictions.csv"))


class _RunsACommand:
    """Pickles to a call of os.system: what a hostile checkpoint.pt would hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_hostile_checkpoint_is_not_executed(reference_run, data, tmp_path):
    out, _ = reference_run
    marker = tmp_path / "pwned"
    run_dir = tmp_path / "fold1"
    run_dir.mkdir()
    torch.save({"config_hash": "x", "payload": _RunsACommand(marker)}, run_dir / "checkpoint.pt")
    messages = []
    train_fold(*data, backbone="squeezenet1_1", fold=1, cfg=BASE_CFG, out_dir=run_dir, threads=2, log=messages.append)
    assert not marker.exists()
    assert any("ignoring checkpoint" in m and "checkpoint.pt" in m for m in messages)
    pd.testing.assert_frame_equal(pd.read_csv(out / "predictions.csv"), pd.read_csv(run_dir / "predictions.csv"))


def test_a_truncated_checkpoint_is_ignored(data, tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    metrics = train_fold(
        *data, backbone="squeezenet1_1", fold=1, cfg={**BASE_CFG, "epochs": 1}, out_dir=tmp_path, threads=2, log=QUIET
    )
    assert metrics["learner"]["epochs_run"] == 1 and not (tmp_path / "checkpoint.pt").exists()


def test_a_relabelled_subject_in_folds_is_refused(data, tmp_path):
    folds = pd.read_csv(data[1])
    folds.loc[0, "label"] = "NSR" if folds.loc[0, "label"] != "NSR" else "ARR"
    folds.to_csv(tmp_path / "folds.csv", index=False)
    with pytest.raises(DataError, match=r"gives subject 'db0/0' the label .*forcerun folds"):
        train_fold(
            data[0],
            tmp_path / "folds.csv",
            backbone="squeezenet1_1",
            fold=0,
            cfg=BASE_CFG,
            out_dir=tmp_path / "out",
            log=QUIET,
        )


def test_a_fold_outside_k_is_refused_before_training(data, tmp_path):
    with pytest.raises(DataError, match=r"outside 0\.\.2 \(folds\.k is 3\)"):
        train_fold(
            *data, backbone="squeezenet1_1", fold=0, cfg=BASE_CFG, out_dir=tmp_path / "out", n_folds=3, log=QUIET
        )
    assert not (tmp_path / "out" / "model.pt").exists()


def test_truncated_scalogram_cache_is_named_before_any_work(data, tmp_path):
    blob = data[0].read_bytes()
    (tmp_path / "scalograms.h5").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match=r"scalograms\.h5.*truncated or damaged.*forcerun scalograms"):
        train_fold(
            tmp_path / "scalograms.h5",
            data[1],
            backbone="squeezenet1_1",
            fold=0,
            cfg=BASE_CFG,
            out_dir=tmp_path / "out",
            log=QUIET,
        )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_zeroed_images_in_the_cache_stop_the_job_before_the_first_epoch(data, tmp_path):
    damaged = tmp_path / "scalograms.h5"
    damaged.write_bytes(data[0].read_bytes())
    with h5py.File(damaged, "r") as f:
        offset = f["images"].id.get_chunk_info(5).byte_offset
    with open(damaged, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\0" * 200)  # part of image 5's compressed chunk zeroed
    epochs = []
    with pytest.raises(DataError, match=r"image 5 is damaged.*forcerun scalograms"):
        train_fold(
            damaged,
            data[1],
            backbone="squeezenet1_1",
            fold=0,
            cfg=BASE_CFG,
            out_dir=tmp_path / "out",
            log=QUIET,
            on_epoch_end=epochs.append,
        )
    assert epochs == []  # caught while loading the images, before any training
