"""Dry runs: the default config plans the full DAG; reruns follow parameter changes."""

from __future__ import annotations

import pytest

from .runner import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow


def test_default_config_plans_the_whole_workflow(tmp_path):
    r = snakemake(tmp_path, "-n")
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    # 3 databases downloaded; ImageNet weights of 3 backbones (googlenet, squeezenet1_1, resnet18)
    # fetched once each; 3 backbones, the 1D CNN and the wavelet baseline x 5 folds trained;
    # googlenet (the first cnn2d model: leak_comparison.model auto) once more on the leaky split
    assert jobs == {
        "all": 1,
        "download_physionet": 3,
        "evaluate": 1,
        "folds": 1,
        "gallery": 1,
        "scalograms": 1,
        "segment": 1,
        "train": 15,
        "train_cnn1d": 5,
        "train_wavelet": 5,
        "leak": 1,
        "weights": 3,
        "explain": 3,  # Grad-CAM figure of each cnn2d model (fold 0)
        "total": 41,
    }
    for model in ("googlenet", "squeezenet1_1", "resnet18", "cnn1d"):
        assert f"results/models/{model}/fold4/model.pt" in r.stdout
    assert "results/models/wavelet_svm/fold4/model.joblib" in r.stdout
    assert "results/leak/googlenet/predictions.csv" in r.stdout


def test_external_validation_builds_alone_without_folds(tmp_path):
    ext = tmp_path / "site_b"
    (ext / "mitdb").mkdir(parents=True)
    (ext / "mitdb" / "RECORDS").write_text("100\n")
    cfg = write_config(tmp_path / "ext.yaml", {"external": {"path": str(ext)}})
    r = snakemake(tmp_path, "-n", "results/external/resnet18/predictions.csv", configfiles=[cfg])
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    # the model trained on every subject needs no folds.csv: K-fold need not be possible
    assert jobs["train_all"] == 1 and jobs["external"] == 1 and "folds" not in jobs and "train" not in jobs


def test_one_target_plans_only_what_it_needs(tmp_path):
    r = snakemake(tmp_path, "-n", "results/models/resnet18/fold2/metrics.json")
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    assert jobs["train"] == 1 and "evaluate" not in jobs and jobs["download_physionet"] == 3


def test_invalid_config_stops_before_any_job(tmp_path):
    cfg = write_config(tmp_path / "bad.yaml", {"segments": {"window": -5}, "training": {"backbones": ["resnet18"]}})
    r = snakemake(tmp_path, "-n", configfiles=[cfg])
    assert r.returncode != 0
    assert "segments.window: -5 is less than the minimum of 16" in r.output


def test_unknown_backbone_is_named(tmp_path):
    cfg = write_config(tmp_path / "bad.yaml", {"training": {"backbones": ["resnet18", "googlenett"]}})
    r = snakemake(tmp_path, "-n", configfiles=[cfg])
    assert r.returncode != 0 and "unknown backbone(s) ['googlenett']" in r.output
