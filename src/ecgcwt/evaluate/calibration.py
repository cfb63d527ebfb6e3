"""Calibration: do a model's probabilities mean what they say?

A model that gives its top class 0.9 should be right about 9 times in 10 on
such windows. Three views of that, for every model at segment level (each
window) and recording level (mean probability over a lead's windows, the
report's recording level):

* :func:`expected_calibration_error` (ECE): the top-label confidences are cut
  into :data:`N_BINS` equal-width bins ``(k/15, (k+1)/15]`` of ``[0, 1]``; in
  each bin the gap between the mean confidence and the accuracy, weighted by
  the bin's share of the units: ``sum_b n_b / n * |acc_b - conf_b|``. 0 is
  perfect, and it is on the scale of accuracy (0.05 = five points of
  over- or under-confidence on average).
* :func:`brier_score`: multi-class Brier score, the mean over units of
  ``sum_k (p_k - onehot_k)^2``; 0 is perfect, 2 the worst (all mass on a wrong
  class). Unlike ECE it also rewards sharp, correct probabilities.
* :func:`reliability_bins`: per bin, count, mean confidence and accuracy: the
  data of a reliability diagram.

:func:`calibration_table` writes one row per model x level x ``calibrated``:
``after`` for the ``prob_<class>`` columns (the probabilities the model
reports, after temperature scaling when the model was scaled), ``before`` for
the optional ``prob_raw_<class>`` columns (the same model's probabilities
before temperature scaling), only where a model's predictions carry them.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ecgcwt.errors import DataError
from ecgcwt.evaluate.metrics import aggregate

#: Equal-width bins of the top-label confidence.
N_BINS = 15
#: Levels of the calibration table: each window, and the mean probability over a recording's windows.
CALIBRATION_LEVELS = ("segment", "recording")
#: Prefix of the optional probabilities before temperature scaling.
RAW_PREFIX = "prob_raw_"
CALIBRATION_COLUMNS = ["model", "level", "calibrated", "ece", "brier", "n"]
RELIABILITY_COLUMNS = ["bin", "lower", "upper", "n", "confidence", "accuracy"]


def _check(y_true, prob) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(prob, dtype=np.float64)
    if p.ndim != 2 or len(y) != len(p):
        raise ValueError(f"prob must be (n units, n classes) with one row per label; got {p.shape} for {len(y)}")
    if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"labels must be class indices 0..{p.shape[1] - 1}")
    return y, p


def _bin_index(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    # bins are (k/n, (k+1)/n]; a confidence of exactly 0 (impossible for a top label) goes to the first
    return np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)


def reliability_bins(y_true, prob, n_bins: int = N_BINS) -> pd.DataFrame:
    """One row per bin of the top-label confidence: ``bin, lower, upper, n, confidence, accuracy``.

    ``confidence`` and ``accuracy`` are the means over the bin's units (NaN for an empty bin).
    """
    y, p = _check(y_true, prob)
    conf = p.max(axis=1) if len(p) else np.empty(0)
    correct = (p.argmax(axis=1) == y).astype(np.float64) if len(p) else np.empty(0)
    idx = _bin_index(conf, n_bins)
    n = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / n
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / n
    edges = np.arange(n_bins + 1) / n_bins
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "lower": edges[:-1],
            "upper": edges[1:],
            "n": n,
            "confidence": mean_conf,
            "accuracy": acc,
        }
    )


def expected_calibration_error(y_true, prob, n_bins: int = N_BINS) -> float:
    """ECE of the top-label confidence over ``n_bins`` equal-width bins, weighted by bin count (NaN without units)."""
    bins = reliability_bins(y_true, prob, n_bins)
    total = int(bins["n"].sum())
    if total == 0:
        return float("nan")
    full = bins[bins["n"] > 0]
    return float((full["n"] / total * (full["accuracy"] - full["confidence"]).abs()).sum())


def brier_score(y_true, prob) -> float:
    """Multi-class Brier score: mean over units of ``sum_k (p_k - onehot_k)^2`` (NaN without units)."""
    y, p = _check(y_true, prob)
    if len(y) == 0:
        return float("nan")
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def raw_available(predictions: pd.DataFrame, classes: Sequence[str]) -> bool:
    """Whether ``predictions`` carries every ``prob_raw_<class>`` column (probabilities before scaling)."""
    return all(f"{RAW_PREFIX}{c}" in predictions.columns for c in classes)


def _versions(predictions: pd.DataFrame, classes: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """``("after", table)`` and, with ``prob_raw_*`` columns, ``("before", table with them as prob_*)``."""
    out = [("after", predictions)]
    raw = [f"{RAW_PREFIX}{c}" for c in classes]
    present = [c for c in raw if c in predictions.columns]
    if present and len(present) < len(raw):
        missing = sorted(set(raw) - set(present))
        raise DataError(f"predictions have some prob_raw_* columns but not {missing}; all classes or none")
    if present:
        swapped = predictions.drop(columns=[f"prob_{c}" for c in classes]).rename(
            columns={f"{RAW_PREFIX}{c}": f"prob_{c}" for c in classes}
        )
        # the decision before scaling is the argmax of the raw probabilities (scaling keeps it, but be exact)
        swapped["pred_index"] = swapped[[f"prob_{c}" for c in classes]].to_numpy(np.float64).argmax(axis=1)
        out.insert(0, ("before", swapped))
    return out


def level_probabilities(predictions: pd.DataFrame, level: str, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, probabilities)`` of the units of ``level`` (recording: mean probability over its windows)."""
    agg = aggregate(predictions, level, classes)
    return agg["label_index"].to_numpy(np.int64), agg[[f"prob_{c}" for c in classes]].to_numpy(np.float64)


def calibration_table(
    pooled: Mapping[str, pd.DataFrame], classes: Sequence[str], n_bins: int = N_BINS
) -> tuple[pd.DataFrame, dict[str, dict[tuple[str, str], pd.DataFrame]]]:
    """Calibration of every model: the table (:data:`CALIBRATION_COLUMNS`) and reliability bins.

    Returns ``(table, bins)`` with ``bins[model][(level, calibrated)]`` the
    :func:`reliability_bins` behind each row.
    """
    classes = list(classes)
    rows: list[dict] = []
    bins: dict[str, dict] = {}
    for model, df in pooled.items():
        bins[model] = {}
        for calibrated, version in _versions(df, classes):
            for level in CALIBRATION_LEVELS:
                y, p = level_probabilities(version, level, classes)
                rows.append(
                    {
                        "model": model,
                        "level": level,
                        "calibrated": calibrated,
                        "ece": expected_calibration_error(y, p, n_bins),
                        "brier": brier_score(y, p),
                        "n": int(len(y)),
                    }
                )
                bins[model][(level, calibrated)] = reliability_bins(y, p, n_bins)
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS), bins
