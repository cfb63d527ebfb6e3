"""The four extension points of "Where to add things" (docs/development.md), each shown working.

* a model kind (a baseline): one learner class + one ``ecgcwt.config.MODEL_KINDS`` entry, which
  says what it can do (here: no epochs, a JSON model file, new records classified);
* a backbone family from outside torchvision: one ``ecgcwt.config.EXTRA_BACKBONES`` entry;
* a metric: one ``ecgcwt.evaluate.METRIC_FUNCTIONS`` entry;
* a data source: a folder of WFDB records with a ``RECORDS`` file, handed to segmentation.

Each test registers its extension with ``monkeypatch`` (so it is gone after the test) and
checks what a user sees: the config accepts it, the fold runner writes its outputs, the
report ranks and draws the new kind, ``ecgcwt predict`` and external validation classify
records with it, the metric appears in ``metrics.json``, the new records become windows.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import wfdb

from ecgcwt.apply import predict_external, predict_records
from ecgcwt.cli import main as cli_main
from ecgcwt.config import EXTRA_BACKBONES, MODEL_KINDS, BackboneFamily, ModelKind, load_config, model_specs
from ecgcwt.data import DatabaseSource, SegmentSpec, assign_folds, generate_database, segment_databases, write_segments
from ecgcwt.evaluate import METRIC_FUNCTIONS, ModelRuns, build_report, evaluate_predictions, read_predictions
from ecgcwt.learn import train_model

from ..conftest import REPO

DBS = {"mitdb": "ARR", "chfdb": "CHF", "nsrdb": "NSR"}
SPEC = SegmentSpec(fs=128, window=512, hop=512, max_per_recording=None, leads=[0], max_duration_s=None)


def amplitude_features(windows: np.ndarray) -> np.ndarray:
    """Each window's mean absolute amplitude and its standard deviation."""
    return np.c_[np.abs(windows).mean(1), windows.std(1)]


def centroid_probabilities(centroids: np.ndarray, features: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(features[:, None, :] - centroids[None], axis=2)
    p = np.exp(-(d - d.min(1, keepdims=True)))
    return p / p.sum(1, keepdims=True)


class MeanAmplitudeLearner:
    """A new baseline kind: nearest class centroid of each window's mean absolute amplitude and its std."""

    kind = "amplitude"
    model_file = "model.json"

    @classmethod
    def from_spec(cls, spec: dict, **_options) -> "MeanAmplitudeLearner":
        return cls()

    def _features(self, data, rows):
        from ecgcwt.data import iter_signal_batches

        feats = [amplitude_features(s) for _, s in iter_signal_batches(data.source, 256, rows)]
        return np.concatenate(feats) if feats else np.empty((0, 2))

    def fit(self, data, out_dir, log):
        y = data.table["label_index"].to_numpy()[data.rows["train"]]
        x = self._features(data, data.rows["train"])
        self.centroids = np.stack([x[y == i].mean(0) for i in range(len(data.classes))])
        return [{"epoch": 1, "train_windows": int(len(y))}]

    def predict_proba(self, data, rows):
        return centroid_probabilities(self.centroids, self._features(data, rows))

    def save(self, path, data):
        from ecgcwt.data import read_source_facts

        # the kind, classes and segmentation: what classifying a new record needs
        meta = {"kind": self.kind, "classes": list(data.classes), **read_source_facts(data.source)}
        path.write_text(json.dumps({"meta": meta, "centroids": self.centroids.tolist()}))

    def describe(self):
        return {"features": ["mean_abs", "std"]}


def amplitude_predictor(path, saved, device="cpu"):
    """The kind's registry ``predictor``: its model.json as a model that classifies raw windows."""
    from ecgcwt.apply import SignalModel

    centroids, meta = np.asarray(saved["centroids"]), saved["meta"]

    def classify(windows, batch_size):
        return centroid_probabilities(centroids, amplitude_features(np.asarray(windows, dtype=np.float64)))

    return SignalModel(path, meta["kind"], meta, list(meta["classes"]), meta["preprocessing"], classify)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("extension")
    sources = []
    for db, label in DBS.items():
        generate_database(db, label, root / db, subjects=4, duration_s=24, seed=1)
        sources.append(DatabaseSource(db, root / db, label))
    signals, table, _, classes = segment_databases(sources, SPEC)
    write_segments(root / "segments.h5", signals, table, SPEC, classes)
    assign_folds(table, 2, 0).to_csv(root / "folds.csv", index=False)
    return root


def test_a_new_model_kind_is_one_learner_and_one_registry_entry(store, tmp_path, monkeypatch):
    """Registered once, the toy kind trains, is evaluated and ranked in the report, and classifies new records."""
    monkeypatch.setitem(
        MODEL_KINDS,
        "amplitude",
        ModelKind(
            learner=f"{__name__}:MeanAmplitudeLearner",
            reads="segments",
            rule="train_wavelet",  # a CPU rule: this kind needs no torch
            text="amplitude centroids",
            baseline=True,
            style=("#8c564b", "v", "-."),
            model_file="model.json",
            training=False,
            has_epochs=False,
            predictor=f"{__name__}:amplitude_predictor",
        ),
    )
    config = load_config(REPO / "config.yaml", overrides={"models": {"amp": {"kind": "amplitude"}}})
    spec = model_specs(config)["amp"]
    assert spec["kind"] == "amplitude"

    # trains: every fold's outputs, the model file the registry entry names
    runs = []
    for fold in ("all", 0, 1):
        out = tmp_path / "amp" / f"fold{fold}"
        metrics = train_model(
            spec,
            name="amp",
            fold=fold,
            out_dir=out,
            segments=store / "segments.h5",
            folds_csv=store / "folds.csv",
            n_folds=2,
            log=lambda _: None,
        )
        assert json.loads((out / "metrics.json").read_text())["model"] == metrics["model"]
        assert (out / "model.json").is_file()
        if fold != "all":
            assert {"predictions.csv", "history.csv"} <= {p.name for p in out.iterdir()}
            assert set(read_predictions(out / "predictions.csv")["label"]) == {"ARR", "CHF", "NSR"}
            runs.append((fold, out / "predictions.csv"))

    # is evaluated and appears in the report, drawn with its own style and words
    report = tmp_path / "report"
    build_report(
        [ModelRuns(name="amp", kind="amplitude", predictions=runs)], report, classes=list(DBS.values()), n_boot=20
    )
    ranking = pd.read_csv(report / "ranking.csv")
    assert ranking[["model", "kind"]].values.tolist() == [["amp", "amplitude"]]
    assert "amplitude centroids" in (report / "report.md").read_text()
    assert (report / "figures" / "model_comparison.png").stat().st_size > 1000
    assert not list((report / "figures").glob("training_curves_*"))  # no epochs: no curves

    # classifies new records: ecgcwt predict and external validation, the same output as every kind
    model_file = tmp_path / "amp" / "foldall" / "model.json"
    record = store / "nsrdb" / (store / "nsrdb" / "RECORDS").read_text().split()[0]
    table, errors = predict_records(model_file, [record], max_windows=3)
    assert not errors and table.columns.tolist() == [
        "record",
        "predicted",
        "prob_ARR",
        "prob_CHF",
        "prob_NSR",
        "n_windows",
    ]
    assert table["predicted"].iloc[0] in DBS.values() and 1 <= table["n_windows"].iloc[0] <= 3
    assert cli_main(["predict", "--model", str(model_file), "--max-windows", "2", str(record)]) == 0
    df = predict_external(
        model_file, store, databases=DBS, out_dir=tmp_path / "external", n_boot=20, log=lambda _: None
    )
    assert (df["status"] == "ok").all() and len(df) == 3 * 4
    assert json.loads((tmp_path / "external" / "metrics.json").read_text())["model"]["kind"] == "amplitude"


def test_an_unregistered_kind_is_refused_naming_the_key():
    with pytest.raises(Exception, match=r"models\.amp.*amplitude"):
        model_specs(load_config(REPO / "config.yaml", overrides={"models": {"amp": {"kind": "amplitude"}}}))


def _tiny_resnet(*, image_size: int = 32):
    import torchvision

    assert image_size == 32  # the family's size keyword reaches its builder
    return torchvision.models.resnet18(weights=None, num_classes=1000)


def _no_weights() -> str:  # the family ships no ImageNet file: pretrained none only
    raise FileNotFoundError("tiny_family_net has no ImageNet weights")


def test_a_backbone_family_outside_torchvision_is_one_registry_entry(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    import torch

    from ecgcwt.learn import build_model

    monkeypatch.setitem(
        EXTRA_BACKBONES,
        "tiny_family_net",
        BackboneFamily(
            modules=(__name__, __name__),
            pip="tiny-family-net",
            build=f"{__name__}:_tiny_resnet",
            size_kwarg="image_size",
            weights_file=f"{__name__}:_no_weights",
        ),
    )
    config = load_config(REPO / "config.yaml", overrides={"training": {"backbones": ["tiny_family_net"]}})
    assert model_specs(config)["tiny_family_net"]["backbone"] == "tiny_family_net"
    built = build_model("tiny_family_net", 3, pretrained="none", image_size=32)
    with torch.no_grad():
        assert built.model(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_a_new_metric_is_one_registry_entry_and_reaches_every_level(monkeypatch, store):
    def worst_class_recall(y_true, y_pred, prob=None) -> float:
        classes = np.unique(y_true)
        return float(min(np.mean(y_pred[y_true == c] == c) for c in classes))

    monkeypatch.setitem(METRIC_FUNCTIONS, "worst_class_recall", worst_class_recall)
    import pandas as pd

    from ecgcwt.data import read_table

    table = read_table(store / "segments.h5")
    rng = np.random.default_rng(0)
    prob = rng.dirichlet(np.ones(3), size=len(table))
    predictions = table[["segment", "db", "record", "subject", "recording", "lead", "label"]].copy()
    predictions["label_index"] = table["label_index"]
    for i, c in enumerate(["ARR", "CHF", "NSR"]):
        predictions[f"prob_{c}"] = prob[:, i]
    predictions["pred_index"] = prob.argmax(1)
    predictions["pred_label"] = np.array(["ARR", "CHF", "NSR"])[prob.argmax(1)]
    metrics = evaluate_predictions(pd.DataFrame(predictions), ["ARR", "CHF", "NSR"])
    segment = metrics["segment"]
    y, p = table["label_index"].to_numpy(), prob.argmax(1)
    assert segment["worst_class_recall"] == pytest.approx(worst_class_recall(y, p))
    assert "worst_class_recall" in metrics["subject"]


def test_a_new_data_source_is_a_folder_of_wfdb_records(tmp_path):
    # e.g. a hospital export converted to WFDB: two records at 250 Hz, listed in RECORDS
    folder = tmp_path / "hospital"
    folder.mkdir()
    rng = np.random.default_rng(3)
    t = np.arange(250 * 20) / 250
    for name in ("p01", "p02"):
        ecg = np.sin(2 * np.pi * 1.2 * t)[:, None] + 0.05 * rng.standard_normal((len(t), 1))
        wfdb.wrsamp(name, fs=250, units=["mV"], sig_name=["MLII"], p_signal=ecg, fmt=["16"], write_dir=str(folder))
    (folder / "RECORDS").write_text("p01\np02\n")

    signals, table, qc, classes = segment_databases([DatabaseSource("hospital", folder, "NSR")], SPEC)
    assert classes == ["NSR"]
    assert set(table["record"]) == {"p01", "p02"}
    assert signals.shape == (len(table), SPEC.window)  # resampled 250 -> 128 Hz, 4 s windows
    assert (qc["status"] == "ok").all()
