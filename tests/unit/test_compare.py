"""Experiments compared: one table, paired differences to a reference, exact McNemar, Holm, sentences.

Predictions are built as in test_report.py: each model's right and wrong subjects are set by
construction, so the discordant counts are known; the McNemar reference is
``scipy.stats.binomtest(b, b + c, 0.5).pvalue`` and Holm's adjustment is worked by hand below.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from ecgcwt.config import default_config, run_provenance
from ecgcwt.errors import DataError
from ecgcwt.evaluate.compare import (
    COMPARISON_COLUMNS,
    DIFFERENCE_COLUMNS,
    ExperimentResult,
    build_comparison,
    holm,
    training_seconds,
)
from ecgcwt.evaluate.report import ModelRuns
from ecgcwt.evaluate.report_steps import build_report

from ..conftest import REPO
from .test_report import ALL_SUBJECTS, CLASSES, write_model

# subjects each experiment's model gets wrong (18 subjects, 6 per class)
WRONG = {
    "morse": {"resnet18": ALL_SUBJECTS[:6], "cnn1d": ALL_SUBJECTS[:3]},
    "amor": {"resnet18": ALL_SUBJECTS[:1], "cnn1d": ALL_SUBJECTS[:3]},
    "small": {"resnet18": ALL_SUBJECTS[:16], "cnn1d": ALL_SUBJECTS[:4]},
}


def benchmark(path, seconds):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("s\th:m:s\tmax_rss\n" + f"{seconds}\t0:00:{int(seconds):02d}\t100.0\n")
    return path


@pytest.fixture(scope="module")
def experiments(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("experiments")
    out = []
    for e, wrong in WRONG.items():
        models = []
        for i, (name, bad) in enumerate(wrong.items()):
            preds, hists = write_model(tmp / e, name, bad, seed=7 * i)
            models.append(ModelRuns(name=name, kind="cnn2d" if name == "resnet18" else "cnn1d", predictions=preds))
        report = tmp / e / "report"
        build_report(models, report, classes=CLASSES, n_boot=50, ci=0.9, seed=0)
        timings = {
            m.name: [benchmark(tmp / e / "bench" / f"{m.name}_{f}.tsv", 10 + f) for f in range(3)] for m in models
        }
        out.append(
            ExperimentResult(
                name=e,
                summary=report / "summary.csv",
                calibration=report / "calibration.csv",
                models=models,
                timings=timings,
            )
        )
    return out


@pytest.fixture(scope="module")
def built(experiments, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    config = default_config()
    config["data"]["source"] = "synthetic"
    comparison, differences = build_comparison(
        experiments,
        out,
        reference="morse",
        classes=CLASSES,
        n_boot=200,
        ci=0.95,
        seed=0,
        provenance=run_provenance(config, REPO),
        settings={"morse": {"cwt.wavelet": "morse"}, "amor": {"cwt.wavelet": "amor"}, "small": {}},
    )
    return out, comparison, differences


def test_holm_matches_the_worked_example():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; running maximum keeps order
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    out = holm([np.nan, 0.02])
    assert np.isnan(out[0]) and out[1] == pytest.approx(0.02)


def test_training_seconds_sums_the_benchmark_files(tmp_path):
    files = [benchmark(tmp_path / f"{i}.tsv", s) for i, s in enumerate((1.5, 2.25))]
    assert training_seconds(files) == pytest.approx(3.75)
    (tmp_path / "bad.tsv").write_text("x\n1\n")
    with pytest.raises(DataError, match="bad.tsv"):
        training_seconds([tmp_path / "bad.tsv"])


def test_differences_are_paired_on_subjects_with_exact_mcnemar_and_holm(built):
    out, _, differences = built
    assert list(differences.columns) == DIFFERENCE_COLUMNS
    assert list(zip(differences["experiment"], differences["model"])) == [
        ("amor", "resnet18"),
        ("amor", "cnn1d"),
        ("small", "resnet18"),
        ("small", "cnn1d"),
    ]
    row = differences.set_index(["experiment", "model"])
    # amor's resnet18 is right on 5 subjects morse's gets wrong and wrong on none it gets right
    assert (row.loc[("amor", "resnet18"), "b"], row.loc[("amor", "resnet18"), "c"]) == (5, 0)
    assert (row.loc[("small", "resnet18"), "b"], row.loc[("small", "resnet18"), "c"]) == (0, 10)
    assert (row.loc[("amor", "cnn1d"), "b"], row.loc[("amor", "cnn1d"), "c"]) == (0, 0)
    for r in differences.itertuples():
        assert r.p_value == pytest.approx(binomtest(r.b, r.b + r.c, 0.5).pvalue if r.b + r.c else 1.0)
        assert r.ci_low <= r.difference <= r.ci_high
        assert r.n_subjects == 18 and not r.few_subjects
    assert differences["p_holm"].to_numpy() == pytest.approx(holm(differences["p_value"]))
    assert row.loc[("amor", "resnet18"), "difference"] > 0 > row.loc[("small", "resnet18"), "difference"]
    sentences = list(differences["sentence"])
    assert sentences[1].startswith("amor vs morse, cnn1d: +0.00 [")
    assert sentences[1].endswith("p_holm 1: no evidence of a difference on 18 subjects")
    assert "small vs morse, resnet18: \u2212" in sentences[2] and "morse is better on these 18 subjects" in sentences[2]
    assert (out / "differences.csv").is_file()


def test_comparison_csv_has_every_experiment_model_metric_time_and_p_holm(built):
    out, comparison, differences = built
    table = pd.read_csv(out / "comparison.csv")
    assert list(table.columns) == COMPARISON_COLUMNS
    assert set(table["experiment"]) == {"morse", "amor", "small"}
    ba = table[(table["level"] == "subject") & (table["metric"] == "balanced_accuracy")]
    assert len(ba) == 6 and ba["ci_low"].le(ba["value"]).all() and ba["n_subjects"].eq(18).all()
    time = table[table["metric"] == "training_time_s"]
    assert len(time) == 6 and time["value"].eq(33).all()  # 10 + 11 + 12 s
    assert len(table[table["metric"] == "ece"]) > 0
    diff = table[table["metric"] == "balanced_accuracy_difference"]
    assert len(diff) == 4 and diff["p_holm"].notna().all() and diff["reference"].eq("morse").all()
    assert diff["value"].to_numpy() == pytest.approx(differences["difference"].to_numpy())


def test_report_html_has_banner_table_forest_sentences_and_provenance(built):
    out, _, differences = built
    html = (out / "report.html").read_text()
    assert "SYNTHETIC DATA" in html
    for text in ("Experiments x models", "Differences to the reference experiment (morse)", "Provenance"):
        assert text in html
    for sentence in differences["sentence"]:
        assert sentence in html
    assert html.count("data:image/png;base64,") >= 1
    assert (out / "figures" / "forest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_few_subjects_per_class_are_marked(tmp_path):
    def experiment(name, wrong):
        preds, _ = write_model(tmp_path / name, "m", wrong)
        # keep 2 subjects of one fold only (2 classes x 1 subject x ... too few people)
        models = [ModelRuns(name="m", kind="cnn1d", predictions=preds[:1])]
        build_report(models, tmp_path / name / "report", classes=CLASSES, n_boot=20, seed=0)
        return ExperimentResult(name=name, summary=tmp_path / name / "report" / "summary.csv", models=models)

    a, b = experiment("a", ALL_SUBJECTS[:1]), experiment("b", [])
    _, differences = build_comparison([a, b], tmp_path / "out", reference="a", classes=CLASSES, n_boot=50)
    r = differences.iloc[0]
    assert r["few_subjects"] and "cannot show a difference between people" in r["sentence"]


def test_unknown_reference_and_unpaired_subjects_are_refused(experiments, tmp_path):
    with pytest.raises(DataError, match="reference experiment 'nope'"):
        build_comparison(experiments, tmp_path, reference="nope", classes=CLASSES)
    m = experiments[1].models[0]
    short = ExperimentResult(
        name="short",
        summary=experiments[1].summary,
        models=[ModelRuns(name=m.name, kind=m.kind, predictions=m.predictions[:2])],
    )
    with pytest.raises(DataError, match="short vs morse, resnet18"):
        build_comparison([experiments[0], short], tmp_path, reference="morse", classes=CLASSES)


def test_the_reference_s_own_trained_model_is_not_compared(experiments, tmp_path):
    # amor's cnn1d is the very model morse trained (same key): its settings do not reach it
    keyed = [
        ExperimentResult(
            name=e.name, summary=e.summary, models=e.models, model_keys={"cnn1d": "k1" if e.name != "small" else "k2"}
        )
        for e in experiments
    ]
    _, differences = build_comparison(keyed, tmp_path, reference="morse", classes=CLASSES, n_boot=50)
    assert list(zip(differences["experiment"], differences["model"])) == [
        ("amor", "resnet18"),
        ("small", "resnet18"),
        ("small", "cnn1d"),
    ]
    assert "Not compared, being the reference's own trained model" in (tmp_path / "report.md").read_text()
    assert "amor (cnn1d)" in (tmp_path / "report.md").read_text()
