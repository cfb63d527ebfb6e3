"""Unequal class sizes (``training.class_balance``) and a validation set that sees every class.

The sampler and the weights are checked as numbers; the 2D and 1D CNNs are
trained for one epoch on a tiny imbalanced cache (24 px, one CHF subject) to
check what a user sees in metrics.json and the log.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from ecgcwt.config import validate_section
from ecgcwt.data import segment_store
from ecgcwt.evaluate import ModelRuns, validation_sentence
from ecgcwt.imaging import CACHE_FORMAT, image_colormap
from ecgcwt.learn import balanced_order, class_weights, split_rows, train_model
from tests.conftest import finish_test_cache

CLASSES = ("ARR", "CHF", "NSR")
QUIET = lambda msg: None  # noqa: E731


def test_the_sampler_draws_each_class_equally_often_and_reproducibly():
    labels = np.array([0] * 89 + [1] * 4 + [2] * 7)
    order = balanced_order(labels, seed=3, epoch=0)
    assert len(order) == len(labels)  # the epoch is as long as without balancing
    counts = np.bincount(labels[order], minlength=3)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 100
    # the 4 CHF windows repeat evenly (every one 8 or 9 times), 34 of the 89 ARR windows are drawn once
    assert sorted(np.bincount(order[labels[order] == 1])[89:93]) in ([8, 8, 8, 9], [8, 8, 9, 9], [8, 9, 9, 9])
    assert np.bincount(order[labels[order] == 0]).max() == 1
    assert np.array_equal(order, balanced_order(labels, seed=3, epoch=0))
    assert not np.array_equal(order, balanced_order(labels, seed=3, epoch=1))
    assert not np.array_equal(order, balanced_order(labels, seed=4, epoch=0))


def test_loss_weights_are_the_inverse_class_frequency():
    labels = np.array([0] * 80 + [1] * 5 + [2] * 15)
    w = class_weights(labels, 3)
    assert np.allclose(w, [100 / (3 * 80), 100 / (3 * 5), 100 / (3 * 15)])
    assert np.allclose(w * np.bincount(labels), 100 / 3)  # every class weighs the same in the loss


def test_class_balance_and_calibrate_are_checked_against_the_schema():
    c = validate_section("training", {})
    assert c["class_balance"] == "sampler" and c["calibrate"] == "temperature"
    with pytest.raises(Exception, match="class_balance"):
        validate_section("training", {"class_balance": "oversample"})


# --------------------------------------------------------------------------- imbalanced data


def imbalanced_table(subjects=(4, 1, 3), recordings=2, windows=10, hop=512) -> pd.DataFrame:
    """Segment rows: class c has ``subjects[c]`` subjects of ``recordings`` leads of ``windows`` windows."""
    rows = []
    for ci, c in enumerate(CLASSES):
        for s in range(subjects[ci]):
            for lead in range(recordings):
                for w in range(windows):
                    rows.append(
                        {
                            "segment": len(rows),
                            "db": f"db{ci}",
                            "record": str(s),
                            "subject": f"db{ci}/{s}",
                            "recording": f"db{ci}/{s}/{lead}",
                            "lead": lead,
                            "lead_name": f"L{lead}",
                            "start": w * hop,
                            "label": c,
                            "label_index": ci,
                        }
                    )
    return pd.DataFrame(rows)


def write_cache(path, table: pd.DataFrame, size=24, seed=0) -> None:
    """A scalogram cache of ``table`` whose classes differ by a bright band (as in test_training)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (len(table), size, size))  # grey colour indices
    for i, ci in enumerate(table["label_index"]):
        images[i, ci * size // 3 : (ci + 1) * size // 3] += 150
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images.astype(np.uint8), chunks=(1, size, size))
        f.create_dataset("colormap", data=image_colormap("gray3"))
        f.attrs["cache_format"] = CACHE_FORMAT
        segment_store.write_table_group(f.create_group("table"), table)
        f.attrs["classes"] = np.array(CLASSES, dtype=object)
        f.attrs["image_size"] = size
        f.attrs["wavelet"] = "morse"
        f.attrs["frequencies"] = np.linspace(40.0, 0.5, size)
        finish_test_cache(f, mode="gray3", colors=256)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("balance")
    table = imbalanced_table()
    write_cache(d / "scalograms.h5", table)
    before = torch.get_num_threads()
    yield d / "scalograms.h5", table
    torch.set_num_threads(before)


def spec(**training) -> dict:
    cfg = {"pretrained": "none", "epochs": 1, "batch_size": 16, "lr": 1e-3, "seed": 0, **training}
    return {"kind": "cnn2d", "backbone": "squeezenet1_1", "training": validate_section("training", cfg)}


@pytest.mark.parametrize("balance", ["sampler", "loss", "none"])
def test_the_2d_cnn_records_its_class_balance(cache, tmp_path, balance):
    path, _ = cache
    lines: list[str] = []
    metrics = train_model(
        spec(class_balance=balance),
        name="sq",
        fold="all",
        out_dir=tmp_path,
        scalograms=path,
        threads=2,
        log=lines.append,
    )
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["learner"]["class_balance"] == metrics["learner"]["class_balance"] == balance
    assert any(f"class balance {balance}" in line for line in lines)
    assert any("loss weights" in line for line in lines) == (balance == "loss")


# --------------------------------------------------------------------------- validation that sees every class


def test_a_one_subject_class_validates_on_the_last_fifth_of_each_recording():
    table = imbalanced_table(subjects=(4, 1, 3), recordings=2, windows=10)
    table = table.sample(frac=1.0, random_state=0).reset_index(drop=True)  # rows out of time order
    table["segment"] = np.arange(len(table))
    rows, info = split_rows(table, "all", val_fraction=0.2, seed=0)
    assert not set(rows["train"]) & set(rows["val"])  # no window on both sides
    assert len(rows["train"]) + len(rows["val"]) == len(table)
    v = info["validation"]
    assert v["strategy"] == {"ARR": "subject", "CHF": "time_holdout", "NSR": "subject"}
    chf_val = table.iloc[rows["val"]].query("label == 'CHF'")
    chf_train = table.iloc[rows["train"]].query("label == 'CHF'")
    assert v["windows"]["CHF"] == len(chf_val) == 4  # 2 of 10 windows of each of the 2 recordings
    for rec, part in chf_val.groupby("recording"):
        later = part["start"].min()
        assert sorted(part["start"]) == [8 * 512, 9 * 512]  # the last 20% in time
        assert (chf_train.loc[chf_train["recording"] == rec, "start"] < later).all()
    # classes with several subjects keep whole validation subjects
    arr_val = table.iloc[rows["val"]].query("label == 'ARR'")
    assert arr_val["subject"].nunique() >= 1 and not set(arr_val["subject"]) & set(
        table.iloc[rows["train"]].query("label == 'ARR'")["subject"]
    )


def test_a_class_of_single_window_recordings_has_no_validation():
    table = imbalanced_table(subjects=(3, 1, 3), recordings=1, windows=1)
    rows, info = split_rows(table, "all", val_fraction=0.2, seed=0)
    assert info["validation"]["strategy"]["CHF"] == "none" and info["validation"]["windows"]["CHF"] == 0
    assert (table.iloc[rows["train"]]["label"] == "CHF").sum() == 1  # it still trains


def test_metrics_and_log_say_how_each_class_was_validated(cache, tmp_path):
    path, table = cache
    lines: list[str] = []
    train_model(spec(), name="sq", fold="all", out_dir=tmp_path, scalograms=path, threads=2, log=lines.append)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["validation"]["strategy"]["CHF"] == "time_holdout"
    assert saved["validation"]["windows"]["CHF"] == 4
    assert any("CHF the last part in time of its training recordings (4 windows)" in line for line in lines)


def test_the_report_says_how_each_class_was_validated(tmp_path):
    runs = []
    for fold, chf in enumerate(["time_holdout", "time_holdout", "subject"]):
        d = tmp_path / f"fold{fold}"
        d.mkdir()
        validation = {"strategy": {"ARR": "subject", "CHF": chf}, "windows": {"ARR": 10, "CHF": 3}}
        (d / "metrics.json").write_text(json.dumps({"validation": validation}))
        runs.append((fold, d / "predictions.csv"))
    text = validation_sentence(ModelRuns(name="resnet18", kind="cnn2d", predictions=runs))
    assert text.startswith("resnet18: inner validation windows")
    assert "ARR: held-out subjects (3/3 folds)" in text
    assert "CHF: the last part in time of its training recordings (2/3 folds), held-out subjects (1/3 folds)" in text
    old = tmp_path / "old"
    old.mkdir()
    (old / "metrics.json").write_text("{}")  # written before the field existed: no sentence
    assert validation_sentence(ModelRuns(name="x", kind="cnn2d", predictions=[(0, old / "predictions.csv")])) is None
