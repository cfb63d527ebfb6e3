"""Paired model comparison: exact McNemar, paired bootstrap, unit alignment.

Reference values and how they were made:

* McNemar p-values: ``scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue``
  (scipy's two-sided binomial test, which for p = 1/2 sums the probabilities
  of outcomes no likelier than the observed one: the same quantity as
  ``2 * P(X <= min(b, c))`` capped at 1), computed in the test; plus
  hand-computed cases written out as fractions of powers of two.
  statsmodels is not used as a second reference (scipy suffices; it is not a
  project dependency).
* Unit aggregation: a window table built in the test, aggregated by hand with
  a pandas ``groupby().mean()`` of the probabilities followed by ``argmax``
  (the rule documented in :mod:`ecgcwt.evaluate.metrics`).
* compare_models: two hand-made prediction tables whose per-subject
  correctness is set by construction, so b, c, n and the p-value are known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from ecgcwt.errors import DataError
from ecgcwt.evaluate.stats import (
    SUMMARY_COLUMNS,
    best_model,
    compare_models,
    interpretation,
    mcnemar_exact,
    mcnemar_p_value,
    paired_bootstrap_difference,
    unit_outcomes,
)

CLASSES = ["ARR", "CHF", "NSR"]


def outcomes_from_counts(b, c, both=0, neither=0, seed=0):
    """Per-unit correctness arrays with ``b`` A-only, ``c`` B-only, and concordant units, shuffled."""
    a = np.r_[np.ones(b), np.zeros(c), np.ones(both), np.zeros(neither)].astype(bool)
    bb = np.r_[np.zeros(b), np.ones(c), np.ones(both), np.zeros(neither)].astype(bool)
    order = np.random.default_rng(seed).permutation(len(a))
    return a[order], bb[order]


def window_table(subjects, seed=0, n_windows=3, recordings_per_subject=2):
    """Windows with random (Dirichlet) probabilities; ``subjects`` maps subject -> label index."""
    rng = np.random.default_rng(seed)
    rows = []
    for s, y in subjects.items():
        for r in range(recordings_per_subject):
            for w in range(n_windows):
                prob = rng.dirichlet(np.ones(len(CLASSES)))
                rows.append(
                    {
                        "segment": f"{s}_r{r}_w{w}",
                        "db": "db",
                        "record": f"{s}_r{r}",
                        "subject": s,
                        "recording": f"{s}_r{r}_lead0",
                        "lead": 0,
                        "label": CLASSES[y],
                        "label_index": y,
                        "pred_index": int(prob.argmax()),
                        "pred_label": CLASSES[int(prob.argmax())],
                        **{f"prob_{c}": prob[k] for k, c in enumerate(CLASSES)},
                    }
                )
    return pd.DataFrame(rows)


def subject_table(label_by_subject, correct_subjects, n_windows=2):
    """One recording per subject; the mean-probability decision is right exactly on ``correct_subjects``.

    The first window alone points elsewhere (window argmax != unit decision),
    so a window-level vote would not give the same answer.
    """
    rows = []
    for s, y in label_by_subject.items():
        target = y if s in correct_subjects else (y + 1) % len(CLASSES)
        other = (target + 1) % len(CLASSES)
        p0 = np.full(len(CLASSES), 0.05)
        p0[other], p0[target] = 0.5, 0.45  # window 0 says "other"
        p1 = np.full(len(CLASSES), 0.1)
        p1[target] = 0.8  # window 1 says "target"; mean: target 0.625 > other 0.3
        probs = [p0, p1][:n_windows]
        for w, prob in enumerate(probs):
            rows.append(
                {
                    "segment": f"{s}_w{w}",
                    "db": "db",
                    "record": s,
                    "subject": s,
                    "recording": f"{s}_lead0",
                    "lead": 0,
                    "label": CLASSES[y],
                    "label_index": y,
                    "pred_index": int(prob.argmax()),
                    "pred_label": CLASSES[int(prob.argmax())],
                    **{f"prob_{c}": prob[k] for k, c in enumerate(CLASSES)},
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- McNemar

PAIRS = [
    (0, 0),
    (0, 5),
    (5, 0),
    (5, 5),
    (1, 20),
    (20, 1),
    (0, 1),
    (1, 1),
    (2, 3),
    (3, 12),
    (7, 9),
    (10, 30),
    (25, 25),
    (40, 60),
    (0, 6),
    (6, 0),
    (100, 130),
    (1, 0),
]


@pytest.mark.parametrize("b,c", PAIRS)
def test_mcnemar_matches_scipy_binomtest(b, c):
    a, bb = outcomes_from_counts(b, c, both=4, neither=3)
    res = mcnemar_exact(a, bb)
    assert (res.b, res.c, res.n) == (b, c, b + c + 7)
    expected = 1.0 if b + c == 0 else binomtest(min(b, c), b + c, 0.5).pvalue
    assert res.p_value == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert mcnemar_p_value(b, c) == res.p_value


def test_mcnemar_hand_computed():
    # b=0, c=6: 2 * P(X <= 0) = 2 * 0.5**6
    assert mcnemar_p_value(0, 6) == 2 * 0.5**6 == 0.03125
    # b=1, c=4: 2 * (C(5,0) + C(5,1)) / 2**5 = 12/32
    assert mcnemar_p_value(1, 4) == 12 / 32
    # b=3, c=1: 2 * (1 + 4) / 16
    assert mcnemar_p_value(3, 1) == 0.625
    # no discordant pairs, or balanced ones: nothing to see
    assert mcnemar_p_value(0, 0) == 1.0
    assert mcnemar_p_value(5, 5) == 1.0
    res = mcnemar_exact([], [])
    assert (res.b, res.c, res.n, res.p_value) == (0, 0, 0, 1.0)


def test_mcnemar_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        mcnemar_exact([True, False], [True])
    with pytest.raises(ValueError, match="booleans"):
        mcnemar_exact([0, 2], [1, 1])
    with pytest.raises(ValueError):
        mcnemar_p_value(-1, 3)


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_identical_models_give_zero():
    a, _ = outcomes_from_counts(7, 0, both=0, neither=5)
    labels = np.arange(len(a)) % 3
    res = paired_bootstrap_difference(a, a.copy(), n_boot=500, seed=1, labels=labels)
    assert (res.difference, res.ci_low, res.ci_high) == (0.0, 0.0, 0.0)
    assert (res.balanced_difference, res.balanced_ci_low, res.balanced_ci_high) == (0.0, 0.0, 0.0)
    assert res.n_units == 12


def test_bootstrap_superset_model_is_better():
    # A is right on every unit B is right on, and on 5 more
    a, b = outcomes_from_counts(5, 0, both=10, neither=5, seed=3)
    labels = np.arange(len(a)) % 3
    res = paired_bootstrap_difference(a, b, n_boot=1000, seed=0, labels=labels)
    assert res.difference == pytest.approx(5 / 20)
    assert 0 <= res.ci_low <= res.difference <= res.ci_high
    assert res.balanced_difference > 0 and res.balanced_ci_low >= 0


def test_bootstrap_reproducible_with_seed():
    a, b = outcomes_from_counts(6, 3, both=8, neither=4, seed=5)
    labels = np.arange(len(a)) % 3
    r1 = paired_bootstrap_difference(a, b, n_boot=300, seed=42, labels=labels)
    r2 = paired_bootstrap_difference(a, b, n_boot=300, seed=42, labels=labels)
    r3 = paired_bootstrap_difference(a, b, n_boot=300, seed=43, labels=labels)
    assert r1 == r2
    assert (r1.ci_low, r1.ci_high) != (r3.ci_low, r3.ci_high)


def test_bootstrap_interval_shrinks_with_more_units():
    small = outcomes_from_counts(4, 2, both=10, neither=4, seed=0)  # 20 units
    large = outcomes_from_counts(40, 20, both=100, neither=40, seed=0)  # same proportions, 200 units
    rs = paired_bootstrap_difference(*small, n_boot=2000, seed=0)
    rl = paired_bootstrap_difference(*large, n_boot=2000, seed=0)
    assert rs.difference == pytest.approx(rl.difference)
    assert (rl.ci_high - rl.ci_low) < 0.6 * (rs.ci_high - rs.ci_low)  # ~ 1/sqrt(10) expected


def test_bootstrap_balanced_accuracy_point_value():
    # labels 0,0,0,1: A right on the three 0s only, B right on the 1 only
    a = np.array([True, True, True, False])
    b = np.array([False, False, False, True])
    res = paired_bootstrap_difference(a, b, n_boot=50, seed=0, labels=[0, 0, 0, 1])
    assert res.difference == pytest.approx(0.75 - 0.25)
    assert res.balanced_difference == pytest.approx((1 + 0) / 2 - (0 + 1) / 2)


def test_bootstrap_groups_resample_whole_groups():
    # two groups whose units are always drawn together: every resample's difference
    # is a mix of whole groups only (group g1: A +1 on both units, g2: 0)
    a = np.array([True, True, True, True])
    b = np.array([False, False, True, True])
    res = paired_bootstrap_difference(a, b, n_boot=200, seed=0, groups=["g1", "g1", "g2", "g2"])
    assert res.difference == 0.5
    assert res.ci_low == pytest.approx(0.0) and res.ci_high == pytest.approx(1.0)


def test_bootstrap_argument_checks():
    with pytest.raises(ValueError, match="n_boot"):
        paired_bootstrap_difference([True], [True], n_boot=0)
    with pytest.raises(ValueError, match="ci"):
        paired_bootstrap_difference([True], [True], ci=1.5)
    with pytest.raises(DataError):
        paired_bootstrap_difference([], [])


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize("level,key", [("subject", "subject"), ("recording", "recording")])
def test_unit_outcomes_aggregates_like_metrics(level, key):
    subjects = {f"S{i:02d}": i % 3 for i in range(9)}
    pa = window_table(subjects, seed=0)
    pb = window_table(subjects, seed=1).sample(frac=1, random_state=0)  # row order must not matter
    out = unit_outcomes(pa, pb, level)

    def manual(df):
        mean = df.groupby(key)[[f"prob_{c}" for c in CLASSES]].mean().sort_index()
        label = df.groupby(key)["label_index"].first().sort_index()
        return label, pd.Series(mean.to_numpy().argmax(axis=1), index=mean.index)

    label, pred_a = manual(pa)
    _, pred_b = manual(pb)
    assert list(out["unit"]) == list(label.index)
    assert list(out["label"]) == [CLASSES[y] for y in label]
    assert np.array_equal(out["pred_a"], pred_a.to_numpy())
    assert np.array_equal(out["pred_b"], pred_b.to_numpy())
    assert np.array_equal(out["correct_a"], pred_a.to_numpy() == label.to_numpy())
    assert np.array_equal(out["correct_b"], pred_b.to_numpy() == label.to_numpy())
    assert out["correct_a"].dtype == bool
    assert len(out) == (9 if level == "subject" else 18)


def test_unit_outcomes_uses_mean_probability_not_window_vote():
    # the first window of each subject alone points to the wrong class
    labels = {"S1": 0, "S2": 1}
    pa = subject_table(labels, correct_subjects={"S1", "S2"})
    out = unit_outcomes(pa, pa, "subject")
    assert out["correct_a"].all() and out["correct_b"].all()
    assert not (pa.groupby("subject")["pred_index"].first() == pa.groupby("subject")["label_index"].first()).any()


def test_unit_outcomes_mismatched_units_raise():
    pa = window_table({"S1": 0, "S2": 1, "S3": 2})
    pb = window_table({"S1": 0, "S2": 1, "S4": 2})
    with pytest.raises(DataError, match=r"same subjects.*only in model A \(S3\).*only in model B \(S4\)"):
        unit_outcomes(pa, pb, "subject")


def test_unit_outcomes_label_and_class_mismatch_raise():
    pa = window_table({"S1": 0, "S2": 1})
    pb = pa.assign(label_index=np.where(pa["subject"] == "S2", 2, pa["label_index"]))
    with pytest.raises(DataError, match="true label"):
        unit_outcomes(pa, pb, "subject")
    with pytest.raises(DataError, match="different classes"):
        unit_outcomes(pa, pa.drop(columns="prob_NSR"), "subject")
    with pytest.raises(ValueError, match="level"):
        unit_outcomes(pa, pa, "segment")


# --------------------------------------------------------------------------- models


LABELS8 = {f"S{i}": i % 3 for i in range(8)}
# model right on S0..S5, reference right on S0..S2 and S6 -> b = 3 (S3, S4, S5), c = 1 (S6)
MODEL = subject_table(LABELS8, correct_subjects={"S0", "S1", "S2", "S3", "S4", "S5"})
REFERENCE = subject_table(LABELS8, correct_subjects={"S0", "S1", "S2", "S6"})


def test_compare_models_hand_made_tables():
    summary = compare_models({"ref": REFERENCE, "new": MODEL}, reference="ref", level="subject", n_boot=500, seed=0)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert len(summary) == 1
    row = summary.iloc[0]
    assert (row["model"], row["reference"], row["level"]) == ("new", "ref", "subject")
    assert (row["b"], row["c"], row["n_units"]) == (3, 1, 8)
    assert row["p_value"] == 0.625  # 2 * (C(4,0) + C(4,1)) / 2**4
    assert row["accuracy_model"] == 6 / 8 and row["accuracy_reference"] == 4 / 8
    assert row["difference"] == pytest.approx(0.25)
    assert row["ci_low"] <= 0.25 <= row["ci_high"]
    # recording level: one recording per subject here, so the same counts
    rec = compare_models({"ref": REFERENCE, "new": MODEL}, "ref", "recording", n_boot=200).iloc[0]
    assert (rec["b"], rec["c"], rec["n_units"], rec["p_value"]) == (3, 1, 8, 0.625)


def test_compare_models_several_models_and_best():
    worse = subject_table(LABELS8, correct_subjects={"S0"})
    preds = {"ref": REFERENCE, "new": MODEL, "worse": worse}
    summary = compare_models(preds, reference="ref", n_boot=200)
    assert list(summary["model"]) == ["new", "worse"]
    w = summary.set_index("model").loc["worse"]
    assert (w["b"], w["c"]) == (0, 3)  # worse is right only on S0, which ref also gets
    assert best_model(summary, "subject") == "new"
    assert best_model(preds, "subject") == "new"
    with pytest.raises(DataError, match="level"):
        best_model(summary, "recording")
    with pytest.raises(KeyError, match="missing"):
        compare_models(preds, reference="missing")


def test_interpretation_sentences():
    summary = compare_models({"ref": REFERENCE, "new": MODEL}, "ref", n_boot=200, seed=0)
    text = interpretation(summary.iloc[0])
    assert text.startswith("With 8 subjects, 4 discordant; the difference of +0.25 (new minus ref, 95% CI ")
    assert "is not significant (exact McNemar p = 0.62)" in text
    assert "not evidence that they are equal" in text

    row = {
        "model": "vgg",
        "reference": "cnn",
        "level": "subject",
        "n_units": 40,
        "b": 9,
        "c": 0,
        "difference": 0.225,
        "ci_low": 0.1,
        "ci_high": 0.35,
        "p_value": mcnemar_p_value(9, 0),
        "ci": 0.95,
    }
    text = interpretation(row)
    assert text == (
        "With 40 subjects, 9 discordant; the difference of +0.23 (vgg minus cnn, 95% CI +0.10 to +0.35) "
        "is significant (exact McNemar p = 0.0039): vgg is right on 9 subjects where cnn is wrong, "
        "and wrong on only 0 where cnn is right."
    )
