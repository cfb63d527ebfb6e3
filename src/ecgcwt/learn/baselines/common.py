"""What the baseline learners share: the fold's labels, its training rows, and their scores."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecgcwt.data import read_info
from ecgcwt.errors import ConfigError, DataError
from ecgcwt.evaluate import balanced_accuracy

if TYPE_CHECKING:
    from ecgcwt.learn.runner import FoldData


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
    return {
        "loss": float(-np.mean(np.log(p_true))),
        "acc": float(np.mean(pred == y)),
        "balanced_acc": balanced_accuracy(y, pred),
    }


def check_window(trained: str, window: int, source) -> None:
    """DataError unless the segment store ``source`` holds windows of ``window`` samples (``trained``: who says so)."""
    held = read_info(source).window
    if held != window:
        raise DataError(f"{trained} on windows of {window} samples, but {str(source)!r} holds windows of {held}")
