"""Metrics against scikit-learn, aggregation levels, and the subject bootstrap.

Golden values: computed in the tests themselves with scikit-learn
(``accuracy_score``, ``balanced_accuracy_score``, ``f1_score(average="macro")``,
``cohen_kappa_score``, ``roc_auc_score(multi_class="ovr", average="macro")``,
``recall_score``/``precision_score(average=None)``, ``confusion_matrix``) on
seeded random labels and Dirichlet probabilities; our numpy implementations
must agree to 1e-12.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from ecgcwt.evaluate.metrics import (
    METRIC_FUNCTIONS,
    aggregate,
    balanced_accuracy,
    bootstrap_ci,
    bootstrap_metrics,
    classification_metrics,
    evaluate_predictions,
    flat_metrics,
    macro_f1,
)

CLASSES = ["ARR", "CHF", "NSR"]


def random_case(n=300, k=3, seed=0, round_to=None):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    prob = rng.dirichlet(np.ones(k), n)
    prob[np.arange(n), y] += 0.4 * rng.random(n)  # informative but imperfect
    if round_to is not None:
        prob = np.round(prob, round_to)  # many ties, to exercise the AUC rank handling
    prob /= prob.sum(axis=1, keepdims=True)
    return y, prob.argmax(axis=1), prob


@pytest.mark.parametrize("seed,round_to", [(0, None), (1, None), (2, 1)])
def test_scalar_metrics_match_sklearn(seed, round_to):
    y, p, prob = random_case(seed=seed, round_to=round_to)
    m = flat_metrics(y, p, prob, CLASSES)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p), abs=1e-12)
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p), abs=1e-12)
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, p, average="macro"), abs=1e-12)
    assert m["kappa"] == pytest.approx(skm.cohen_kappa_score(y, p), abs=1e-12)
    assert m["macro_auc"] == pytest.approx(skm.roc_auc_score(y, prob, multi_class="ovr", average="macro"), abs=1e-12)
    recall = skm.recall_score(y, p, average=None, labels=[0, 1, 2])
    precision = skm.precision_score(y, p, average=None, labels=[0, 1, 2])
    cm = skm.confusion_matrix(y, p, labels=[0, 1, 2])
    for i, c in enumerate(CLASSES):
        tn = cm.sum() - cm[i].sum() - cm[:, i].sum() + cm[i, i]
        fp = cm[:, i].sum() - cm[i, i]
        assert m[f"sensitivity_{c}"] == pytest.approx(recall[i], abs=1e-12)
        assert m[f"precision_{c}"] == pytest.approx(precision[i], abs=1e-12)
        assert m[f"specificity_{c}"] == pytest.approx(tn / (tn + fp), abs=1e-12)
    full = classification_metrics(y, p, prob, CLASSES)
    assert full["confusion"] == cm.tolist() and full["n"] == len(y)
    assert full["per_class"]["CHF"]["sensitivity"] == m["sensitivity_CHF"]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_absent_class_follows_sklearn_and_auc_is_undefined():
    # class 2 never occurs in y_true but is predicted once
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0, 1, 1, 1, 2, 0])
    prob = np.eye(3)[p] * 0.8 + 0.2 / 3
    assert balanced_accuracy(y, p, prob) == pytest.approx(skm.balanced_accuracy_score(y, p), abs=1e-12)
    assert macro_f1(y, p, prob) == pytest.approx(skm.f1_score(y, p, average="macro"), abs=1e-12)
    m = flat_metrics(y, p, prob, CLASSES)
    assert np.isnan(m["macro_auc"]) and np.isnan(m["sensitivity_NSR"])
    assert m["precision_NSR"] == 0.0


def predictions_table():
    """Two subjects, three recordings, hand-made so the aggregated answers are known.

    s1/a (true ARR): window predictions ARR, CHF, CHF; mean probabilities ARR 0.467, CHF 0.533
          -> CHF by mean probability and CHF by a 2:1 vote.
    s1/b (true ARR): window predictions ARR, CHF; mean ARR 0.675, CHF 0.325 -> ARR; the 1:1 vote
          tie goes to the class with the higher mean probability -> ARR.
    s2/a (true NSR): NSR, NSR -> NSR.
    subject s1: mean ARR over its 5 windows 0.55 > CHF 0.45 -> ARR; subject s2 -> NSR.
    """
    rows = [
        ("s1", "s1/a", 0, [0.6, 0.4, 0.0]),
        ("s1", "s1/a", 0, [0.3, 0.7, 0.0]),
        ("s1", "s1/a", 0, [0.5, 0.5 + 1e-9, 0.0]),
        ("s1", "s1/b", 0, [0.9, 0.1, 0.0]),
        ("s1", "s1/b", 0, [0.45, 0.55, 0.0]),
        ("s2", "s2/a", 2, [0.1, 0.1, 0.8]),
        ("s2", "s2/a", 2, [0.2, 0.1, 0.7]),
    ]
    df = pd.DataFrame(
        {
            "segment": range(len(rows)),
            "subject": [r[0] for r in rows],
            "recording": [r[1] for r in rows],
            "label_index": [r[2] for r in rows],
        }
    )
    probs = np.array([r[3] for r in rows])
    df["pred_index"] = probs.argmax(axis=1)
    for j, c in enumerate(CLASSES):
        df[f"prob_{c}"] = probs[:, j]
    return df


def test_recording_and_subject_aggregation():
    df = predictions_table()
    rec = aggregate(df, "recording", CLASSES).set_index("unit")
    assert (
        rec.loc["s1/a", "pred_index"] == 1 and rec.loc["s1/b", "pred_index"] == 0 and rec.loc["s2/a", "pred_index"] == 2
    )
    assert rec.loc["s1/a", "n_segments"] == 3 and rec.loc["s1/b", "subject"] == "s1"
    assert rec.loc["s1/b", "prob_ARR"] == pytest.approx((0.9 + 0.45) / 2)
    vote = aggregate(df, "recording_vote", CLASSES).set_index("unit")
    assert vote.loc["s1/a", "pred_index"] == 1 and vote.loc["s1/a", "prob_CHF"] == pytest.approx(2 / 3)
    assert vote.loc["s1/b", "pred_index"] == 0  # 1:1 tie broken by mean probability
    subj = aggregate(df, "subject", CLASSES).set_index("unit")
    assert subj.loc["s1", "pred_index"] == 0 and subj.loc["s2", "pred_index"] == 2  # s1: ARR mean .55 > CHF .45
    levels = evaluate_predictions(df, CLASSES)
    assert levels["segment"]["n"] == 7 and levels["recording"]["n"] == 3 and levels["subject"]["n"] == 2
    assert levels["recording"]["accuracy"] == pytest.approx(2 / 3)
    assert levels["subject"]["accuracy"] == 1.0


def test_aggregation_refuses_mixed_labels():
    df = predictions_table()
    df.loc[0, "label_index"] = 1
    with pytest.raises(Exception, match="more than one label"):
        aggregate(df, "recording", CLASSES)


def subject_blocks(n_subjects=10, per_subject=20, seed=0):
    """Each subject's windows are all right or all wrong (subject i right iff i is even)."""
    rows = []
    for s in range(n_subjects):
        label = s % 3
        for w in range(per_subject):
            pred = label if s % 2 == 0 else (label + 1) % 3
            prob = np.full(3, 0.1)
            prob[pred] = 0.8
            rows.append(
                {
                    "segment": len(rows),
                    "subject": f"s{s}",
                    "recording": f"s{s}/0",
                    "label_index": label,
                    "pred_index": pred,
                    **{f"prob_{c}": prob[j] for j, c in enumerate(CLASSES)},
                }
            )
    return pd.DataFrame(rows)


def test_bootstrap_resamples_whole_subjects():
    df = subject_blocks()
    seen = []

    def record(y, p, prob):
        acc = float(np.mean(y == p))
        seen.append(acc)
        return acc

    res = bootstrap_ci(df, record, level="segment", n_boot=300, ci=0.9, seed=3)
    seen = seen[1:]  # the first call is the point estimate
    # with whole subjects drawn, accuracy is (#correct subjects drawn) / 10: a multiple of 0.1
    assert np.allclose(np.round(np.array(seen) * 10), np.array(seen) * 10)
    assert len(set(seen)) > 3
    assert res.value == 0.5 and res.ci_low < 0.5 < res.ci_high and res.n_valid == 300
    assert 0.2 <= res.ci_low and res.ci_high <= 0.8


def test_bootstrap_is_seeded_and_consistent_with_bootstrap_metrics():
    y, p, prob = random_case(n=240, seed=4)
    df = pd.DataFrame(
        {
            "segment": range(240),
            "subject": [f"s{i // 8}" for i in range(240)],
            "recording": [f"s{i // 8}/{(i // 4) % 2}" for i in range(240)],
            "label_index": np.repeat(y[::8], 8),
            "pred_index": p,
        }
    )
    for j, c in enumerate(CLASSES):
        df[f"prob_{c}"] = prob[:, j]
    # kappa is left to the bootstrap alone (proportions may be widened to their exact interval: seed-free)
    a = bootstrap_ci(df, METRIC_FUNCTIONS["kappa"], level="recording", n_boot=200, ci=0.95, seed=7)
    b = bootstrap_ci(df, METRIC_FUNCTIONS["kappa"], level="recording", n_boot=200, ci=0.95, seed=7)
    c = bootstrap_ci(df, METRIC_FUNCTIONS["kappa"], level="recording", n_boot=200, ci=0.95, seed=8)
    assert a == b and a != c
    table = bootstrap_metrics(df, "recording", CLASSES, n_boot=200, ci=0.95, seed=7).set_index("metric")
    for metric in ("kappa", "balanced_accuracy", "accuracy"):
        one = bootstrap_ci(df, METRIC_FUNCTIONS[metric], level="recording", n_boot=200, ci=0.95, seed=7)
        row = table.loc[metric]
        assert (row["value"], row["ci_low"], row["ci_high"]) == pytest.approx((one.value, one.ci_low, one.ci_high))
    assert row["n_units"] == 60 and row["n_subjects"] == 30
    assert set(table.index) >= {"macro_auc", "kappa", "sensitivity_NSR", "specificity_ARR", "precision_CHF"}


def test_bootstrap_rejects_bad_arguments():
    df = subject_blocks()
    with pytest.raises(ValueError, match="ci"):
        bootstrap_ci(df, METRIC_FUNCTIONS["accuracy"], n_boot=10, ci=95)
    with pytest.raises(ValueError, match="bootstrap"):
        bootstrap_ci(df, METRIC_FUNCTIONS["accuracy"], n_boot=0)


def test_clopper_pearson_matches_scipy_at_the_edges():
    from scipy.stats import binomtest

    from ecgcwt.evaluate import clopper_pearson

    for k, n in [(18, 18), (0, 18), (17, 18), (5, 6)]:
        ref = binomtest(k, n).proportion_ci(0.95, method="exact")
        assert clopper_pearson(k, n, 0.95) == pytest.approx((ref.low, ref.high))
    lo, hi = clopper_pearson(18, 18, 0.95)
    assert 0.81 < lo < 0.83 and hi == 1.0  # 18 of 18 right is not proof of perfection
    lo, hi = clopper_pearson(0, 18, 0.95)
    assert lo == 0.0 and 0.17 < hi < 0.19


def _perfect_subjects(n_subjects=18, wrong=()):
    """n_subjects subjects of 3 classes, 2 windows each, every window right except the subjects in ``wrong``."""
    rows = []
    for s in range(n_subjects):
        label = s % 3
        pred = (label + 1) % 3 if s in wrong else label
        for w in range(2):
            prob = np.full(3, 0.1)
            prob[pred] = 0.8
            rows.append(
                {
                    "segment": 2 * s + w,
                    "subject": f"s{s}",
                    "recording": f"s{s}/0",
                    "label_index": label,
                    "pred_index": pred,
                    **{f"prob_{c}": prob[j] for j, c in enumerate(CLASSES)},
                }
            )
    return pd.DataFrame(rows)


def test_a_perfect_score_gets_an_interval_that_is_not_certain():
    from scipy.stats import binomtest

    df = _perfect_subjects()
    table = bootstrap_metrics(df, "subject", CLASSES, n_boot=200, ci=0.95, seed=0).set_index("metric")
    acc = table.loc["accuracy"]
    exact = binomtest(18, 18).proportion_ci(0.95, method="exact")
    # the bootstrap alone gives [1, 1]; the reported interval includes the exact one
    assert acc["value"] == 1.0 and acc["ci_low"] == pytest.approx(exact.low) and acc["ci_high"] == 1.0
    # balanced accuracy with equal classes (6 subjects each): n_eff = 9 / (3 / 6) = 18, accuracy's interval
    assert table.loc["balanced_accuracy", "ci_low"] == pytest.approx(exact.low)
    # per class: 6 of 6
    per_class = binomtest(6, 6).proportion_ci(0.95, method="exact").low
    assert table.loc["sensitivity_ARR", "ci_low"] == pytest.approx(per_class)
    # kappa is not a proportion: left to the bootstrap
    assert table.loc["kappa", "ci_low"] == 1.0
    res = bootstrap_ci(df, METRIC_FUNCTIONS["accuracy"], level="subject", n_boot=200, ci=0.95, seed=0)
    assert (res.ci_low, res.ci_high) == pytest.approx((exact.low, 1.0))


def test_all_wrong_gets_an_upper_bound_above_zero():
    from scipy.stats import binomtest

    df = _perfect_subjects(wrong=range(18))
    acc = bootstrap_metrics(df, "subject", CLASSES, n_boot=200, ci=0.95, seed=0).set_index("metric").loc["accuracy"]
    exact = binomtest(0, 18).proportion_ci(0.95, method="exact")
    assert acc["value"] == 0.0 and acc["ci_low"] == 0.0 and acc["ci_high"] == pytest.approx(exact.high)
    # an imperfect score: never narrower than the bootstrap alone, and contains the exact interval
    df = _perfect_subjects(wrong=(0, 4))
    acc = bootstrap_metrics(df, "subject", CLASSES, n_boot=200, ci=0.95, seed=0).set_index("metric").loc["accuracy"]
    exact = binomtest(16, 18).proportion_ci(0.95, method="exact")
    assert acc["ci_low"] <= exact.low + 1e-12 and acc["ci_high"] >= exact.high - 1e-12
