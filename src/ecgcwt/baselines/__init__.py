"""Baselines for the scalogram CNNs, evaluated on the same subject folds (issue 7).

Two learners answer "is 2D transfer learning worth it?":

* :class:`~ecgcwt.baselines.wavelet_features.WaveletLearner` (``kind="wavelet"``):
  discrete-wavelet sub-band statistics of each window + a scikit-learn
  classifier (logistic regression or an RBF SVM), the kind of model MathWorks'
  wavelet-based ECG classification example uses.
* :class:`~ecgcwt.baselines.cnn1d.Cnn1dLearner` (``kind="cnn1d"``): a small 1D
  CNN trained from scratch on the raw windows.

Both follow the fold runner's learner protocol (:mod:`ecgcwt.runner`): the
runner splits the subjects and writes the fold's outputs, a learner only does

``fit(data, out_dir, log) -> history rows``
    fit on ``data.rows["train"]``; ``data.rows["val"]`` (may be empty) is
    reported per epoch (and drives early stopping of the 1D CNN).
``predict_proba(data, rows) -> (len(rows), n_classes) float64``
    class probabilities in ``data.classes`` order, each row summing to 1.
``save(path, data)``
    the fitted model, written atomically; ``model_file`` names the file.
``describe() -> dict``
    JSON-safe facts for ``metrics.json``.

Signals are read from the segment store (``data.source``) with
:func:`ecgcwt.segment_store.iter_signal_batches`.

The learner classes are imported lazily (``ecgcwt.baselines.Cnn1dLearner``
imports torch only when first used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, DataError

if TYPE_CHECKING:  # the runner imports this package: no import of it at run time
    from ..runner import FoldData

__all__ = [
    "KINDS",
    "BaselineConfigError",
    "Cnn1dLearner",
    "WaveletLearner",
    "build_learner",
    "check_train_rows",
    "fold_labels",
    "scores",
]

#: Learner kinds, as the runner and ``metrics.json`` name them.
KINDS = ("cnn1d", "wavelet")


class BaselineConfigError(ConfigError, ValueError):
    """An invalid baseline setting (a :class:`ValueError` too, for callers outside the workflow)."""


def fold_labels(data: "FoldData", rows: np.ndarray) -> np.ndarray:
    """Class indices (``label_index``, int64) of table ``rows``."""
    return data.table["label_index"].to_numpy(np.int64)[np.asarray(rows, dtype=np.int64)]


def check_train_rows(data: "FoldData", kind: str) -> np.ndarray:
    """The fold's training rows as int64, or a :class:`DataError` saying why there is nothing to fit."""
    rows = np.asarray(data.rows.get("train", ()), dtype=np.int64)
    if len(rows) == 0:
        raise DataError(
            f"{kind} fold {data.fold}: no training windows (data.rows['train'] is empty); "
            "every subject of the fold went to validation or test, or the segment store is empty"
        )
    if rows.min() < 0 or rows.max() >= len(data.table):
        raise DataError(
            f"{kind} fold {data.fold}: training rows outside the segment table (0..{len(data.table) - 1}); "
            "the rows and the table come from different segment stores"
        )
    return rows


def scores(y: np.ndarray, probs: np.ndarray) -> dict:
    """Mean cross-entropy, accuracy and balanced accuracy (recall averaged over the classes present).

    NaN for all three when there are no rows (an empty validation set).
    """
    n = len(y)
    if n == 0:
        return {"loss": float("nan"), "acc": float("nan"), "balanced_acc": float("nan")}
    y = np.asarray(y, dtype=np.int64)
    p_true = np.clip(probs[np.arange(n), y], 1e-15, 1.0)
    pred = probs.argmax(axis=1)
    recalls = [float(np.mean(pred[y == c] == c)) for c in np.unique(y)]
    return {
        "loss": float(-np.mean(np.log(p_true))),
        "acc": float(np.mean(pred == y)),
        "balanced_acc": float(np.mean(recalls)),
    }


def build_learner(
    kind: str,
    settings: dict | None,
    *,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = None,
):
    """A learner of ``kind`` (:data:`KINDS`).

    ``settings``: for ``"wavelet"`` the spec of :class:`WaveletLearner`
    (``seed`` is its seed); for ``"cnn1d"`` the ``training:`` mapping
    (its own ``seed`` key is used; ``device`` applies to it only).
    """
    if kind == "wavelet":
        from .wavelet_features import WaveletLearner

        return WaveletLearner(settings or {}, seed=seed, threads=threads)
    if kind == "cnn1d":
        from .cnn1d import Cnn1dLearner

        return Cnn1dLearner(settings or {}, device=device, threads=threads)
    raise BaselineConfigError(f"unknown baseline kind {kind!r}; allowed: {', '.join(KINDS)}")


def __getattr__(name: str) -> Any:
    if name == "WaveletLearner":
        from .wavelet_features import WaveletLearner

        return WaveletLearner
    if name == "Cnn1dLearner":
        from .cnn1d import Cnn1dLearner

        return Cnn1dLearner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
