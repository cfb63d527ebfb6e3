"""The predictions contract: one table format that every model writes and the report reads.

``predictions.csv`` (one row per test window, any model kind):

=====================  ==========================================================
``segment``            row of the window in ``segments.h5`` (join key)
``db``, ``record``     database and record name
``subject``            person id (the unit of the subject-grouped split)
``recording``          ``{db}/{record}/{lead}``: one lead of one record
``lead``               channel index
``label``              true class name; ``label_index`` its position in the classes
``pred_index``         predicted class (argmax of the probabilities)
``pred_label``         its name
``prob_{class}``       one probability column per class, in class order; rows sum to 1
``prob_raw_{class}``   optional: the same before temperature scaling (calibration report only)
=====================  ==========================================================

:func:`build_predictions` makes the table from the segment rows and a
probability matrix, :func:`write_predictions` checks and writes it
atomically, :func:`read_predictions` reads and checks it (a file that breaks
the contract is named with what is wrong and how to rebuild it).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from ecgcwt.atomic import write_csv
from ecgcwt.errors import DataError

#: Columns copied from the segment table, in this order.
ID_COLUMNS = ["segment", "db", "record", "subject", "recording", "lead", "label", "label_index"]
#: Text columns (read as strings: record names like "100" must not become numbers).
_TEXT = {"db": str, "record": str, "subject": str, "recording": str, "label": str, "pred_label": str}
#: How far a row's probabilities may sum from 1 (float32 softmax, CSV rounding).
_SUM_TOLERANCE = 1e-3


def prob_columns(classes: Sequence[str]) -> list[str]:
    return [f"prob_{c}" for c in classes]


def classes_of(df: pd.DataFrame) -> list[str]:
    """The class names of a predictions table, from its ``prob_*`` columns (in order).

    ``prob_raw_*`` columns (optional: probabilities before temperature scaling) are not classes.
    """
    return [c[len("prob_") :] for c in df.columns if c.startswith("prob_") and not c.startswith("prob_raw_")]


def build_predictions(rows: pd.DataFrame, probs: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """The predictions table of ``rows`` (segment-table rows) given their class ``probs`` (n x classes)."""
    classes = list(classes)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != (len(rows), len(classes)):
        raise ValueError(f"probabilities of shape {probs.shape} for {len(rows)} rows and {len(classes)} classes")
    missing = [c for c in ID_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"segment rows lack columns {missing}")
    df = rows[ID_COLUMNS].reset_index(drop=True).copy()
    df["pred_index"] = probs.argmax(axis=1).astype(np.int64) if len(df) else np.empty(0, np.int64)
    df["pred_label"] = [classes[i] for i in df["pred_index"]]
    for j, name in enumerate(classes):
        df[f"prob_{name}"] = probs[:, j]
    return df


def check_predictions(df: pd.DataFrame, where: str, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Raise a DataError naming ``where`` unless ``df`` follows the contract; returns ``df``."""
    found = classes_of(df)
    if classes is not None and found != list(classes):
        raise DataError(f"{where}: probability columns are for classes {found}, expected {list(classes)}")
    missing = [c for c in [*ID_COLUMNS, "pred_index", "pred_label"] if c not in df.columns]
    if missing or not found:
        raise DataError(f"{where}: not an ecgcwt predictions table (missing columns {missing or ['prob_*']})")
    probs = df[prob_columns(found)].to_numpy(dtype=np.float64)
    if len(df) and (not np.isfinite(probs).all() or np.abs(probs.sum(axis=1) - 1).max() > _SUM_TOLERANCE):
        raise DataError(f"{where}: probabilities are not finite or do not sum to 1 in every row")
    n = len(found)
    for col in ("label_index", "pred_index"):
        v = df[col].to_numpy()
        if len(v) and (v.min() < 0 or v.max() >= n):
            raise DataError(f"{where}: {col} outside 0..{n - 1}")
    if len(df) and (df["pred_label"].to_numpy() != np.asarray(found, dtype=object)[df["pred_index"]]).any():
        raise DataError(f"{where}: pred_label does not match pred_index")
    if len(df) and df["segment"].duplicated().any():
        raise DataError(f"{where}: a window (segment) is predicted twice")
    return df


def write_predictions(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Check ``df`` against the contract and write it atomically."""
    write_csv(check_predictions(df, str(path)), path)


def read_predictions(path: str | os.PathLike, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Read and check one ``predictions.csv``."""
    try:
        df = pd.read_csv(path, dtype=_TEXT, keep_default_na=False)
    except FileNotFoundError:
        raise DataError(f"{str(path)!r} does not exist; rerun the job that writes it") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{str(path)!r} is not a readable CSV ({exc}); delete it and rerun its job") from exc
    try:
        return check_predictions(df, repr(str(path)), classes)
    except DataError as exc:
        raise DataError(f"{exc}; delete it and rerun the job that writes it") from None
