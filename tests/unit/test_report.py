"""The evaluation report built from per-fold predictions files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgcwt.errors import ConfigError, DataError
from ecgcwt.metrics import flat_metrics
from ecgcwt.report import SUMMARY_COLUMNS, build_report, resolve_evaluate_config

CLASSES = ["ARR", "CHF", "NSR"]


def write_fold_predictions(path, fold, n_subjects=4, skill=0.7, seed=0):
    """predictions.csv of one fold: subjects f{fold}s{i}, 2 leads x 3 windows each, mostly correct."""
    rng = np.random.default_rng(seed + fold)
    rows = []
    for s in range(n_subjects):
        label = (s + fold) % 3
        subject = f"f{fold}s{s}"
        for lead in range(2):
            for w in range(3):
                prob = rng.dirichlet(np.ones(3))
                prob[label] += skill * rng.random()
                prob /= prob.sum()
                rows.append(
                    {
                        "segment": len(rows) + 100 * fold,
                        "db": "db",
                        "record": subject,
                        "subject": subject,
                        "recording": f"{subject}/{lead}",
                        "lead": lead,
                        "label": CLASSES[label],
                        "label_index": label,
                        "pred_index": int(prob.argmax()),
                        "pred_label": CLASSES[int(prob.argmax())],
                        **{f"prob_{c}": prob[j] for j, c in enumerate(CLASSES)},
                    }
                )
    pd.DataFrame(rows).to_csv(path, index=False)


def write_history(path, seed):
    rng = np.random.default_rng(seed)
    pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [1.0, 0.7, 0.5],
            "train_acc": [0.4, 0.6, 0.8],
            "val_loss": 1 - 0.1 * rng.random(3),
            "val_acc": [0.3, 0.5, 0.6],
            "val_balanced_acc": [0.3, 0.5, 0.6],
            "lr": [1e-3] * 3,
            "seconds": [1.0] * 3,
            "images_per_s": [50.0] * 3,
        }
    ).to_csv(path, index=False)


@pytest.fixture
def inputs(tmp_path):
    preds, hists = [], []
    for backbone, skill in (("resnet18", 0.9), ("squeezenet1_1", 0.3)):
        for fold in range(3):
            p = tmp_path / f"{backbone}_{fold}_predictions.csv"
            h = tmp_path / f"{backbone}_{fold}_history.csv"
            write_fold_predictions(p, fold, skill=skill)
            write_history(h, fold)
            preds.append((backbone, fold, p))
            hists.append((backbone, fold, h))
    return preds, hists


def test_report_files_and_pooled_values(inputs, tmp_path):
    preds, hists = inputs
    out = tmp_path / "report"
    summary = build_report(
        preds, out, classes=CLASSES, n_boot=200, ci=0.9, seed=1, extra={"training.epochs": 3}, histories=hists
    )
    for name in (
        "summary.csv",
        "per_fold.csv",
        "report.md",
        "report.html",
        "figures/training_curves.png",
        "figures/confusion_resnet18_segment.png",
        "figures/confusion_squeezenet1_1_recording.png",
    ):
        assert (out / name).is_file(), name
    saved = pd.read_csv(out / "summary.csv")
    assert list(saved.columns) == SUMMARY_COLUMNS
    assert set(saved["level"]) == {"segment", "recording", "recording_vote", "subject"}
    row = saved[(saved.backbone == "resnet18") & (saved.level == "segment") & (saved.metric == "accuracy")].iloc[0]
    assert (row.n_segments, row.n_recordings, row.n_subjects) == (72, 24, 12)
    # the point value is the metric of the pooled folds
    pooled = pd.concat([pd.read_csv(p) for b, _, p in preds if b == "resnet18"])
    expected = flat_metrics(
        pooled["label_index"], pooled["pred_index"], pooled[[f"prob_{c}" for c in CLASSES]].to_numpy(), CLASSES
    )
    assert row.value == pytest.approx(expected["accuracy"])
    finite = saved.dropna(subset=["value", "ci_low", "ci_high"])
    assert len(finite) > 0.8 * len(saved)
    assert (finite.ci_low <= finite.value + 1e-12).all() and (finite.value <= finite.ci_high + 1e-12).all()
    assert len(summary) == len(saved)
    per_fold = pd.read_csv(out / "per_fold.csv")
    assert list(per_fold.columns) == ["backbone", "fold", "level", "metric", "value"]
    assert sorted(per_fold["fold"].unique()) == [0, 1, 2]


def test_report_text_states_the_protocol_and_is_self_contained(inputs, tmp_path):
    preds, hists = inputs
    out = tmp_path / "report"
    build_report(preds, out, classes=CLASSES, n_boot=50, ci=0.95, seed=0, histories=hists)
    md = (out / "report.md").read_text()
    assert "subject-grouped" in md and "resamples of *subjects*" in md and "50 resamples" in md
    assert "figures/confusion_resnet18_recording.png" in md
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 * 4 + 1  # 4 levels x 2 backbones + training curves
    assert 'src="figures/' not in page  # nothing linked: the file can be mailed alone
    assert "<table" in page and "resnet18" in page


def test_same_seed_same_summary(inputs, tmp_path):
    preds, _ = inputs
    a = build_report(preds, tmp_path / "a", classes=CLASSES, n_boot=100, ci=0.95, seed=3)
    b = build_report(preds, tmp_path / "b", classes=CLASSES, n_boot=100, ci=0.95, seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_subject_in_two_folds_is_refused(tmp_path):
    write_fold_predictions(tmp_path / "a.csv", 0)
    write_fold_predictions(tmp_path / "b.csv", 0)  # the same subjects again, as "fold 1"
    with pytest.raises(DataError, match="more than one fold"):
        build_report(
            [("resnet18", 0, tmp_path / "a.csv"), ("resnet18", 1, tmp_path / "b.csv")],
            tmp_path / "r",
            classes=CLASSES,
            n_boot=10,
        )
    with pytest.raises(DataError, match="does not exist"):
        build_report([("resnet18", 0, tmp_path / "missing.csv")], tmp_path / "r", classes=CLASSES, n_boot=10)


def test_evaluate_config():
    assert resolve_evaluate_config(None) == {"bootstrap": 1000, "ci": 0.95, "seed": 0}
    assert resolve_evaluate_config({"bootstrap": 200})["bootstrap"] == 200
    with pytest.raises(ConfigError, match="evaluate.ci"):
        resolve_evaluate_config({"ci": 95})
    with pytest.raises(ConfigError, match=r"evaluate: Additional properties are not allowed \('n_boot'"):
        resolve_evaluate_config({"n_boot": 10})
