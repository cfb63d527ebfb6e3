"""External validation through the workflow: every model kind that classifies new records scores external.path."""

from __future__ import annotations

import json

import pandas as pd

from ecgcwt.config import MODEL_KINDS

from .runner import snakemake, write_config

DATABASES = (("mitdb", "ARR"), ("chfdb", "CHF"), ("nsrdb", "NSR"))


def test_external_records_are_scored_by_the_cnn2d_cnn1d_and_wavelet_models(tmp_path):
    from ecgcwt.data.synthetic import generate_database

    # training records and, from another seed, people the models never saw
    train, external = tmp_path / "wfdb", tmp_path / "site_b"
    for db, label in DATABASES:
        generate_database(db, label, train / db, subjects=3, duration_s=16, seed=0)
        generate_database(db, label, external / db, subjects=2, duration_s=16, seed=7)
    cfg = write_config(
        tmp_path / "tiny.yaml",
        {
            "data": {"source": "local", "path": str(train), "max_duration_s": None},
            "segments": {"window": 256, "hop": 256, "max_per_recording": 2},
            "cwt": {"image": {"size": 32}},
            "training": {
                "backbones": ["squeezenet1_1"],
                "pretrained": "none",
                "epochs": 1,
                "batch_size": 8,
                "precision": "fp32",
            },
            "models": {"cnn1d": {"kind": "cnn1d", "training": {"epochs": 1}}},
            "external": {"path": str(external)},
            "evaluate": {"bootstrap": 20},
        },
    )
    models = {"squeezenet1_1": "cnn2d", "cnn1d": "cnn1d", "wavelet_svm": "wavelet"}
    assert all(MODEL_KINDS[k].predicts for k in models.values())
    targets = [f"results/external/{m}/metrics.json" for m in models]
    work = tmp_path / "run"
    work.mkdir()
    r = snakemake(work, *targets, configfiles=[cfg])
    assert r.returncode == 0, r.output[-5000:]
    columns = set()
    for model, kind in models.items():
        out = work / "results" / "external" / model
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["model"]["kind"] == kind
        assert metrics["counts"]["records"] == 6 and metrics["counts"]["evaluated"] == 6
        assert 0 <= metrics["metrics"]["balanced_accuracy"]["value"] <= 1
        df = pd.read_csv(out / "predictions.csv")
        assert (df["status"] == "ok").all() and sorted(set(df["database"])) == ["chfdb", "mitdb", "nsrdb"]
        columns.add(tuple(df.columns))
    assert len(columns) == 1  # the same table for every kind
    # the model external validation applies is trained on every subject, the kind's own file
    assert (work / "results/models/wavelet_svm/all/model.joblib").is_file()
    assert (work / "results/models/cnn1d/all/model.pt").is_file()
