"""Paired comparison of two models evaluated on the same subjects.

Two models trained with the same subject-grouped cross-validation have made
one decision each on every subject (or recording). The question "is model A
better than model B?" is then a *paired* one: both were judged on the same
units, so we compare them unit by unit rather than comparing two accuracies
as if they came from independent samples.

* :func:`unit_outcomes` turns each model's window predictions into decisions
  per subject or recording exactly as :mod:`ecgcwt.evaluate.metrics` does (mean
  probability over the unit's windows, then argmax) and lines the two models
  up on the same units: ``correct_a``, ``correct_b`` per unit.
* :func:`mcnemar_exact`: the exact (binomial) McNemar test on the discordant
  units, ``b`` (A right, B wrong) and ``c`` (A wrong, B right). Under the null
  hypothesis of equal accuracy each discordant unit is equally likely to go
  either way, so ``b ~ Binomial(b + c, 1/2)`` and the two-sided p-value is
  ``min(1, 2 * P(X <= min(b, c)))``; ``p = 1`` when ``b + c = 0``. Concordant
  units carry no information about the difference.
* :func:`paired_bootstrap_difference`: the accuracy difference ``A - B`` with
  a percentile bootstrap interval that resamples units (or groups of units,
  e.g. subjects at recording level); both models see the same resample.
* :func:`compare_models`, :func:`best_model` and :func:`interpretation` put
  these together for a report.

Caveat at recording level: a subject may contribute several recordings, which
are not independent. The bootstrap in :func:`compare_models` therefore
resamples subjects at every level (as :mod:`ecgcwt.evaluate.metrics` does), but the
McNemar test treats recordings as independent pairs; the subject level is the
one to base conclusions on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from ecgcwt.errors import DataError
from ecgcwt.evaluate.metrics import (
    _percentile,
    aggregate,
    balanced_accuracy,
    classes_from_columns,
    mean_recall,
    subject_resample_weights,
)

COMPARISON_LEVELS = ("subject", "recording")

SUMMARY_COLUMNS = (
    "model",
    "reference",
    "level",
    "n_units",
    "accuracy_model",
    "accuracy_reference",
    "difference",
    "ci_low",
    "ci_high",
    "b",
    "c",
    "p_value",
    "balanced_accuracy_model",
    "balanced_accuracy_reference",
    "balanced_difference",
    "balanced_ci_low",
    "balanced_ci_high",
    "ci",
    "n_boot",
)


# --------------------------------------------------------------------------- units


def _check_level(level: str) -> None:
    if level not in COMPARISON_LEVELS:
        raise ValueError(f"level must be one of {COMPARISON_LEVELS}, got {level!r}")


def unit_outcomes(preds_a: pd.DataFrame, preds_b: pd.DataFrame, level: str = "subject") -> pd.DataFrame:
    """Per unit of ``level``: whether model A and model B classified it correctly.

    Each table is aggregated with :func:`ecgcwt.evaluate.metrics.aggregate` (mean
    probability over the unit's windows, then argmax). Returns one row per
    unit, sorted by unit id, with columns ``unit, subject, label, label_index,
    pred_a, pred_b, correct_a, correct_b`` (``pred_*`` are label indices,
    ``correct_*`` booleans).

    Raises :class:`~ecgcwt.errors.DataError` when the two tables do not cover
    the same units (naming those present in only one), use different classes,
    or disagree on a unit's true label.
    """
    _check_level(level)
    classes_a = classes_from_columns(preds_a)
    classes_b = classes_from_columns(preds_b)
    if classes_a != classes_b:
        raise DataError(
            f"the two prediction tables have different classes ({classes_a} vs {classes_b}); "
            "they must come from models trained on the same label set"
        )
    agg_a = aggregate(preds_a, level, classes_a).set_index("unit")
    agg_b = aggregate(preds_b, level, classes_a).set_index("unit")
    only_a = sorted(set(agg_a.index) - set(agg_b.index))
    only_b = sorted(set(agg_b.index) - set(agg_a.index))
    if only_a or only_b:
        raise DataError(
            f"the two models were not evaluated on the same {level}s: "
            f"{len(only_a)} only in model A ({_first(only_a)}), "
            f"{len(only_b)} only in model B ({_first(only_b)}); "
            "a paired comparison needs both models' predictions on the same folds and subjects"
        )
    agg_b = agg_b.loc[agg_a.index]
    label_a = agg_a["label_index"].to_numpy(np.int64)
    label_b = agg_b["label_index"].to_numpy(np.int64)
    if not np.array_equal(label_a, label_b):
        bad = list(agg_a.index[label_a != label_b][:10])
        raise DataError(f"the two prediction tables disagree on the true label of {level}s {bad}")
    pred_a = agg_a["pred_index"].to_numpy(np.int64)
    pred_b = agg_b["pred_index"].to_numpy(np.int64)
    return pd.DataFrame(
        {
            "unit": agg_a.index.to_numpy(),
            "subject": agg_a["subject"].to_numpy(),
            "label": np.asarray(classes_a, dtype=object)[label_a],
            "label_index": label_a,
            "pred_a": pred_a,
            "pred_b": pred_b,
            "correct_a": pred_a == label_a,
            "correct_b": pred_b == label_a,
        }
    )


def _first(units: list, k: int = 10) -> str:
    """The first ``k`` of ``units`` for a message (``"a, b, ..."``; ``"none"`` when empty)."""
    shown = ", ".join(map(str, units[:k]))
    return shown + (", ..." if len(units) > k else "") if units else "none"


# --------------------------------------------------------------------------- McNemar


@dataclass(frozen=True)
class McNemarResult:
    b: int  # units A got right and B wrong
    c: int  # units A got wrong and B right
    n: int  # units compared (concordant and discordant)
    p_value: float

    @property
    def n_discordant(self) -> int:
        return self.b + self.c


def mcnemar_p_value(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` and ``c``.

    ``min(1, 2 * P(X <= min(b, c)))`` with ``X ~ Binomial(b + c, 1/2)``, summed
    in exact integer arithmetic (the only rounding is the final division).
    """
    b, c = int(b), int(c)
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


def _as_bool(x, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype != bool:
        if not np.isin(arr, [0, 1]).all():
            raise ValueError(f"{name} must hold booleans (or 0/1)")
        arr = arr.astype(bool)
    return arr


def _paired(correct_a, correct_b) -> tuple[np.ndarray, np.ndarray]:
    a = _as_bool(correct_a, "correct_a")
    b = _as_bool(correct_b, "correct_b")
    if len(a) != len(b):
        raise ValueError(f"correct_a and correct_b must have the same length, got {len(a)} and {len(b)}")
    return a, b


def mcnemar_exact(correct_a, correct_b) -> McNemarResult:
    """Exact McNemar test of two models' per-unit correctness (paired, same units in the same order)."""
    a, b_ = _paired(correct_a, correct_b)
    b = int(np.sum(a & ~b_))
    c = int(np.sum(~a & b_))
    return McNemarResult(b=b, c=c, n=int(len(a)), p_value=mcnemar_p_value(b, c))


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class PairedDifference:
    n_units: int
    difference: float  # accuracy A - accuracy B on the data as observed
    ci_low: float
    ci_high: float
    # with labels: balanced accuracy (mean recall over the classes present), else NaN
    balanced_difference: float = float("nan")
    balanced_ci_low: float = float("nan")
    balanced_ci_high: float = float("nan")


def _resample_weights(n_units: int, groups, n_boot: int, seed: int) -> np.ndarray:
    """:func:`subject_resample_weights` of ``groups``; without ``groups`` each unit is its own group."""
    if groups is None:
        return subject_resample_weights(np.arange(n_units), n_boot, seed)
    groups = np.asarray(groups)
    if len(groups) != n_units:
        raise ValueError(f"groups must have one entry per unit ({n_units}), got {len(groups)}")
    return subject_resample_weights(groups, n_boot, seed)


def _weighted_balanced_accuracy(weights: np.ndarray, labels: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """:func:`mean_recall` per row of ``weights`` (unit multiplicities): balanced accuracy of each resample."""
    classes = [labels == k for k in np.unique(labels)]
    support = np.stack([weights[:, in_k].sum(axis=1) for in_k in classes], axis=-1)
    hits = np.stack([weights[:, in_k & correct].sum(axis=1) for in_k in classes], axis=-1)
    return mean_recall(hits, support)


def _check_boot(n_boot: int, ci: float) -> None:
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < float(ci) < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")


def paired_bootstrap_difference(
    correct_a,
    correct_b,
    n_boot: int = 2000,
    ci: float = 0.95,
    seed: int = 0,
    labels=None,
    groups=None,
) -> PairedDifference:
    """Accuracy difference ``A - B`` with a paired percentile bootstrap interval.

    Each resample draws units with replacement (or, with ``groups``, whole
    groups such as the subjects of recordings) and evaluates both models on
    that same resample. With ``labels`` (true class per unit) the difference in
    balanced accuracy (mean recall over the classes present in the resample)
    is computed too. The same ``seed`` gives the same interval.
    """
    _check_boot(n_boot, ci)
    a, b = _paired(correct_a, correct_b)
    n = len(a)
    if n == 0:
        raise DataError("no units to compare")
    weights = _resample_weights(n, groups, int(n_boot), int(seed))
    total = weights.sum(axis=1)
    diffs = (weights @ a.astype(np.float64) - weights @ b.astype(np.float64)) / total
    lo, hi, _ = _percentile(diffs, ci)
    point = float(a.mean() - b.mean())
    if labels is None:
        return PairedDifference(n, point, lo, hi)
    labels = np.asarray(labels)
    if len(labels) != n:
        raise ValueError(f"labels must have one entry per unit ({n}), got {len(labels)}")
    codes = pd.factorize(pd.Series(labels), sort=True)[0]
    ones = np.ones((1, n))
    bal_point = float(_weighted_balanced_accuracy(ones, codes, a)[0] - _weighted_balanced_accuracy(ones, codes, b)[0])
    bal = _weighted_balanced_accuracy(weights, codes, a) - _weighted_balanced_accuracy(weights, codes, b)
    blo, bhi, _ = _percentile(bal, ci)
    return PairedDifference(n, point, lo, hi, bal_point, blo, bhi)


# --------------------------------------------------------------------------- models


def compare_models(
    preds_by_model: Mapping[str, pd.DataFrame],
    reference: str,
    level: str = "subject",
    n_boot: int = 2000,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Every model against ``reference``, paired on the units of ``level``; one row per other model.

    ``difference`` = accuracy of the model minus that of the reference, with
    its paired bootstrap interval (resampling subjects, also at recording
    level); ``b`` = units the model got right and the reference wrong, ``c``
    the reverse; ``p_value`` from :func:`mcnemar_exact`. Also the balanced
    accuracies and their difference with its interval. Columns:
    :data:`SUMMARY_COLUMNS`.
    """
    _check_level(level)
    _check_boot(n_boot, ci)
    if reference not in preds_by_model:
        raise KeyError(f"reference model {reference!r} is not among {list(preds_by_model)}")
    rows = []
    for name, preds in preds_by_model.items():
        if name == reference:
            continue
        out = unit_outcomes(preds, preds_by_model[reference], level)
        a, r = out["correct_a"].to_numpy(), out["correct_b"].to_numpy()
        y = out["label_index"].to_numpy()
        test = mcnemar_exact(a, r)
        boot = paired_bootstrap_difference(a, r, n_boot=n_boot, ci=ci, seed=seed, labels=y, groups=out["subject"])
        rows.append(
            {
                "model": name,
                "reference": reference,
                "level": level,
                "n_units": test.n,
                "accuracy_model": float(a.mean()),
                "accuracy_reference": float(r.mean()),
                "difference": boot.difference,
                "ci_low": boot.ci_low,
                "ci_high": boot.ci_high,
                "b": test.b,
                "c": test.c,
                "p_value": test.p_value,
                "balanced_accuracy_model": balanced_accuracy(y, out["pred_a"].to_numpy()),
                "balanced_accuracy_reference": balanced_accuracy(y, out["pred_b"].to_numpy()),
                "balanced_difference": boot.balanced_difference,
                "balanced_ci_low": boot.balanced_ci_low,
                "balanced_ci_high": boot.balanced_ci_high,
                "ci": float(ci),
                "n_boot": int(n_boot),
            }
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def best_model(summary_or_preds: pd.DataFrame | Mapping[str, pd.DataFrame], level: str = "subject") -> str:
    """Name of the model with the highest balanced accuracy at ``level``.

    Accepts either a :func:`compare_models` summary (models and reference) or
    a ``name -> predictions`` mapping. Ties go to the higher plain accuracy,
    then to the model listed first (reference first for a summary).
    """
    _check_level(level)
    scores: dict[str, tuple[float, float]] = {}
    if isinstance(summary_or_preds, pd.DataFrame):
        summary = summary_or_preds
        if summary.empty:
            raise DataError("empty comparison summary: no models to choose from")
        levels = set(summary["level"])
        if levels != {level}:
            raise DataError(f"the summary is at level(s) {sorted(levels)}, not {level!r}")
        for _, row in summary.iterrows():
            scores.setdefault(row["reference"], (row["balanced_accuracy_reference"], row["accuracy_reference"]))
        for _, row in summary.iterrows():
            scores.setdefault(row["model"], (row["balanced_accuracy_model"], row["accuracy_model"]))
    else:
        if not summary_or_preds:
            raise DataError("no models to choose from")
        for name, preds in summary_or_preds.items():
            agg = aggregate(preds, level)
            y, p = agg["label_index"].to_numpy(), agg["pred_index"].to_numpy()
            scores[name] = (balanced_accuracy(y, p), float(np.mean(y == p)))
    names = list(scores)
    return max(names, key=lambda m: (np.nan_to_num(scores[m][0], nan=-np.inf), scores[m][1], -names.index(m)))


def format_p(p: float, *, digits: int = 2, prefix: bool = True) -> str:
    """A p-value for people: ``"p < 0.001"`` or ``"p = 0.012"`` (``digits`` significant); ``prefix=False``
    drops the ``"p "``/``"p = "`` (a table column headed p)."""
    text = "< 0.001" if p < 0.001 else f"{p:.{digits}g}"
    if not prefix:
        return text
    return f"p {text}" if p < 0.001 else f"p = {text}"


def interpretation(row: Mapping | pd.Series, alpha: float = 0.05) -> str:
    """One plain sentence on a :func:`compare_models` row, for a report."""
    n = int(row["n_units"])
    unit = str(row["level"])
    units = unit if n == 1 else unit + "s"
    b, c = int(row["b"]), int(row["c"])
    pct = f"{100 * float(row.get('ci', 0.95)):g}%"
    model, reference = row["model"], row["reference"]
    head = (
        f"With {n} {units}, {b + c} discordant; the difference of {row['difference']:+.2f} "
        f"({model} minus {reference}, {pct} CI {row['ci_low']:+.2f} to {row['ci_high']:+.2f})"
    )
    p = float(row["p_value"])
    if p < alpha:
        better, worse, wins, losses = (model, reference, b, c) if b > c else (reference, model, c, b)
        return (
            f"{head} is significant (exact McNemar {format_p(p)}): {better} is right on {wins} {unit}s "
            f"where {worse} is wrong, and wrong on only {losses} where {worse} is right."
        )
    return (
        f"{head} is not significant (exact McNemar {format_p(p)}): these {n} {units} cannot tell "
        "these models apart, which is not evidence that they are equal."
    )
