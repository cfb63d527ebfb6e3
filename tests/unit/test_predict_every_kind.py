"""`ecgcwt predict` and external validation with every model kind that says it classifies new records.

The tiny scalogram CNN of ``test_predict`` and, trained on the same real records'
segment store, the 1D CNN and the wavelet baseline (each on every subject, as the
workflow's ``all`` models): each classifies real records with the same output.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ecgcwt.apply import load_predict_model, predict_external, record_windows
from ecgcwt.config import MODEL_KINDS, load_config, model_specs
from ecgcwt.data import iter_signal_batches, read_table
from ecgcwt.learn import train_model
from tests.conftest import REPO, require_physionet
from tests.unit.test_external import copy_record, write_records_file
from tests.unit.test_predict import CLASSES, parse_line, run_cli, train_tiny_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """model file of each kind, all trained on every subject of the same real records."""
    root = require_physionet()
    d = tmp_path_factory.mktemp("every_kind")
    tiny = train_tiny_model(root, d)
    config = load_config(REPO / "config.yaml", {"training": {"epochs": 2, "batch_size": 8}})
    specs = model_specs(config)
    files = {"cnn2d": tiny["model"]}
    for name in ("cnn1d", "wavelet_svm"):
        spec = specs[name]
        out = d / name
        train_model(
            spec,
            name=name,
            fold="all",
            out_dir=out,
            segments=tiny["segments"],
            threads=2,
            device="cpu",
            log=lambda m: None,
        )
        files[spec["kind"]] = out / MODEL_KINDS[spec["kind"]].model_file
    return {"files": files, "root": root, "segments": tiny["segments"]}


@pytest.mark.parametrize("kind", ["cnn2d", "cnn1d", "wavelet"])
def test_every_kind_classifies_real_records_with_the_same_output(models, kind, tmp_path):
    assert MODEL_KINDS[kind].predicts
    mitdb = models["root"] / "mitdb"
    out = tmp_path / "pred.csv"
    r = run_cli(
        "--model",
        models["files"][kind],
        "--trust-pickle",
        mitdb / "105",
        mitdb / "106",
        "--max-windows",
        3,
        "--csv",
        out,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2
    for line, name in zip(lines, ("105", "106")):
        record, predicted, probs, n = parse_line(line)
        assert record == str(mitdb / name) and predicted in CLASSES
        assert sorted(probs) == CLASSES and abs(sum(probs.values()) - 1) < 0.003
        assert predicted == max(probs, key=probs.get)
        assert 1 <= n <= 2 * 3  # the training's segmentation: both leads, at most 3 windows each
    df = pd.read_csv(out)
    assert list(df.columns) == ["record", "predicted", "prob_ARR", "prob_CHF", "prob_NSR", "n_windows"]


@pytest.mark.parametrize("kind", ["cnn1d", "wavelet"])
def test_a_baseline_cuts_a_record_as_its_training_did(models, kind):
    """The windows predict cuts from a training record are the segment store's, and give the store's probabilities."""
    model = load_predict_model(models["files"][kind], trust_pickle=True)
    assert model.kind == kind and model.classes == CLASSES
    table = read_table(models["segments"])
    rows = np.flatnonzero((table["record"] == "100").to_numpy())
    stored = np.concatenate([s for _, s in iter_signal_batches(models["segments"], 64, rows)])
    prep = model.prep
    assert (prep["fs"], prep["window"]) == (128.0, 512)
    cut = record_windows(
        models["root"] / "mitdb" / "100",
        prep,
        max_windows=prep["max_per_recording"],
        max_duration_s=prep["max_duration_s"],
    )
    np.testing.assert_array_equal(cut, stored)
    probs = model.probabilities(cut)
    assert probs.shape == (len(rows), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(model.probabilities(cut[:1]), probs[:1], rtol=1e-6, atol=1e-9)  # alone or in a batch


def test_external_validation_scores_every_kind_on_the_same_records(models, tmp_path):
    root = models["root"]
    ext = tmp_path / "external"
    copy_record(root / "mitdb" / "105", ext / "mitdb")
    write_records_file(ext / "mitdb", ["105"])
    copy_record(root / "nsrdb" / "16483", ext / "nsrdb")
    write_records_file(ext / "nsrdb", ["16483"])
    tables = {}
    for kind, path in models["files"].items():
        out = tmp_path / "results" / kind
        tables[kind] = predict_external(
            path,
            ext,
            databases={"mitdb": "ARR", "chfdb": "CHF", "nsrdb": "NSR"},
            out_dir=out,
            max_duration_s=30,
            n_boot=50,
            trust_pickle=True,
            log=lambda m: None,
        )
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["model"]["kind"] == kind and metrics["counts"]["evaluated"] == 2
        assert 0 <= metrics["metrics"]["balanced_accuracy"]["value"] <= 1
    columns = {k: list(t.columns) for k, t in tables.items()}
    assert columns["cnn1d"] == columns["cnn2d"] == columns["wavelet"]
    for t in tables.values():
        assert t["record"].tolist() == ["105", "16483"] and (t["status"] == "ok").all()
