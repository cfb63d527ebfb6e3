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
from ecgcwt.learn import balanced_order, class_weights, train_model

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
    images = rng.integers(0, 60, (len(table), size, size, 3))
    for i, ci in enumerate(table["label_index"]):
        images[i, ci * size // 3 : (ci + 1) * size // 3] += 150
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images.astype(np.uint8), chunks=(1, size, size, 3))
        segment_store.write_table_group(f.create_group("table"), table)
        f.attrs["classes"] = np.array(CLASSES, dtype=object)
        f.attrs["image_size"] = size
        f.attrs["wavelet"] = "morse"
        f.attrs["frequencies"] = np.linspace(40.0, 0.5, size)


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
    assert saved["class_balance"] == metrics["class_balance"] == balance
    assert any(f"class balance {balance}" in line for line in lines)
    assert any("loss weights" in line for line in lines) == (balance == "loss")
