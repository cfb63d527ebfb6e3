"""The evaluation report: several named models pooled over folds, ranked and compared on the same subjects.

Predictions are built in the test with the predictions contract
(:func:`ecgcwt.evaluate.predictions.build_predictions`). In the constructed case every
window of a subject gets its highest probability on the true class, or on a
wrong class for the subjects a model is meant to get wrong, so each model's
correctness per subject and per recording is known by construction. The
McNemar reference values are ``scipy.stats.binomtest(b, b + c, 0.5).pvalue``:
the exact McNemar test is the two-sided binomial test of the discordant pairs
against 1/2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score

from ecgcwt.errors import ConfigError, DataError
from ecgcwt.evaluate.metrics import aggregate, flat_metrics
from ecgcwt.evaluate.predictions import build_predictions
from ecgcwt.evaluate.report import (
    LEAK_COLUMNS,
    RANKING_COLUMNS,
    STATISTICS_COLUMNS,
    SUMMARY_COLUMNS,
    LeakRun,
    ModelRuns,
    min_discordant_for_significance,
    pretrained_scratch_pairs,
    resolve_evaluate_config,
    wins_needed,
)
from ecgcwt.evaluate.report_figures import roc_points
from ecgcwt.evaluate.report_render import anchor
from ecgcwt.evaluate.report_steps import build_report

CLASSES = ["ARR", "CHF", "NSR"]
N_FOLDS = 3
PER_FOLD = 6  # subjects per fold: 18 subjects, 6 per class, 2 leads x 3 windows each
PNG = b"\x89PNG\r\n\x1a\n"
#: The report's sections in order: the results first, how they were made last.
SECTIONS = [
    "Main table",
    "Model comparison",
    "Statistics",
    "Per-class ROC",
    "Calibration",
    "Per-model details",
    "Training curves",
    "Leaky split (for comparison only)",
    "Protocol",
    "Settings",
]
LEAK_SECTION = "Leaky split (for comparison only)"


def segment_rows(fold, n_subjects=PER_FOLD, leads=2, windows=3):
    """Segment-table rows of one fold's test subjects ``f{fold}s{i}`` (label cycles through the classes)."""
    rows = []
    for s in range(n_subjects):
        label = (s + fold) % 3
        subject = f"f{fold}s{s}"
        for lead in range(leads):
            for w in range(windows):
                rows.append(
                    {
                        "segment": 1000 * fold + 10 * (leads * s + lead) + w,
                        "db": "db",
                        "record": subject,
                        "subject": subject,
                        "recording": f"db/{subject}/{lead}",
                        "lead": lead,
                        "label": CLASSES[label],
                        "label_index": label,
                    }
                )
    return pd.DataFrame(rows)


ALL_SUBJECTS = sorted(f"f{f}s{s}" for f in range(N_FOLDS) for s in range(PER_FOLD))


def probs_for(rows, wrong=(), seed=0):
    """Class probabilities: the top one on the true class, or on the next class for subjects in ``wrong``."""
    rng = np.random.default_rng(seed)
    probs = np.empty((len(rows), len(CLASSES)))
    for i, (subject, y) in enumerate(zip(rows["subject"], rows["label_index"])):
        top = (y + 1) % 3 if subject in wrong else y
        p = rng.uniform(0.5, 0.9)
        rest = rng.dirichlet([1, 1]) * (1 - p)
        probs[i] = np.roll(np.r_[p, rest], top)
    return probs


def write_model(tmp_path, name, wrong=(), seed=0, history_rows=3, drop_subject=None):
    """predictions.csv and history.csv of every fold of model ``name``; returns the (fold, path) lists."""
    preds, hists = [], []
    for fold in range(N_FOLDS):
        rows = segment_rows(fold)
        if drop_subject is not None:
            rows = rows[rows["subject"] != drop_subject]
        p = tmp_path / name / f"fold{fold}" / "predictions.csv"
        h = tmp_path / name / f"fold{fold}" / "history.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        build_predictions(rows, probs_for(rows, set(wrong), seed + fold), CLASSES).to_csv(p, index=False)
        write_history(h, fold, history_rows)
        preds.append((fold, p))
        hists.append((fold, h))
    return preds, hists


def write_history(path, seed, n=3):
    rng = np.random.default_rng(seed)
    pd.DataFrame(
        {
            "epoch": np.arange(1, n + 1),
            "train_loss": np.linspace(1.0, 0.5, n),
            "val_loss": 1 - 0.1 * rng.random(n),
            "val_balanced_acc": np.linspace(0.3, 0.6, n),
        }
    ).to_csv(path, index=False)


def write_fold_predictions(path, fold, n_subjects=4, skill=0.7, seed=0):
    """predictions.csv of one fold with random, mostly correct probabilities (subjects f{fold}s{i})."""
    rng = np.random.default_rng(seed + fold)
    rows = segment_rows(fold, n_subjects)
    probs = rng.dirichlet(np.ones(3), len(rows))
    probs[np.arange(len(rows)), rows["label_index"]] += skill * rng.random(len(rows))
    build_predictions(rows, probs / probs.sum(axis=1, keepdims=True), CLASSES).to_csv(path, index=False)


# by construction: nested sets of wrongly classified subjects, spread over the classes
WRONG = {
    "resnet18": ALL_SUBJECTS[:1],
    "cnn1d": ALL_SUBJECTS[:4],
    "resnet18_scratch": ALL_SUBJECTS[:7],
    "wavelet_svm": ALL_SUBJECTS[:11],
}
EXPECTED_RANKING = ["resnet18", "cnn1d", "resnet18_scratch", "wavelet_svm"]


def make_models(tmp_path):
    specs = {
        # listed in an order other than the expected ranking
        "wavelet_svm": dict(kind="wavelet"),
        "resnet18_scratch": dict(kind="cnn2d", backbone="resnet18", pretrained="none", strategy="scratch"),
        "cnn1d": dict(kind="cnn1d"),
        "resnet18": dict(kind="cnn2d", backbone="resnet18", pretrained="imagenet", strategy="finetune"),
    }
    out = []
    for i, (name, spec) in enumerate(specs.items()):
        preds, hists = write_model(
            tmp_path, name, WRONG[name], seed=10 * i, history_rows=1 if name == "wavelet_svm" else 4
        )
        out.append(ModelRuns(name=name, predictions=preds, histories=hists, **spec))
    return out


def make_leak(tmp_path):
    """One random window split of resnet18: 30% of all windows, every one right."""
    rows = pd.concat([segment_rows(f) for f in range(N_FOLDS)]).sample(frac=0.3, random_state=0)
    p = tmp_path / "leak" / "predictions.csv"
    p.parent.mkdir()
    build_predictions(rows, probs_for(rows, set(), 7), CLASSES).to_csv(p, index=False)
    return [LeakRun(name="resnet18", predictions=p)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inputs")
    return make_models(tmp), make_leak(tmp)


@pytest.fixture
def models(inputs):
    return list(inputs[0])


@pytest.fixture
def leak(inputs):
    return list(inputs[1])


@pytest.fixture(scope="module")
def full(inputs, tmp_path_factory):
    """The report of all models with the leaky run (built once for the tests that only read it)."""
    out = tmp_path_factory.mktemp("full")
    summary = build_report(
        inputs[0],
        out,
        classes=CLASSES,
        n_boot=100,
        ci=0.9,
        seed=1,
        alpha=0.05,
        leak=inputs[1],
        extra={"training.epochs": 4},
    )
    return out, summary


@pytest.fixture(scope="module")
def plain(inputs, tmp_path_factory):
    """The same without the leaky run."""
    out = tmp_path_factory.mktemp("plain")
    build_report(inputs[0], out, classes=CLASSES, n_boot=100, ci=0.9, seed=1)
    return out


def headings(text, prefix):
    return [line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)]


def test_report_files_tables_and_ranking(models, full):
    out, summary = full
    figures = [
        "model_comparison.png",
        "roc.png",
        *[f"confusion_{m.name}_{lv}.png" for m in models for lv in ("subject", "recording")],
        *[f"training_curves_{n}.png" for n in ("resnet18", "resnet18_scratch", "cnn1d")],
        *[f"reliability_{m.name}.png" for m in models],
    ]
    for name in [
        "summary.csv",
        "per_fold.csv",
        "ranking.csv",
        "statistics.csv",
        "leak.csv",
        "calibration.csv",
        "report.md",
        "report.html",
    ]:
        assert (out / name).is_file(), name
    for name in figures:
        assert (out / "figures" / name).read_bytes()[:8] == PNG, name
    # the wavelet baseline has a one-row history: no training curves
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(figures)

    saved = pd.read_csv(out / "summary.csv")
    assert list(saved.columns) == SUMMARY_COLUMNS and len(summary) == len(saved)
    assert set(saved["model"]) == set(WRONG) and set(saved["level"]) == {
        "segment",
        "recording",
        "recording_vote",
        "subject",
    }
    assert dict(saved.drop_duplicates("model")[["model", "kind"]].to_numpy()) == {
        "wavelet_svm": "wavelet",
        "resnet18_scratch": "cnn2d",
        "cnn1d": "cnn1d",
        "resnet18": "cnn2d",
    }
    row = saved[(saved.model == "cnn1d") & (saved.level == "segment") & (saved.metric == "accuracy")].iloc[0]
    assert (row.n_segments, row.n_recordings, row.n_subjects) == (108, 36, 18)
    # the point value is the metric of the pooled folds
    pooled = pd.concat([pd.read_csv(p) for _, p in models[2].predictions])
    expected = flat_metrics(
        pooled["label_index"], pooled["pred_index"], pooled[[f"prob_{c}" for c in CLASSES]].to_numpy(), CLASSES
    )
    assert row.value == pytest.approx(expected["accuracy"]) == pytest.approx(1 - 4 / 18)
    finite = saved.dropna(subset=["value", "ci_low", "ci_high"])
    assert (finite.ci_low <= finite.value + 1e-12).all() and (finite.value <= finite.ci_high + 1e-12).all()
    per_fold = pd.read_csv(out / "per_fold.csv")
    assert list(per_fold.columns) == ["model", "fold", "level", "metric", "value"]
    assert sorted(per_fold["fold"].unique()) == [0, 1, 2]

    ranking = pd.read_csv(out / "ranking.csv")
    assert list(ranking.columns) == RANKING_COLUMNS
    assert list(ranking["model"]) == EXPECTED_RANKING and list(ranking["rank"]) == [1, 2, 3, 4]
    assert (ranking["n_subjects"] == 18).all()
    assert ranking["subject_balanced_accuracy"].is_monotonic_decreasing
    r0 = ranking.iloc[0]
    assert (r0.kind, r0.backbone, r0.pretrained, r0.strategy) == ("cnn2d", "resnet18", "imagenet", "finetune")
    assert r0.subject_balanced_accuracy == pytest.approx(
        saved.query("model == 'resnet18' and level == 'subject' and metric == 'balanced_accuracy'").value.iloc[0]
    )
    for level in ("subject", "recording", "segment"):
        col = f"{level}_balanced_accuracy"
        assert (ranking[f"{col}_ci_low"] <= ranking[col] + 1e-12).all()
        assert (ranking[col] <= ranking[f"{col}_ci_high"] + 1e-12).all()


def test_report_sections_in_order_and_self_contained(full, plain):
    out, _ = full
    md = (out / "report.md").read_text()
    assert headings(md, "## ") == SECTIONS
    assert headings((plain / "report.md").read_text(), "## ") == [h for h in SECTIONS if h != LEAK_SECTION]
    assert "resamples of *subjects*" in md and "100 resamples" in md and "same 18 subjects" in md
    assert "| training.epochs | 4 |" in md
    assert "figures/model_comparison.png" in md and "figures/roc.png" in md
    assert "figures/confusion_resnet18_subject.png" in md
    # one subsection per model in the details, in ranking order
    details = [h.split(":")[0] for h in headings(md, "### ") if not h.startswith(("Against", "Pretrained"))]
    assert details == EXPECTED_RANKING
    page = (out / "report.html").read_text()
    assert [h for h in SECTIONS if f'<h2 id="{anchor(h)}">{h}</h2>' in page] == SECTIONS
    positions = [page.index(f'<h2 id="{anchor(h)}">{h}</h2>') for h in SECTIONS]
    assert positions == sorted(positions)
    # comparison + ROC + 2 confusion matrices x 4 models + 3 training curves + 4 reliability, all embedded
    assert page.count("data:image/png;base64,") == 2 + 8 + 3 + 4
    assert 'src="figures/' not in page  # nothing linked: the file can be mailed alone
    assert "<table" in page and "wavelet_svm" in page


def test_statistics_match_exact_binomial_test(full):
    out, _ = full
    stats = pd.read_csv(out / "statistics.csv")
    assert list(stats.columns) == STATISTICS_COLUMNS
    ranking = pd.read_csv(out / "ranking.csv").set_index("model")
    vs_best = stats[stats["comparison"] == "vs best"]
    assert set(vs_best["reference"]) == {"resnet18"}
    assert sorted(vs_best["model"].unique()) == sorted(EXPECTED_RANKING[1:])
    for r in stats.itertuples():
        # subject level: b, c from the constructed sets of wrongly classified subjects;
        # recording level: each subject has 2 recordings, both right or both wrong
        right_m = set(ALL_SUBJECTS) - set(WRONG[r.model])
        right_r = set(ALL_SUBJECTS) - set(WRONG[r.reference])
        per = 1 if r.level == "subject" else 2
        assert (r.n_units, r.b, r.c) == (18 * per, per * len(right_m - right_r), per * len(right_r - right_m))
        assert r.n_discordant == r.b + r.c > 0
        # exact McNemar = two-sided binomial test of b out of b + c against 1/2
        assert r.p_value == pytest.approx(binomtest(r.b, r.b + r.c, 0.5).pvalue, rel=1e-12)
        assert r.significant == (r.p_value < 0.05)
        assert r.smallest_possible_p == pytest.approx(binomtest(r.n_discordant, r.n_discordant, 0.5).pvalue)
        assert r.accuracy_difference == pytest.approx((len(right_m) - len(right_r)) / 18)
        assert r.balanced_accuracy_difference_ci_low <= r.balanced_accuracy_difference + 1e-12
        assert r.balanced_accuracy_difference <= r.balanced_accuracy_difference_ci_high + 1e-12
        if r.level == "subject":
            assert r.balanced_accuracy_difference == pytest.approx(
                ranking.loc[r.model, "subject_balanced_accuracy"]
                - ranking.loc[r.reference, "subject_balanced_accuracy"]
            )
        assert r.interpretation.startswith(f"With {r.n_units} {r.level}s, {r.n_discordant} discordant")
    # wavelet vs best at subject level: 10 discordant, all one way: p = 2 / 2**10, significant
    w = stats.query("model == 'wavelet_svm' and level == 'subject'").iloc[0]
    assert (w.b, w.c, w.significant) == (0, 10, True) and w.p_value == pytest.approx(2 / 2**10)
    # cnn1d vs best: 3 discordant subjects can never reach p < 0.05
    c = stats.query("model == 'cnn1d' and level == 'subject'").iloc[0]
    assert (c.b, c.c, c.significant) == (0, 3, False) and pd.isna(c.wins_needed)
    md = (out / "report.md").read_text()
    assert "With only 3 discordant subjects, no split of them could reach p < 0.05" in md
    assert "at least 6 discordant subjects" in md
    assert "not evidence that they are equally good" in md


def test_pretrained_vs_scratch_pair_detected(full):
    out, _ = full
    stats = pd.read_csv(out / "statistics.csv")
    pair = stats[stats["comparison"] == "pretrained vs scratch"]
    assert list(pair["level"]) == ["subject", "recording"]
    assert set(pair["model"]) == {"resnet18"} and set(pair["reference"]) == {"resnet18_scratch"}
    s = pair.iloc[0]
    assert (s.b, s.c) == (6, 0) and s.p_value == pytest.approx(binomtest(6, 6, 0.5).pvalue)
    assert "### Pretrained vs from scratch (subject level)" in (out / "report.md").read_text()

    def m(name, **kw):
        return ModelRuns(name=name, predictions=[(0, "x")], **kw)

    candidates = [
        m("r18", kind="cnn2d", backbone="resnet18", pretrained="imagenet", strategy="finetune"),
        m("r18_probe", kind="cnn2d", backbone="resnet18", pretrained="imagenet", strategy="linear_probe"),
        m("r18_none", kind="cnn2d", backbone="resnet18", pretrained="none", strategy="finetune"),
        m("r18_scratch", kind="cnn2d", backbone="resnet18", pretrained="imagenet", strategy="scratch"),
        m("sq_scratch", kind="cnn2d", backbone="squeezenet1_1", pretrained="none", strategy="scratch"),
        m("sq_file", kind="cnn2d", backbone="squeezenet1_1", pretrained="weights/sq.pth", strategy="finetune"),
        m("cnn1d", kind="cnn1d"),
        m("wav", kind="wavelet"),
    ]
    assert pretrained_scratch_pairs(candidates) == [
        ("r18", "r18_none"),
        ("r18", "r18_scratch"),
        ("r18_probe", "r18_none"),
        ("r18_probe", "r18_scratch"),
        ("sq_file", "sq_scratch"),
    ]


def test_leak_only_when_given_and_never_ranked(models, leak, full, plain, tmp_path):
    md = (plain / "report.md").read_text()
    assert "Leaky split" not in md and not (plain / "leak.csv").exists()

    out, _ = full
    md = (out / "report.md").read_text()
    # after every result, before how the report was made (protocol, settings)
    sections = headings(md, "## ")
    assert sections[sections.index("Protocol") - 1] == LEAK_SECTION
    assert "Windows of one person then end up on both sides of the split" in md
    assert "window bootstrap" in md
    table = pd.read_csv(out / "leak.csv")
    assert list(table.columns) == LEAK_COLUMNS and list(table["model"]) == ["resnet18"]
    r = table.iloc[0]
    assert r.leaky_segment_accuracy == 1.0 and r.n_windows == 32
    ranking = pd.read_csv(out / "ranking.csv")
    assert sorted(ranking["model"]) == sorted(WRONG) and len(ranking) == 4  # the leaky run is not a model
    honest = ranking.set_index("model").loc["resnet18"]
    assert r.honest_subject_balanced_accuracy == pytest.approx(honest.subject_balanced_accuracy)
    assert r.honest_segment_balanced_accuracy == pytest.approx(honest.segment_balanced_accuracy)
    # the leaky run is in neither the statistics nor the comparison
    pd.testing.assert_frame_equal(pd.read_csv(out / "statistics.csv"), pd.read_csv(plain / "statistics.csv"))
    with pytest.raises(DataError, match="mirrors no model"):
        build_report(models, tmp_path / "x", classes=CLASSES, n_boot=10, leak=[LeakRun("vgg16", leak[0].predictions)])


def test_model_missing_subjects_is_refused(models, tmp_path):
    preds, _ = write_model(tmp_path / "short", "cnn1d", drop_subject="f1s2")
    models[2] = ModelRuns(name="cnn1d", kind="cnn1d", predictions=preds)
    with pytest.raises(
        DataError, match=r"models 'wavelet_svm' and 'cnn1d' were not tested on the same subjects"
    ) as info:
        build_report(models, tmp_path / "r", classes=CLASSES, n_boot=10)
    assert "1 only in wavelet_svm (f1s2)" in str(info.value)


def test_single_model_and_same_seed(models, tmp_path):
    one = [m for m in models if m.name == "resnet18"]
    a = build_report(one, tmp_path / "a", classes=CLASSES, n_boot=40, seed=3)
    b = build_report(one, tmp_path / "b", classes=CLASSES, n_boot=40, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert pd.read_csv(tmp_path / "a" / "statistics.csv").empty
    assert "nothing to compare" in (tmp_path / "a" / "report.md").read_text()


def test_bad_inputs_are_refused(tmp_path):
    write_fold_predictions(tmp_path / "a.csv", 0)
    write_fold_predictions(tmp_path / "b.csv", 0)  # the same subjects again, as "fold 1"
    run = ModelRuns(name="resnet18", kind="cnn2d", predictions=[(0, tmp_path / "a.csv"), (1, tmp_path / "b.csv")])
    with pytest.raises(DataError, match="more than one fold"):
        build_report([run], tmp_path / "r", classes=CLASSES, n_boot=10)
    missing = ModelRuns(name="resnet18", kind="cnn2d", predictions=[(0, tmp_path / "missing.csv")])
    with pytest.raises(DataError, match="resnet18 fold 0: .*does not exist"):
        build_report([missing], tmp_path / "r", classes=CLASSES, n_boot=10)
    with pytest.raises(DataError, match="given twice"):
        build_report([run, run], tmp_path / "r", classes=CLASSES, n_boot=10)
    with pytest.raises(ValueError, match="kind must be one of"):
        build_report([ModelRuns("x", "cnn3d", [(0, tmp_path / "a.csv")])], tmp_path / "r", classes=CLASSES)
    with pytest.raises(DataError, match="no models"):
        build_report([], tmp_path / "r", classes=CLASSES)


def test_power_facts_agree_with_binomial_test():
    assert min_discordant_for_significance(0.05) == 6  # 2 / 2**5 = 0.0625, 2 / 2**6 = 0.031
    assert binomtest(5, 5, 0.5).pvalue > 0.05 > binomtest(6, 6, 0.5).pvalue
    assert wins_needed(5, 0.05) is None and wins_needed(6, 0.05) == 6
    for d in range(6, 30):
        k = wins_needed(d, 0.05)
        assert binomtest(k, d, 0.5).pvalue < 0.05 <= binomtest(k - 1, d, 0.5).pvalue


def test_roc_areas_agree_with_the_summary(models, full):
    """The per-class AUCs of the ROC figure average to the summary's recording-level macro AUC."""
    _, summary = full
    m = next(m for m in models if m.name == "cnn1d")
    pooled = pd.concat([pd.read_csv(p) for _, p in m.predictions])
    agg = aggregate(pooled, "recording", CLASSES)
    y = agg["label_index"].to_numpy()
    areas = []
    for k, c in enumerate(CLASSES):
        fpr, tpr, area = roc_points(y, agg[f"prob_{c}"].to_numpy(), k)
        assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
        assert area == pytest.approx(roc_auc_score(y == k, agg[f"prob_{c}"]))
        areas.append(area)
    macro = summary.query("model == 'cnn1d' and level == 'recording' and metric == 'macro_auc'").value.iloc[0]
    assert np.mean(areas) == pytest.approx(macro)
    assert np.isnan(roc_points(np.zeros(4), np.ones(4), 0)[2])  # no negatives: undefined


def test_evaluate_config():
    assert resolve_evaluate_config(None) == {"bootstrap": 1000, "ci": 0.95, "seed": 0, "alpha": 0.05}
    assert resolve_evaluate_config({"bootstrap": 200})["bootstrap"] == 200
    with pytest.raises(ConfigError, match="evaluate.ci"):
        resolve_evaluate_config({"ci": 95})
    with pytest.raises(ConfigError, match="evaluate.alpha"):
        resolve_evaluate_config({"alpha": 1.5})
    with pytest.raises(ConfigError, match=r"evaluate: Additional properties are not allowed \('n_boot'"):
        resolve_evaluate_config({"n_boot": 10})


def test_one_seed_writes_seeds_csv_and_no_ensemble(full):
    out, _ = full
    seeds = pd.read_csv(out / "seeds.csv")
    assert list(seeds.columns) == ["model", "seed", "level", "balanced_accuracy", "accuracy", "n"]
    assert len(seeds) == 4 * 4 and set(seeds["seed"]) == {0}  # 4 models x 4 levels, one seed each
    ranking = pd.read_csv(out / "ranking.csv")
    assert not ranking["model"].str.endswith("_ensemble").any() and (ranking["n_seeds"] == 1).all()
    # one seed spans its own value
    assert np.allclose(ranking["subject_balanced_accuracy_seed_min"], ranking["subject_balanced_accuracy"])
    subj = seeds[(seeds["model"] == "resnet18") & (seeds["level"] == "subject")].iloc[0]
    assert subj["n"] == len(ALL_SUBJECTS)
    assert subj["balanced_accuracy"] == pytest.approx(
        ranking.set_index("model").loc["resnet18", "subject_balanced_accuracy"]
    )


def test_ensemble_probabilities_are_the_mean_of_the_seeds():
    from ecgcwt.evaluate import ensemble_predictions

    rows = segment_rows(0)
    a = build_predictions(rows, probs_for(rows, seed=1), CLASSES).assign(fold="0")
    b = build_predictions(rows, probs_for(rows, ALL_SUBJECTS, seed=2), CLASSES).assign(fold="0")
    cols = [f"prob_{c}" for c in CLASSES]
    ens = ensemble_predictions([a, b.sample(frac=1, random_state=0)], CLASSES)  # matched by window, not row
    np.testing.assert_allclose(ens[cols].to_numpy(), (a[cols].to_numpy() + b[cols].to_numpy()) / 2)
    assert (ens["pred_index"] == ens[cols].to_numpy().argmax(axis=1)).all()
    assert list(ens["pred_label"]) == [CLASSES[i] for i in ens["pred_index"]]
    with pytest.raises(DataError, match="same windows"):
        ensemble_predictions([a, b.iloc[1:]], CLASSES)
    # the probabilities before temperature scaling are averaged too (the ensemble's own "before" calibration)
    raw = [f"prob_raw_{c}" for c in CLASSES]
    ra = build_predictions(rows, probs_for(rows, seed=1), CLASSES, raw_probs=probs_for(rows, seed=3)).assign(fold="0")
    rb = build_predictions(rows, probs_for(rows, seed=2), CLASSES, raw_probs=probs_for(rows, seed=4)).assign(fold="0")
    ens = ensemble_predictions([ra, rb], CLASSES)
    np.testing.assert_allclose(ens[raw].to_numpy(), (ra[raw].to_numpy() + rb[raw].to_numpy()) / 2)


def test_several_seeds_mean_spread_ensemble_and_seeds_csv(tmp_path):
    runs, wrong_by_seed = {}, {0: ALL_SUBJECTS[:2], 1: ALL_SUBJECTS[:6], 2: ALL_SUBJECTS[:4]}
    for s, wrong in wrong_by_seed.items():
        runs[s], _ = write_model(tmp_path / f"seed{s}", "resnet18", wrong, seed=s)
    base, _ = write_model(tmp_path, "cnn1d", ALL_SUBJECTS[:5], seed=9)
    models = [
        ModelRuns(name="resnet18", kind="cnn2d", predictions=runs[0], seeds=runs, backbone="resnet18"),
        ModelRuns(name="cnn1d", kind="cnn1d", predictions=base),
    ]
    out = tmp_path / "r"
    build_report(models, out, classes=CLASSES, n_boot=50, ci=0.9, seed=1)
    seeds = pd.read_csv(out / "seeds.csv")
    subj = seeds[seeds["level"] == "subject"].set_index(["model", "seed"])["accuracy"]
    n = len(ALL_SUBJECTS)
    for s, wrong in wrong_by_seed.items():  # each seed gets exactly its wrong subjects wrong
        assert subj[("resnet18", s)] == pytest.approx(1 - len(wrong) / n)
    assert subj[("cnn1d", 0)] == pytest.approx(1 - 5 / n)
    ranking = pd.read_csv(out / "ranking.csv").set_index("model")
    assert set(ranking.index) == {"resnet18", "resnet18_ensemble", "cnn1d"}
    ba = seeds[(seeds["model"] == "resnet18") & (seeds["level"] == "subject")]["balanced_accuracy"]
    r = ranking.loc["resnet18"]
    assert r["n_seeds"] == 3 and r["subject_balanced_accuracy"] == pytest.approx(ba.mean())
    assert r["subject_balanced_accuracy_seed_min"] == pytest.approx(ba.min())
    assert r["subject_balanced_accuracy_seed_max"] == pytest.approx(ba.max())
    e = ranking.loc["resnet18_ensemble"]
    assert e["n_seeds"] == 3 and np.isnan(e["subject_balanced_accuracy_seed_min"])
    assert (
        e["subject_balanced_accuracy_ci_low"]
        <= e["subject_balanced_accuracy"]
        <= e["subject_balanced_accuracy_ci_high"]
    )
    # the ensemble, not the mean over seeds, is in the paired tests
    stats = pd.read_csv(out / "statistics.csv")
    assert "resnet18_ensemble" in set(stats["model"]) | set(stats["reference"])
    assert "resnet18" not in set(stats["model"]) | set(stats["reference"])
    assert (out / "figures" / "confusion_resnet18_ensemble_subject.png").is_file()
    assert "mean over its seeds" in (out / "report.md").read_text()
