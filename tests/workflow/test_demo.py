"""The demo config through real snakemake: synthetic data to the report, then rerun behaviour."""

from __future__ import annotations

import json

import h5py
import pandas as pd
import pytest

from .conftest import demo_snakemake
from .runner import planned_jobs, write_config

pytestmark = pytest.mark.workflow

#: Every model of config/demo.yaml and the file its fold folder keeps it in.
DEMO_MODELS = {
    "resnet18": "model.pt",
    "lite0_imagenet": "model.pt",
    "lite0_scratch": "model.pt",
    "cnn1d": "model.pt",
    "wavelet_svm": "model.joblib",
}
SEEDS = (0, 1)


def test_demo_writes_every_stage(demo_run):
    d = demo_run
    for db in ("mitdb", "chfdb", "nsrdb"):
        assert (d / f"resources/synthetic/{db}/RECORDS").read_text().split() == [f"syn{i:03d}" for i in range(1, 7)]
    folds = pd.read_csv(d / "results/data/folds.csv")
    assert len(folds) == 18 and sorted(folds["fold"].unique()) == [0, 1, 2]
    with h5py.File(d / "results/scalograms/scalograms.h5", "r") as f:
        # 18 subjects x 2 leads x 6 windows, 64-px RGB
        assert f["images"].shape == (216, 64, 64) and f["images"].dtype == "uint8"
        assert f.attrs["wavelet"] == "morse" and f.attrs["image_size"] == 64
    for model, model_file in DEMO_MODELS.items():
        for seed, fold in [(s, f) for s in SEEDS for f in range(3)]:
            # two training seeds: one folder per seed
            out = d / f"results/models/{model}/seed{seed}/fold{fold}"
            metrics = json.loads((out / "metrics.json").read_text())
            assert metrics["model"] == model and metrics["fold"] == fold and metrics["seed"] == seed
            assert (out / model_file).stat().st_size > 0
            pred = pd.read_csv(out / "predictions.csv")
            # a fold's predictions are exactly its test subjects' windows, for every kind of model
            test_subjects = set(folds.loc[folds["fold"] == fold, "subject"])
            assert set(pred["subject"]) == test_subjects and len(pred) == 12 * len(test_subjects)
            assert len(pd.read_csv(out / "history.csv")) >= 1
    summary = pd.read_csv(d / "results/report/summary.csv")
    # each model as the mean over its seeds, and its ensemble as a model of its own
    assert set(summary["model"]) == set(DEMO_MODELS) | {f"{m}_ensemble" for m in DEMO_MODELS}
    assert {"segment", "recording", "subject"} <= set(summary["level"])
    acc = summary[(summary["metric"] == "balanced_accuracy")]
    assert ((acc["ci_low"] <= acc["value"]) & (acc["value"] <= acc["ci_high"])).all()
    ranking = pd.read_csv(d / "results/report/ranking.csv")
    # the leaky run is not ranked
    assert sorted(ranking["model"]) == sorted(set(DEMO_MODELS) | {f"{m}_ensemble" for m in DEMO_MODELS})
    seeds = pd.read_csv(d / "results/report/seeds.csv")
    assert set(seeds["seed"]) == set(SEEDS) and set(seeds["model"]) == set(DEMO_MODELS)
    calibration = pd.read_csv(d / "results/report/calibration.csv")
    assert {"model", "level", "ece", "brier", "n"} <= set(calibration.columns)
    # temperature scaling: ECE before and after for the CNNs
    assert {"before", "after"} <= set(calibration["calibrated"])
    stats = pd.read_csv(d / "results/report/statistics.csv")
    assert {"vs best", "pretrained vs scratch"} <= set(stats["comparison"])
    pair = stats[stats["comparison"] == "pretrained vs scratch"]
    assert set(zip(pair["model"], pair["reference"])) == {("lite0_imagenet_ensemble", "lite0_scratch_ensemble")}
    leak = json.loads((d / "results/leak/resnet18/metrics.json").read_text())
    assert leak["split"] == "random_windows" and leak["subjects_in_train_and_test"] > 0
    assert set(pd.read_csv(d / "results/report/leak.csv")["model"]) == {"resnet18"}
    md = (d / "results/report/report.md").read_text()
    for section in (
        "## Provenance",
        "## Main table",
        "## Model comparison",
        "## Statistics",
        "## Per-class ROC",
        "## Calibration",
        "## Explanation maps",
        "## Scalograms",
        "## Leaky split",
    ):
        assert section in md, section
    assert "SYNTHETIC DATA" in md.split("## Main table")[0]
    for model in ("resnet18", "lite0_imagenet", "lite0_scratch"):
        bands = pd.read_csv(d / f"results/report/attribution_{model}.csv")
        assert set(bands["class"]) == {"ARR", "CHF", "NSR"}
        assert (d / f"results/report/figures/attribution_{model}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for fig in ("model_comparison.png", "roc.png"):
        assert (d / "results/report/figures" / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (d / "results/report/report.html").stat().st_size > 1000
    assert (d / "results/report/figures/scalogram_gallery.png").stat().st_size > 1000


def test_nothing_to_do_after_a_complete_run(demo_checkout):
    r = demo_snakemake(demo_checkout, "-n")
    assert r.returncode == 0 and "Nothing to be done" in r.output, r.output


def test_training_change_does_not_rebuild_scalograms(demo_checkout, tmp_path):
    cfg = write_config(tmp_path / "more_epochs.yaml", {"training": {"epochs": 4}})
    r = demo_snakemake(demo_checkout, "-n", configfiles=[cfg])
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    # every 2D CNN x fold x seed (and the leaky run) follows training; the baselines' own settings did not change
    assert jobs.get("train") == 18 and jobs.get("leak") == 1 and "scalograms" not in jobs and "segment" not in jobs
    assert "train_wavelet" not in jobs and "train_cnn1d" not in jobs


def test_cwt_change_rebuilds_scalograms_and_what_follows(demo_checkout, tmp_path):
    cfg = write_config(tmp_path / "amor.yaml", {"cwt": {"wavelet": "amor"}})
    r = demo_snakemake(demo_checkout, "-n", configfiles=[cfg])
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    assert jobs.get("scalograms") == 1 and jobs.get("train") == 18 and "segment" not in jobs
    assert "train_wavelet" not in jobs  # the baselines read the segments, not the scalograms


def test_snakemake_report_builds_with_captions(demo_checkout, tmp_path):
    report = tmp_path / "report.html"
    r = demo_snakemake(demo_checkout, "--report", str(report))
    assert r.returncode == 0, r.output[-3000:]
    page = report.read_text(errors="replace")
    # the captions of the main table, the statistics and the comparison figure are in the page
    for name in ("ranking.csv", "statistics.csv", "model_comparison.png", "roc.png", "leak.csv"):
        assert name in page, name
