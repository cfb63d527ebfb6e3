"""Classification metrics at segment, recording and subject level, with subject-bootstrap CIs.

A predictions table (``predictions.csv`` of a training fold, or several folds
pooled) has one row per segment with at least ``subject``, ``recording``,
``label_index``, ``pred_index`` and ``prob_<CLASS>`` columns (one per class,
in label-index order).

Levels:

``segment``
    every window on its own.
``recording`` / ``subject``
    one decision per recording (one lead of one record) or per subject: the
    class with the highest mean probability over its windows.
``recording_vote`` / ``subject_vote``
    majority vote of the windows' predicted classes (ties go to the tied class
    with the highest mean probability); the vote shares serve as probabilities.

The metrics are computed here with numpy from the confusion matrix (fast
enough to run thousands of times inside the bootstrap) and are tested against
scikit-learn's definitions:

* ``accuracy``; ``balanced_accuracy`` = mean recall over the classes present
  in ``y_true`` (``sklearn.metrics.balanced_accuracy_score``);
* ``macro_f1`` over the classes present in ``y_true`` or ``y_pred``
  (``f1_score(average="macro")``); ``kappa`` = Cohen's unweighted kappa;
* ``macro_auc``: mean one-vs-rest ROC AUC over all classes
  (``roc_auc_score(multi_class="ovr", average="macro")``), NaN when a class has
  no positives or no negatives;
* per class ``sensitivity_<C>`` (recall), ``specificity_<C>``, ``precision_<C>``,
  NaN when undefined (no positives, no negatives, never predicted).

Confidence intervals (:func:`bootstrap_ci`, :func:`bootstrap_metrics`) resample
*subjects* with replacement: all rows of a drawn subject come along, so the
interval reflects how the result would vary with another sample of people,
not of correlated windows of the same people.

A percentile bootstrap cannot leave a perfect score: if every subject is right,
every resample is too and the interval is ``1.000 [1.000, 1.000]``, as if 18
subjects proved perfection. So for the proportions (accuracy, balanced accuracy,
per-class sensitivity, specificity, precision) the reported interval is the
bootstrap interval *widened to include* the exact binomial interval of the
counts behind it (:func:`exact_intervals`, the one place this is done):
Clopper-Pearson (:func:`clopper_pearson`), chosen over Wilson because it is the
exact binomial interval (coverage never below the nominal level, also at 0 or
n correct, where 18/18 at 95% gives ``[0.815, 1]``); a conservative choice
for the few subjects per class this project has. Balanced accuracy, the mean
of per-class recalls, gets Clopper-Pearson with an effective count (see
:func:`exact_intervals`; equal to accuracy's interval when classes are equal).
The counts are of the level's units (windows, recordings or subjects); at
window level they overstate the evidence (windows of one person are
correlated), which is why the widening only ever widens the bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ecgcwt.errors import DataError

LEVELS = ("segment", "recording", "recording_vote", "subject", "subject_vote")
#: the built-in scalar metrics (the keys of METRIC_FUNCTIONS as shipped; iterate METRIC_FUNCTIONS
#: to include metrics registered later)
SCALAR_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "kappa", "macro_auc")
PER_CLASS_METRICS = ("sensitivity", "specificity", "precision")

MetricFn = Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]


# --------------------------------------------------------------------------- metrics


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix ``C[i, j]`` = number of rows of true class ``i`` predicted ``j``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def accuracy(y_true, y_pred, prob=None) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def balanced_accuracy(y_true, y_pred, prob=None) -> float:
    return balanced_accuracy_from_confusion(_cm(y_true, y_pred, prob))


def macro_f1(y_true, y_pred, prob=None) -> float:
    return _macro_f1(_cm(y_true, y_pred, prob))


def kappa(y_true, y_pred, prob=None) -> float:
    return _kappa(_cm(y_true, y_pred, prob))


def macro_auc(y_true, y_pred, prob) -> float:
    """Mean one-vs-rest ROC AUC; NaN when some class has no positives or no negatives."""
    if prob is None:
        return float("nan")
    y_true = np.asarray(y_true, dtype=np.int64)
    prob = np.asarray(prob, dtype=np.float64)
    aucs = []
    for k in range(prob.shape[1]):
        pos = y_true == k
        n_pos = int(pos.sum())
        n_neg = len(y_true) - n_pos
        if n_pos == 0 or n_neg == 0:
            return float("nan")
        # Mann-Whitney U with average ranks for ties = area under the ROC curve
        ranks = _average_ranks(prob[:, k])
        aucs.append((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(aucs))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (``scipy.stats.rankdata``, without its overhead)."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    new_value = np.r_[True, xs[1:] != xs[:-1]]
    starts = np.flatnonzero(new_value)
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x))
    ranks[order] = ((starts + 1 + ends) / 2)[np.cumsum(new_value) - 1]
    return ranks


#: scalar metric name -> function(y_true, y_pred, prob)
METRIC_FUNCTIONS: dict[str, MetricFn] = {
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "macro_f1": macro_f1,
    "kappa": kappa,
    "macro_auc": macro_auc,
}


def flat_metrics(y_true, y_pred, prob, classes: Sequence[str]) -> dict[str, float]:
    """All scalar and per-class metrics as one flat ``name -> value`` mapping."""
    k = len(classes)
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    cm = confusion(y_true, y_pred, k)
    # every registered metric (METRIC_FUNCTIONS is the one place a metric is added)
    out = {name: fn(y_true, y_pred, prob) for name, fn in METRIC_FUNCTIONS.items()}
    tp = np.diag(cm).astype(float)
    fn = cm.sum(axis=1) - tp
    fp = cm.sum(axis=0) - tp
    tn = cm.sum() - tp - fn - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        sens = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        spec = np.where(tn + fp > 0, tn / (tn + fp), np.nan)
        prec = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
    for i, c in enumerate(classes):
        out[f"sensitivity_{c}"] = float(sens[i])
        out[f"specificity_{c}"] = float(spec[i])
        out[f"precision_{c}"] = float(prec[i])
    return out


def classification_metrics(y_true, y_pred, prob, classes: Sequence[str]) -> dict:
    """Metrics for ``metrics.json``: scalars, per-class values, confusion matrix and counts."""
    flat = flat_metrics(y_true, y_pred, prob, classes)
    out: dict = {m: flat[m] for m in METRIC_FUNCTIONS}
    out["per_class"] = {c: {m: flat[f"{m}_{c}"] for m in PER_CLASS_METRICS} for c in classes}
    out["confusion"] = confusion(y_true, y_pred, len(classes)).tolist()
    out["n"] = int(len(np.asarray(y_true)))
    return out


def _cm(y_true, y_pred, prob) -> np.ndarray:
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if prob is not None:
        k = np.asarray(prob).shape[1]
    else:
        k = int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    return confusion(y_true, y_pred, max(k, 1))


def mean_recall(hits, support):
    """Balanced accuracy from per-class counts (the class on the last axis): the mean of ``hits / support``
    over the classes with ``support > 0``; NaN where no class has any. The one definition: the metrics,
    the paired bootstrap (weighted counts, one row per resample) and the learners' validation scores use it."""
    hits = np.asarray(hits, dtype=np.float64)
    support = np.asarray(support, dtype=np.float64)
    present = support > 0
    recalls = np.where(present, hits / np.where(present, support, 1.0), 0.0)
    n_present = present.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(n_present > 0, recalls.sum(axis=-1) / n_present, np.nan)
    return float(out) if out.ndim == 0 else out


def balanced_accuracy_from_confusion(cm) -> float:
    """:func:`balanced_accuracy` of a confusion matrix (rows: true class)."""
    cm = np.asarray(cm)
    return mean_recall(np.diag(cm), cm.sum(axis=1))


def _macro_f1(cm: np.ndarray) -> float:
    tp = np.diag(cm).astype(float)
    denom = 2 * tp + (cm.sum(axis=0) - tp) + (cm.sum(axis=1) - tp)  # 2TP + FP + FN
    present = (cm.sum(axis=1) + cm.sum(axis=0)) > 0
    if not present.any():
        return float("nan")
    return float(np.mean(2 * tp[present] / denom[present]))


def _kappa(cm: np.ndarray) -> float:
    n = cm.sum()
    if n == 0:
        return float("nan")
    po = np.trace(cm) / n
    pe = float(np.dot(cm.sum(axis=0), cm.sum(axis=1))) / n**2
    return float((po - pe) / (1 - pe)) if pe < 1 else float("nan")


# --------------------------------------------------------------------------- levels


def classes_from_columns(df: pd.DataFrame) -> list[str]:
    """Class names from the ``prob_<CLASS>`` columns, in column (= label-index) order."""
    # prob_raw_* (probabilities before temperature scaling, optional) are not classes
    classes = [c[len("prob_") :] for c in df.columns if c.startswith("prob_") and not c.startswith("prob_raw_")]
    if not classes:
        raise DataError("predictions table has no prob_<CLASS> columns")
    return classes


def aggregate(predictions: pd.DataFrame, level: str, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per decision unit of ``level``: ``unit, subject, label_index, pred_index, prob_*, n_segments``.

    Rows come out sorted by unit id, so the result does not depend on the order
    of the input table.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    classes = list(classes) if classes is not None else classes_from_columns(predictions)
    prob_cols = [f"prob_{c}" for c in classes]
    missing = [c for c in ["subject", "label_index", "pred_index", *prob_cols] if c not in predictions.columns]
    if missing:
        raise DataError(f"predictions table lacks columns {missing}")
    if level == "segment":
        unit = predictions["segment"] if "segment" in predictions.columns else pd.Series(np.arange(len(predictions)))
        out = pd.DataFrame({"unit": unit.to_numpy(), "subject": predictions["subject"].astype(str).to_numpy()})
        out["label_index"] = predictions["label_index"].to_numpy(np.int64)
        out["pred_index"] = predictions["pred_index"].to_numpy(np.int64)
        for c in prob_cols:
            out[c] = predictions[c].to_numpy(np.float64)
        out["n_segments"] = 1
        return out.reset_index(drop=True)

    key = "recording" if level.startswith("recording") else "subject"
    if key not in predictions.columns:
        raise DataError(f"predictions table lacks the {key!r} column needed for level {level!r}")
    df = predictions.assign(_unit=predictions[key].astype(str), subject=predictions["subject"].astype(str))
    grouped = df.groupby("_unit", sort=True)
    n_labels = grouped["label_index"].nunique()
    if (n_labels > 1).any():
        bad = list(n_labels[n_labels > 1].index[:5])
        raise DataError(f"{key}s with windows of more than one label (first: {bad}); the table is inconsistent")
    out = pd.DataFrame(
        {
            "unit": grouped.size().index.to_numpy(),
            "subject": grouped["subject"].first().to_numpy(),
            "label_index": grouped["label_index"].first().to_numpy(np.int64),
        }
    )
    mean_prob = grouped[prob_cols].mean().to_numpy(np.float64)
    if level.endswith("_vote"):
        votes = np.zeros((len(out), len(classes)))
        codes = grouped.ngroup().to_numpy()
        np.add.at(votes, (codes, df["pred_index"].to_numpy(np.int64)), 1.0)
        share = votes / votes.sum(axis=1, keepdims=True)
        # majority; among tied classes the one with the highest mean probability
        tied = votes == votes.max(axis=1, keepdims=True)
        out["pred_index"] = np.argmax(np.where(tied, mean_prob, -np.inf), axis=1)
        probs = share
    else:
        out["pred_index"] = np.argmax(mean_prob, axis=1)
        probs = mean_prob
    for j, c in enumerate(prob_cols):
        out[c] = probs[:, j]
    out["n_segments"] = grouped.size().to_numpy()
    return out


def level_metrics(predictions: pd.DataFrame, level: str, classes: Sequence[str]) -> dict:
    """:func:`classification_metrics` of the decisions at ``level``."""
    agg = aggregate(predictions, level, classes)
    y, p, prob = _arrays(agg, classes)
    out = classification_metrics(y, p, prob, classes)
    out["n_subjects"] = int(agg["subject"].nunique())
    return out


def evaluate_predictions(predictions: pd.DataFrame, classes: Sequence[str]) -> dict:
    """Metrics at every level (for ``metrics.json``)."""
    return {level: level_metrics(predictions, level, classes) for level in LEVELS}


def _arrays(agg: pd.DataFrame, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        agg["label_index"].to_numpy(np.int64),
        agg["pred_index"].to_numpy(np.int64),
        agg[[f"prob_{c}" for c in classes]].to_numpy(np.float64),
    )


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class BootstrapResult:
    value: float  # the metric on the data as observed
    ci_low: float
    ci_high: float
    n_valid: int  # resamples where the metric was defined (e.g. AUC needs every class)


def _draw_groups(n_groups: int, n_boot: int, seed: int):
    """The one subject bootstrap: ``n_boot`` draws of ``n_groups`` group indices with replacement, seeded."""
    rng = np.random.default_rng(seed)
    for _ in range(int(n_boot)):
        yield rng.integers(0, n_groups, n_groups)


def subject_resample_weights(groups, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n_units)`` multiplicities of a subject bootstrap: how often each unit is in each resample.

    ``groups`` holds each unit's subject (or other group): whole groups are
    drawn with replacement and each unit counts as often as its group was
    drawn. The same draws as :func:`bootstrap_ci` makes for the same groups and ``seed``.
    """
    codes, uniques = pd.factorize(pd.Series(np.asarray(groups)), sort=True)
    n_groups = len(uniques)
    counts = np.array([np.bincount(d, minlength=n_groups) for d in _draw_groups(n_groups, n_boot, seed)])
    return counts.reshape(int(n_boot), n_groups)[:, codes].astype(np.float64)


class _SubjectResampler:
    """Draws of subjects with replacement (:func:`_draw_groups`), turned into row indices of an aggregated table."""

    def __init__(self, agg: pd.DataFrame, n_boot: int, seed: int) -> None:
        codes, subjects = pd.factorize(agg["subject"], sort=True)
        order = np.argsort(codes, kind="stable")
        counts = np.bincount(codes, minlength=len(subjects))
        self._rows = np.split(order, np.cumsum(counts)[:-1])
        self.n_subjects = len(subjects)
        self.n_boot = int(n_boot)
        self.seed = int(seed)

    def __iter__(self):
        for drawn in _draw_groups(self.n_subjects, self.n_boot, self.seed):
            yield np.concatenate([self._rows[s] for s in drawn])


def _check_boot_args(n_boot: int, ci: float) -> None:
    if int(n_boot) < 1:
        raise ValueError(f"evaluate.bootstrap must be >= 1, got {n_boot}")
    if not 0 < float(ci) < 1:
        raise ValueError(f"evaluate.ci must be in (0, 1), got {ci}")


def _percentile(values: np.ndarray, ci: float) -> tuple[float, float, int]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan"), 0
    alpha = (1 - ci) / 2
    lo, hi = np.percentile(values, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi), int(len(values))


def clopper_pearson(k: int, n: int, ci: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a binomial proportion ``k / n``; ``(nan, nan)`` when ``n == 0``.

    Equals ``scipy.stats.binomtest(k, n).proportion_ci(ci, method="exact")``;
    the lower bound is 0 at ``k == 0``, the upper 1 at ``k == n``.
    """
    k, n = int(k), int(n)
    if n > 0 and not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    return _beta_interval(k, n, ci)


def _beta_interval(k: float, n: float, ci: float) -> tuple[float, float]:
    """Clopper-Pearson's beta quantiles; ``k`` and ``n`` may be fractional (effective counts)."""
    from scipy.stats import beta  # scipy comes with scikit-learn; imported here to keep this module light

    if n <= 0:
        return float("nan"), float("nan")
    alpha = 1 - float(ci)
    lo = 0.0 if k <= 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k >= n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def exact_intervals(y_true, y_pred, classes: Sequence[str], ci: float) -> dict[str, tuple[float, float]]:
    """Clopper-Pearson intervals of the proportion metrics of :func:`flat_metrics`, from their counts.

    ``accuracy``: correct of all units; ``sensitivity_<C>``: TP of TP + FN;
    ``specificity_<C>``: TN of TN + FP; ``precision_<C>``: TP of TP + FP.
    ``balanced_accuracy`` (mean recall over the K classes present, with n_k
    units each) is not one binomial count; it gets the Clopper-Pearson interval
    of ``BA * n_eff`` successes out of ``n_eff = K**2 / sum(1 / n_k)``, the number
    of units with which a plain proportion would have balanced accuracy's
    binomial variance (``sum p_k (1 - p_k) / n_k / K**2`` at equal ``p_k``). With
    equal classes ``n_eff = n`` and the interval is accuracy's; with unequal
    ones ``n_eff < n`` and it is wider. (Averaging the per-class bounds instead
    would give an interval as wide as one class's, however many classes.)
    Metrics not in the result (kappa, F1, AUC) are not proportions.
    """
    k = len(classes)
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    cm = confusion(y_true, y_pred, k)
    tp = np.diag(cm)
    fn = cm.sum(axis=1) - tp
    fp = cm.sum(axis=0) - tp
    tn = cm.sum() - tp - fn - fp
    out = {"accuracy": clopper_pearson(int(tp.sum()), int(cm.sum()), ci)}
    for i, c in enumerate(classes):
        out[f"sensitivity_{c}"] = clopper_pearson(tp[i], tp[i] + fn[i], ci)
        out[f"specificity_{c}"] = clopper_pearson(tn[i], tn[i] + fp[i], ci)
        out[f"precision_{c}"] = clopper_pearson(tp[i], tp[i] + fp[i], ci)
    support = cm.sum(axis=1)
    present = support > 0
    if present.any():
        n_eff = float(present.sum() ** 2 / np.sum(1.0 / support[present]))
        ba = balanced_accuracy_from_confusion(cm)
        out["balanced_accuracy"] = _beta_interval(ba * n_eff, n_eff, ci)
    return out


def _widen(lo: float, hi: float, exact: tuple[float, float] | None) -> tuple[float, float]:
    """The bootstrap interval ``[lo, hi]`` widened to contain ``exact`` (NaN bounds of either side are ignored)."""
    if exact is None:
        return lo, hi
    elo, ehi = exact
    return float(np.fmin(lo, elo)), float(np.fmax(hi, ehi))


#: How the intervals are made, for reports.
INTERVAL_METHOD = (
    "percentile bootstrap over resamples of subjects; for proportions (accuracy, balanced accuracy, sensitivity, "
    "specificity, precision) widened to include the exact Clopper-Pearson interval of the counts (balanced "
    "accuracy: Clopper-Pearson with an effective number of units), so that a perfect score is not reported as certain"
)


def bootstrap_ci(
    predictions_df: pd.DataFrame,
    metric_fn: MetricFn,
    level: str = "segment",
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    classes: Sequence[str] | None = None,
) -> BootstrapResult:
    """Percentile bootstrap CI of ``metric_fn(y_true, y_pred, prob)`` at ``level``, resampling subjects.

    Each resample draws as many subjects as there are, with replacement, and
    takes all decision units (windows, recordings, ...) of each drawn subject,
    as many times as it was drawn. Resamples where the metric is undefined
    (NaN) are left out; ``n_valid`` says how many remained. For ``accuracy``
    and ``balanced_accuracy`` of :data:`METRIC_FUNCTIONS` the interval is widened
    to include the exact one (:func:`exact_intervals`).
    """
    _check_boot_args(n_boot, ci)
    classes = list(classes) if classes is not None else classes_from_columns(predictions_df)
    agg = aggregate(predictions_df, level, classes)
    y, p, prob = _arrays(agg, classes)
    value = float(metric_fn(y, p, prob))
    stats = np.array([metric_fn(y[i], p[i], prob[i]) for i in _SubjectResampler(agg, n_boot, seed)], dtype=float)
    lo, hi, n_valid = _percentile(stats, ci)
    name = next((m for m, f in METRIC_FUNCTIONS.items() if f is metric_fn), None)
    lo, hi = _widen(lo, hi, exact_intervals(y, p, classes, ci).get(name) if name else None)
    return BootstrapResult(value, lo, hi, n_valid)


def bootstrap_metrics(
    predictions_df: pd.DataFrame,
    level: str,
    classes: Sequence[str],
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Every metric of :func:`flat_metrics` at ``level`` with its subject-bootstrap CI.

    Uses the same resamples as :func:`bootstrap_ci` with the same seed, so each
    row equals ``bootstrap_ci(..., METRIC_FUNCTIONS[metric], ...)``. Proportions
    get the bootstrap interval widened to include the exact one
    (:func:`exact_intervals`). Columns:
    ``metric, value, ci_low, ci_high, n_valid, n_units, n_subjects``.
    """
    _check_boot_args(n_boot, ci)
    classes = list(classes)
    agg = aggregate(predictions_df, level, classes)
    y, p, prob = _arrays(agg, classes)
    point = flat_metrics(y, p, prob, classes)
    names = list(point)
    draws = np.array(
        [list(flat_metrics(y[i], p[i], prob[i], classes).values()) for i in _SubjectResampler(agg, n_boot, seed)],
        dtype=float,
    )
    exact = exact_intervals(y, p, classes, ci)
    rows = []
    for j, m in enumerate(names):
        lo, hi, n_valid = _percentile(draws[:, j], ci)
        lo, hi = _widen(lo, hi, exact.get(m))
        rows.append({"metric": m, "value": point[m], "ci_low": lo, "ci_high": hi, "n_valid": n_valid})
    out = pd.DataFrame(rows)
    out["n_units"] = len(agg)
    out["n_subjects"] = int(agg["subject"].nunique())
    return out
