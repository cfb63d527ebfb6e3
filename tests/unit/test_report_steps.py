"""The report's steps one at a time: pool, ensemble, score, tests, figures, page.

The models are the constructed ones of ``test_report`` (each subject's windows get their
highest probability on the true class, or on the next class for the subjects a model is
meant to get wrong), plus a model trained with two seeds, so what each step must produce
is known by construction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecgcwt.errors import DataError
from ecgcwt.evaluate.report import ModelRuns
from ecgcwt.evaluate.report_steps import (
    ReportSettings,
    compare_step,
    ensemble_step,
    figures_step,
    page_step,
    pool_step,
    score_step,
)

from .test_report import ALL_SUBJECTS, CLASSES, PNG, make_leak, write_model

SETTINGS = ReportSettings(classes=tuple(CLASSES), n_boot=20, ci=0.9, seed=1)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """resnet18 with two seeds (1 and 3 subjects wrong), cnn1d (2 wrong), wavelet_svm (6 wrong, no epochs)."""
    tmp = tmp_path_factory.mktemp("steps")
    runs = {s: write_model(tmp / f"seed{s}", "resnet18", ALL_SUBJECTS[:n], seed=s)[0] for s, n in ((0, 1), (1, 3))}
    hist = write_model(tmp / "seed0", "resnet18", ALL_SUBJECTS[:1], seed=0, history_rows=4)[1]
    cnn1d, cnn1d_hist = write_model(tmp, "cnn1d", ALL_SUBJECTS[:2], seed=5, history_rows=4)
    wavelet, wavelet_hist = write_model(tmp, "wavelet_svm", ALL_SUBJECTS[:6], seed=7, history_rows=1)
    return [
        ModelRuns("resnet18", "cnn2d", runs[0], hist, backbone="resnet18", pretrained="none", seeds=runs),
        ModelRuns("cnn1d", "cnn1d", cnn1d, cnn1d_hist),
        ModelRuns("wavelet_svm", "wavelet", wavelet, wavelet_hist),
    ], tmp


@pytest.fixture(scope="module")
def steps(models):
    """Every step's result, each step fed the one before."""
    ms, tmp = models
    pooled = pool_step(ms, CLASSES)
    ens = ensemble_step(pooled, CLASSES)
    scores = score_step(ens, SETTINGS)
    tests = compare_step(ens, scores, make_leak(tmp), SETTINGS)
    return pooled, ens, scores, tests


def test_pool_step_pools_every_fold_of_every_seed(models, steps):
    pooled = steps[0]
    assert [m.name for m in pooled.models] == ["resnet18", "cnn1d", "wavelet_svm"]
    assert sorted(pooled.per_seed["resnet18"]) == [0, 1] and sorted(pooled.per_seed["cnn1d"]) == [0]
    df = pooled.per_seed["resnet18"][1]
    # 18 subjects x 2 leads x 3 windows, each fold's test subjects once, the fold they came from kept
    assert len(df) == 108 and sorted(df["fold"].unique()) == ["0", "1", "2"]
    assert df.groupby("subject")["fold"].nunique().max() == 1
    wrong = df.groupby("subject").apply(lambda g: (g["pred_index"] != g["label_index"]).all(), include_groups=False)
    assert sorted(wrong[wrong].index) == ALL_SUBJECTS[:3]


def test_pool_step_refuses_models_tested_on_other_subjects(models, tmp_path):
    ms, _ = models
    fewer, _ = write_model(tmp_path, "resnet50", drop_subject=ALL_SUBJECTS[4])
    with pytest.raises(DataError, match="resnet50.*not tested on the same subjects|not tested on the same subjects"):
        pool_step([ms[1], ModelRuns("resnet50", "cnn2d", fewer)], CLASSES)


def test_ensemble_step_adds_the_mean_of_the_seeds_after_its_model(steps):
    pooled, ens, _, _ = steps
    assert [m.name for m in ens.models] == ["resnet18", "resnet18_ensemble", "cnn1d", "wavelet_svm"]
    assert ens.several == {"resnet18"} and ens.n_seeds["resnet18_ensemble"] == 2
    cols = [f"prob_{c}" for c in CLASSES]
    a, b = (pooled.per_seed["resnet18"][s].sort_values("segment") for s in (0, 1))
    got = ens.pooled["resnet18_ensemble"].sort_values("segment")
    np.testing.assert_allclose(got[cols].to_numpy(), (a[cols].to_numpy() + b[cols].to_numpy()) / 2)
    # a one-seed model is passed on as it was pooled
    assert ens.pooled["cnn1d"] is pooled.per_seed["cnn1d"][0]
    assert [m.name for m in ens.single(ens.models)] == ["resnet18_ensemble", "cnn1d", "wavelet_svm"]


def test_score_step_ranks_by_subject_balanced_accuracy(steps):
    _, ens, scores, _ = steps
    ranking = scores.ranking
    assert [m.name for m in scores.ranked] == list(ranking["model"])
    assert ranking["subject_balanced_accuracy"].is_monotonic_decreasing
    assert set(ranking["model"]) == {m.name for m in ens.models}
    r = ranking.set_index("model")
    # 2 of 18 subjects wrong for cnn1d (6 per class): balanced accuracy is the mean recall
    cnn1d = scores.summary.query("model == 'cnn1d' and level == 'subject' and metric == 'accuracy'")
    assert cnn1d["value"].iloc[0] == pytest.approx(16 / 18)
    assert r.loc["resnet18", "n_seeds"] == 2 and r.loc["wavelet_svm", "n_seeds"] == 1
    assert set(scores.seeds["model"]) == {"resnet18", "cnn1d", "wavelet_svm"}
    assert set(scores.calibration["model"]) == {m.name for m in ens.models}
    assert set(scores.reliability) == {m.name for m in ens.models}
    assert sorted(scores.per_fold["fold"].astype(str).unique()) == ["0", "1", "2"]


def test_tests_step_compares_single_predictions_with_the_best(steps):
    _, _, scores, tests = steps
    st = tests.statistics
    best = [m for m in scores.ranking["model"] if m != "resnet18"][0]
    assert set(st["reference"]) == {best} and set(st["comparison"]) == {"vs best"}
    # the mean over seeds has no prediction per unit: only its ensemble is tested
    assert "resnet18" not in set(st["model"]) | set(st["reference"])
    assert set(st["level"]) == {"subject", "recording"}
    assert list(tests.leak["model"]) == ["resnet18"]


def test_tests_step_without_leaky_runs_has_no_leak_table(steps):
    _, ens, scores, _ = steps
    assert compare_step(ens, scores, (), SETTINGS).leak is None


def test_figures_step_draws_into_its_folder_only(steps, tmp_path):
    _, ens, scores, _ = steps
    fig_dir = tmp_path / "figs"
    figures = figures_step(ens, scores, SETTINGS, fig_dir)
    drawn = {p.name for p in fig_dir.iterdir()}
    single = ["resnet18_ensemble", "cnn1d", "wavelet_svm"]
    expected = {"model_comparison.png", "roc.png"}
    expected |= {f"confusion_{m}_{lv}.png" for m in single for lv in ("subject", "recording")}
    # epochs: resnet18 and cnn1d (the ensemble has no history of its own; the wavelet model one row)
    expected |= {"training_curves_resnet18.png", "training_curves_cnn1d.png"}
    expected |= {f"reliability_{m.name}.png" for m in ens.models}
    assert drawn == expected and list(tmp_path.iterdir()) == [fig_dir]
    for p in fig_dir.iterdir():
        assert p.read_bytes()[:8] == PNG, p.name
    assert [name for name, _ in figures.curves] == [n for n in scores.ranking["model"] if n in ("resnet18", "cnn1d")]
    assert {m: [lv for lv, _ in v] for m, v in figures.confusions.items()} == {
        m: ["subject", "recording"] for m in single
    }


def test_page_step_writes_tables_and_page_from_the_steps(steps, tmp_path):
    _, ens, scores, tests = steps
    figures = figures_step(ens, scores, SETTINGS, tmp_path / "figures")
    page_step(ens, scores, tests, figures, SETTINGS, tmp_path)
    for name in ("summary.csv", "per_fold.csv", "ranking.csv", "statistics.csv", "seeds.csv", "calibration.csv"):
        assert (tmp_path / name).is_file(), name
    saved = pd.read_csv(tmp_path / "ranking.csv")
    assert list(saved["model"]) == list(scores.ranking["model"])
    np.testing.assert_allclose(saved["subject_balanced_accuracy"], scores.ranking["subject_balanced_accuracy"])
    assert set(pd.read_csv(tmp_path / "leak.csv")["model"]) == {"resnet18"}
    md = (tmp_path / "report.md").read_text()
    page = (tmp_path / "report.html").read_text()
    assert "## Main table" in md and "resnet18_ensemble" in md
    # every figure the figures step drew is in the page, embedded
    n_figures = len(list((tmp_path / "figures").iterdir()))
    assert page.count("data:image/png;base64,") == n_figures


def test_report_settings_refuse_bad_values():
    with pytest.raises(ValueError, match="alpha"):
        ReportSettings(classes=("A", "B"), alpha=1.5)
    with pytest.raises(Exception, match="bootstrap|ci"):
        ReportSettings(classes=("A", "B"), ci=2.0)
