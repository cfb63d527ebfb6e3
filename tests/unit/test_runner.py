"""The fold runner, the predictions contract and the model entries of the config.

The runner is tested with a small learner defined here (a nearest-centroid
classifier on a per-row feature), so these tests check the runner's own
behaviour (splits, files, checks) in milliseconds; the real learners are
tested in test_training.py and test_baselines.py.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ecgcwt.config import leak_model, model_specs, names_of_kind
from ecgcwt.config.load import load_config
from ecgcwt.errors import ConfigError, DataError
from ecgcwt.evaluate.predictions import ID_COLUMNS, build_predictions, read_predictions, write_predictions
from ecgcwt.learn.runner import random_window_split, run_fold, split_rows

from ..conftest import REPO

CLASSES = ["ARR", "CHF", "NSR"]


def segment_table(subjects_per_class=4, windows=5, k=4) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, folds = [], []
    for ci, c in enumerate(CLASSES):
        for s in range(subjects_per_class):
            subject = f"db{ci}/{s}"
            folds.append({"subject": subject, "label": c, "fold": s % k})
            for w in range(windows):
                rows.append(
                    {
                        "segment": len(rows),
                        "db": f"db{ci}",
                        "record": str(s),
                        "subject": subject,
                        "recording": f"{subject}/0",
                        "lead": 0,
                        "label": c,
                        "label_index": ci,
                        "feature": ci + 0.1 * w,  # what the learner below classifies on
                    }
                )
    return pd.DataFrame(rows), pd.DataFrame(folds)


class CentroidLearner:
    """Nearest class centroid of the ``feature`` column: a real, tiny classifier."""

    kind = "test"
    model_file = "model.json"

    def fit(self, data, out_dir, log):
        x = data.table["feature"].to_numpy()
        y = data.table["label_index"].to_numpy()
        tr = data.rows["train"]
        self.centroids = np.array([x[tr][y[tr] == i].mean() for i in range(len(data.classes))])
        self.seen = {k: set(data.table["subject"].to_numpy()[v]) for k, v in data.rows.items()}
        return [{"epoch": 1, "n_train": len(tr)}]

    def predict_proba(self, data, rows):
        d = np.abs(data.table["feature"].to_numpy()[rows, None] - self.centroids[None, :])
        p = np.exp(-d)
        return p / p.sum(axis=1, keepdims=True)

    def save(self, path, data):
        path.write_text(json.dumps({"centroids": self.centroids.tolist()}))

    def describe(self):
        return {"centroids": self.centroids.tolist()}


@pytest.fixture
def table_and_folds(tmp_path):
    table, folds = segment_table()
    folds_csv = tmp_path / "folds.csv"
    folds.to_csv(folds_csv, index=False)
    return table, folds_csv


def test_run_fold_writes_every_output_and_never_mixes_subjects(table_and_folds, tmp_path):
    table, folds_csv = table_and_folds
    learner = CentroidLearner()
    out = tmp_path / "fold1"
    m = run_fold(
        learner,
        tmp_path / "none.h5",
        table,
        CLASSES,
        fold=1,
        out_dir=out,
        val_fraction=0.34,
        seed=0,
        folds_csv=folds_csv,
        n_folds=4,
        model_name="centroid",
        log=lambda s: None,
    )
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "metrics.json", "model.json", "predictions.csv"]
    seen = learner.seen
    assert not (seen["train"] & seen["test"]) and not (seen["val"] & seen["test"]) and not (seen["train"] & seen["val"])
    assert seen["test"] == {f"db{c}/1" for c in range(3)}  # fold 1 of s % 4
    preds = read_predictions(out / "predictions.csv", CLASSES)
    assert set(preds["subject"]) == seen["test"]
    assert (preds["pred_label"] == preds["label"]).all()  # centroids separate the classes exactly
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["model"] == "centroid" and saved["kind"] == "test" and saved["fold"] == 1
    assert saved["levels"]["subject"]["balanced_accuracy"] == 1.0
    assert saved["n_subjects"] == {"train": 6, "val": 3, "test": 3}
    assert saved == json.loads(json.dumps(m))  # the file is what the call returned


def test_fold_all_needs_no_folds_file_and_predicts_nothing(tmp_path):
    table, _ = segment_table(subjects_per_class=1)  # K-fold impossible: one subject per class
    out = tmp_path / "all"
    m = run_fold(
        CentroidLearner(), tmp_path / "x.h5", table, CLASSES, fold="all", out_dir=out, val_fraction=0.2, seed=0
    )
    assert not (out / "predictions.csv").exists()
    assert (out / "model.json").exists() and m["n_subjects"]["test"] == 0
    # one subject per class: each class validates on the last window (20% of 5) of its recording
    assert m["n_segments"]["train"] + m["n_segments"]["val"] == len(table) and m["n_segments"]["val"] == 3
    assert m["validation"] == {"strategy": dict.fromkeys(CLASSES, "time_holdout"), "windows": dict.fromkeys(CLASSES, 1)}


def test_random_window_split_is_leaky_and_stratified():
    table, _ = segment_table(subjects_per_class=4, windows=10)
    rows = random_window_split(table, k=5, val_fraction=0.2, seed=0)
    assert sorted(np.concatenate(list(rows.values())).tolist()) == list(range(len(table)))
    assert table.loc[rows["test"], "label"].value_counts().to_dict() == {c: 8 for c in CLASSES}  # 40 / 5 per class
    subj = table["subject"].to_numpy()
    assert set(subj[rows["train"]]) & set(subj[rows["test"]])  # the leak it exists to show
    again = random_window_split(table, k=5, val_fraction=0.2, seed=0)
    assert all(np.array_equal(rows[k], again[k]) for k in rows)


def test_split_rows_checks_folds_against_the_data(table_and_folds, tmp_path):
    table, folds_csv = table_and_folds
    relabelled = pd.read_csv(folds_csv)
    relabelled.loc[0, "label"] = "NSR"
    bad = tmp_path / "bad.csv"
    relabelled.to_csv(bad, index=False)
    with pytest.raises(DataError, match="rebuild it with `snakemake --forcerun folds`"):
        split_rows(table, 0, folds_csv=bad, n_folds=4, val_fraction=0.2, seed=0)
    with pytest.raises(ConfigError, match="needs folds.csv"):
        split_rows(table, 0, val_fraction=0.2, seed=0)
    with pytest.raises(ConfigError, match="split must be one of"):
        split_rows(table, 0, split="by_record", folds_csv=folds_csv, val_fraction=0.2, seed=0)


def test_a_fold_without_some_class_in_training_is_refused(tmp_path):
    table, folds = segment_table(subjects_per_class=1)
    folds["fold"] = [0, 1, 2]
    folds.to_csv(tmp_path / "folds.csv", index=False)
    with pytest.raises(DataError, match=r"no training windows of classes \['ARR'\]"):
        run_fold(
            CentroidLearner(),
            tmp_path / "x.h5",
            table,
            CLASSES,
            fold=0,
            out_dir=tmp_path / "o",
            val_fraction=0.0,
            seed=0,
            folds_csv=tmp_path / "folds.csv",
        )


# --------------------------------------------------------------------------- the predictions contract


def test_predictions_round_trip_and_keep_record_names_as_text(tmp_path):
    table, _ = segment_table()
    table["record"] = "0100"  # a leading zero must survive the CSV
    rows = table.iloc[:6]
    probs = np.tile([0.2, 0.5, 0.3], (6, 1))
    df = build_predictions(rows, probs, CLASSES)
    write_predictions(df, tmp_path / "p.csv")
    back = read_predictions(tmp_path / "p.csv", CLASSES)
    assert list(back.columns) == [*ID_COLUMNS, "pred_index", "pred_label", "prob_ARR", "prob_CHF", "prob_NSR"]
    assert (back["record"] == "0100").all() and (back["pred_label"] == "CHF").all()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d.drop(columns=["subject"]), "missing columns"),
        (lambda d: d.assign(prob_ARR=0.9), "do not sum to 1"),
        (lambda d: d.assign(pred_label="NSR"), "pred_label does not match"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "predicted twice"),
    ],
)
def test_a_predictions_file_that_breaks_the_contract_is_named(tmp_path, damage, message):
    table, _ = segment_table()
    df = build_predictions(table.iloc[:6], np.tile([0.2, 0.5, 0.3], (6, 1)), CLASSES)
    damage(df).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(DataError, match=message) as e:
        read_predictions(tmp_path / "p.csv")
    assert "p.csv" in str(e.value) and "rerun" in str(e.value)


def test_predictions_of_other_classes_are_refused(tmp_path):
    table, _ = segment_table()
    write_predictions(build_predictions(table.iloc[:3], np.full((3, 3), 1 / 3), CLASSES), tmp_path / "p.csv")
    with pytest.raises(DataError, match="expected"):
        read_predictions(tmp_path / "p.csv", ["ARR", "NSR"])


# --------------------------------------------------------------------------- models in the config


def test_a_config_with_only_backbones_names_each_model_after_its_backbone(tmp_path):
    (tmp_path / "old.yaml").write_text("training:\n  backbones: [resnet18, squeezenet1_1]\n")  # no models:
    cfg = load_config(tmp_path / "old.yaml")
    specs = model_specs(cfg)
    # each backbone a model of its own name; the baselines come with the defaults
    assert list(specs) == ["resnet18", "squeezenet1_1", "cnn1d", "wavelet_svm"]
    assert specs["resnet18"]["kind"] == "cnn2d" and specs["resnet18"]["training"]["pretrained"] == "imagenet"


def test_model_entries_merge_their_training_overrides():
    cfg = load_config(
        REPO / "config.yaml",
        {
            "training": {"backbones": ["resnet18"], "lr": 0.01},
            "models": {
                "resnet18_scratch": {"kind": "cnn2d", "backbone": "resnet18", "training": {"pretrained": "none"}},
                "wave": {"kind": "wavelet", "classifier": "logistic_regression"},
                "c1": {"kind": "cnn1d", "training": {"epochs": 3}},
            },
        },
    )
    specs = model_specs(cfg)
    assert specs["resnet18_scratch"]["training"]["pretrained"] == "none"
    assert specs["resnet18_scratch"]["training"]["lr"] == 0.01  # the rest comes from training
    assert specs["c1"]["training"]["epochs"] == 3
    assert specs["wave"] == {
        "kind": "wavelet",
        "wavelet": "db4",
        "level": 5,
        "classifier": "logistic_regression",
        "C": 1.0,
        "seed": 0,
        "val_fraction": cfg["training"]["val_fraction"],
    }
    assert names_of_kind(specs, "cnn2d") == ["resnet18", "resnet18_scratch"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"models": {"resnet18": {"kind": "cnn1d"}}}, "already a training.backbones entry"),
        ({"models": {"x": {"kind": "cnn2d"}}}, "needs a backbone"),
        ({"models": {"x": {"kind": "cnn2d", "backbone": "resnet18", "classifier": "svm"}}}, "wavelet only"),
        ({"models": {"x": {"kind": "cnn2d", "backbone": "resnet999"}}}, r"models\.x\.backbone: unknown backbone"),
        ({"models": {"x": {"kind": "cnn1d", "training": {"lr": -1}}}}, "models.x.training"),
        ({"models": {"x": {"kind": "rnn"}}}, "models.x.kind"),
        ({"models": {"all": {"kind": "cnn1d"}}}, "reserved"),
        ({"leak_comparison": {"model": "nope"}}, "not a cnn2d model"),
        ({"external": {"path": "/no/such/folder"}}, "external.path"),
    ],
)
def test_bad_model_entries_name_the_key(overrides, message):
    base = {"training": {"backbones": ["resnet18"]}}
    with pytest.raises(ConfigError, match=message):
        load_config(REPO / "config.yaml", {**base, **overrides})


def test_a_null_entry_drops_a_model_that_an_earlier_config_file_defines():
    cfg = load_config(REPO / "config.yaml", {"models": {"cnn1d": None}, "training": {"backbones": ["resnet18"]}})
    assert "cnn1d" not in model_specs(cfg) and "wavelet_svm" in model_specs(cfg)


def test_leak_comparison_auto_takes_the_first_cnn2d_model_and_null_turns_it_off():
    cfg = load_config(REPO / "config.yaml", {"training": {"backbones": ["squeezenet1_1", "resnet18"]}})
    assert leak_model(cfg, model_specs(cfg)) == "squeezenet1_1"
    cfg = load_config(REPO / "config.yaml", {"leak_comparison": {"model": None}})
    assert leak_model(cfg, model_specs(cfg)) is None


def test_fold_all_writes_a_model_card_with_what_the_job_knows(tmp_path):
    table, _ = segment_table(subjects_per_class=2, windows=3)
    out = tmp_path / "all"
    run_fold(
        CentroidLearner(),
        tmp_path / "x.h5",
        table,
        CLASSES,
        fold="all",
        out_dir=out,
        val_fraction=0.0,
        seed=3,
        model_name="centroid",
        log=lambda s: None,
    )
    card = (out / "model_card.md").read_text()
    for heading in (
        "What it is",
        "Data it saw",
        "Preprocessing",
        "Cross-validated performance",
        "Intended use",
        "Known limits",
    ):
        assert f"## {heading}" in card, heading
    assert card.startswith("# Model card: centroid")
    assert "- kind: test" in card and "- seeds: 3" in card and "all subjects (fold all)" in card
    assert "| ARR | 2 | 6 |" in card and "| NSR | 2 | 6 |" in card  # subjects and windows per class
    assert "- databases: db0, db1, db2" in card
    assert "not a diagnostic device" in card.lower() and "Few subjects: ARR, CHF, NSR" in card
    assert "results/report/ranking.csv" in card
