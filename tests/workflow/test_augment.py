"""Signal augmentation through real snakemake: a cnn2d job with training.augment on reads the segments too
and trains on images computed per batch; changing the augmentation retrains without rebuilding the cache;
without a signal augmentation the job reads the cache alone."""

from __future__ import annotations

import json

import pytest

from .runner import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

AUGMENT = {
    "shift": True,
    "amplitude": {"p": 0.5},
    "polarity": {"p": 0.5},
    "baseline_wander": {"p": 0.5},
    "gaussian_noise": {"p": 0.5},
    "powerline": {"p": 0.5, "hz": [50]},
    "time_stretch": {"p": 0.5},
}


def tiny(tmp_path, augment) -> dict:
    return {
        "data": {
            "source": "synthetic",
            "max_duration_s": None,
            "synthetic": {"subjects_per_class": 3, "duration_s": 16},
        },
        "segments": {"window": 256, "hop": 256, "max_per_recording": 2},
        "folds": {"k": 3},
        "cwt": {"image": {"size": 32}},
        "training": {
            "backbones": ["resnet18"],
            "pretrained": "none",
            "epochs": 2,
            "batch_size": 8,
            "precision": "fp32",
            "augment": augment,
        },
        "models": {"cnn1d": {"kind": "cnn1d", "training": {"epochs": 2}}, "wavelet_svm": None},
        "leak_comparison": {"model": None},
    }


def test_augmented_training_runs_and_only_retrains_when_the_augmentation_changes(tmp_path):
    cfg = write_config(tmp_path / "tiny.yaml", tiny(tmp_path, AUGMENT))
    work = tmp_path / "run"
    work.mkdir()
    targets = ["results/models/resnet18/fold0/metrics.json", "results/models/cnn1d/fold0/metrics.json"]
    r = snakemake(work, *targets, configfiles=[cfg])
    assert r.returncode == 0, r.output[-5000:]
    log = (work / "logs/train/resnet18/fold0.log").read_text()
    assert "training images computed per batch" in log and "results/data/segments.h5" in log
    metrics = json.loads((work / "results/models/resnet18/fold0/metrics.json").read_text())
    assert metrics["learner"]["images"].endswith("+signal")

    # a stronger augmentation: the two models retrain; segments, folds and the scalogram cache stay
    stronger = tiny(tmp_path, {**AUGMENT, "gaussian_noise": {"p": 1.0}})
    cfg2 = write_config(tmp_path / "stronger.yaml", stronger)
    plan = planned_jobs(snakemake(work, "-n", *targets, configfiles=[cfg2]))
    assert plan == {"train": 1, "train_cnn1d": 1, "total": 2}

    # without a signal augmentation the cnn2d job reads the cache alone, as before
    cfg3 = write_config(tmp_path / "shift.yaml", tiny(tmp_path, True))
    dry = snakemake(work, "-n", targets[0], configfiles=[cfg3])
    inputs = [line for line in dry.stdout.splitlines() if line.strip().startswith("input:")]
    assert len(inputs) == 1 and "scalograms.h5" in inputs[0] and "segments.h5" not in inputs[0]
    dry = snakemake(work, "-n", targets[0], configfiles=[cfg2])
    inputs = [line for line in dry.stdout.splitlines() if line.strip().startswith("input:")]
    assert len(inputs) == 1 and "scalograms.h5" in inputs[0] and "segments.h5" in inputs[0]
