"""Several training seeds of one model: the mean over seeds, its spread, the ensemble and ``seeds.csv``.

A model trained with several seeds (``training.seeds``) has one pooled set of
test predictions per seed, all on the same windows. The report shows

* the model itself: each metric is the **mean over its seeds** (each seed's
  pooled folds scored as a one-seed model is), with the seeds' **spread**
  (lowest and highest seed) beside it; its interval is the seeds'
  subject-bootstrap intervals averaged bound by bound;
* ``{model}_ensemble``: the mean of the seeds' window probabilities
  (:func:`ensemble_predictions`), then scored like any model (segment,
  recording and subject level, its own interval, the paired tests);
* ``seeds.csv`` (:func:`seeds_table`): every seed's balanced accuracy and
  accuracy at every level, so the spread can be checked seed by seed.

With one seed nothing changes: no ensemble, and ``seeds.csv`` has that one seed.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ecgcwt.errors import DataError
from ecgcwt.evaluate.metrics import aggregate, flat_metrics

#: What an ensemble's name adds to its model's.
ENSEMBLE_SUFFIX = "_ensemble"
SEEDS_COLUMNS = ["model", "seed", "level", "balanced_accuracy", "accuracy", "n"]
#: Columns that identify a window in a pooled predictions table (the members must agree on them).
_KEY = ["fold", "segment"]


def ensemble_predictions(members: Sequence[pd.DataFrame], classes: Sequence[str]) -> pd.DataFrame:
    """The ensemble of pooled predictions tables of the same windows: the mean of their probabilities.

    Rows follow the first member; ``pred_index``/``pred_label`` become the
    argmax of the mean. Raises :class:`DataError` unless every member has
    exactly the same windows (``fold``, ``segment``) with the same labels.
    """
    classes = list(classes)
    if not members:
        raise DataError("an ensemble needs at least one member")
    prob = [f"prob_{c}" for c in classes]
    first = members[0].reset_index(drop=True)
    key = [c for c in _KEY if c in first.columns]
    index = pd.MultiIndex.from_frame(first[key].astype(str))
    # probabilities before temperature scaling (prob_raw_*), where every member has them: averaged too,
    # so the ensemble's "before" calibration is its own and not its first member's
    raw = [f"prob_raw_{c}" for c in classes]
    has_raw = all(set(raw) <= set(m.columns) for m in members)
    total = first[prob].to_numpy(dtype=np.float64).copy()
    total_raw = first[raw].to_numpy(dtype=np.float64).copy() if has_raw else None
    for i, other in enumerate(members[1:], 2):
        o = other.set_index(pd.MultiIndex.from_frame(other[key].astype(str)))
        if len(other) != len(first) or not index.isin(o.index).all():
            raise DataError(
                f"ensemble member {i} was not tested on the same windows as member 1 "
                f"({len(other)} vs {len(first)} windows); every seed needs the same folds and data"
            )
        o = o.loc[index]
        if not np.array_equal(o["label"].to_numpy(), first["label"].to_numpy()):
            raise DataError(f"ensemble member {i} labels the same windows differently; rebuild its predictions")
        total += o[prob].to_numpy(dtype=np.float64)
        if total_raw is not None:
            total_raw += o[raw].to_numpy(dtype=np.float64)
    out = first.copy()
    mean = total / len(members)
    out[prob] = mean
    if total_raw is not None:
        out[raw] = total_raw / len(members)
    else:
        out = out.drop(columns=[c for c in raw if c in out.columns])
    out["pred_index"] = mean.argmax(axis=1)
    out["pred_label"] = [classes[i] for i in out["pred_index"]]
    return out


def seeds_table(per_seed: Mapping[str, Mapping[int, pd.DataFrame]], classes: Sequence[str], levels) -> pd.DataFrame:
    """``model, seed, level, balanced_accuracy, accuracy, n`` of every model's every seed (``n``: units scored)."""
    classes = list(classes)
    rows = []
    for model, seeds in per_seed.items():
        for seed, df in seeds.items():
            for level in levels:
                agg = aggregate(df, level, classes)
                m = flat_metrics(
                    agg["label_index"], agg["pred_index"], agg[[f"prob_{c}" for c in classes]].to_numpy(), classes
                )
                rows.append(
                    {
                        "model": model,
                        "seed": int(seed),
                        "level": level,
                        "balanced_accuracy": m["balanced_accuracy"],
                        "accuracy": m["accuracy"],
                        "n": int(len(agg)),
                    }
                )
    return pd.DataFrame(rows, columns=SEEDS_COLUMNS)


def mean_over_seeds(parts: Sequence[pd.DataFrame], keys: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The seeds' tables (same rows, one per seed) averaged over seeds, and each row's lowest and highest seed.

    ``value`` (and ``ci_low``/``ci_high`` where present) are averaged per
    ``keys``; the second frame has ``keys`` plus ``seed_min``, ``seed_max``
    (of ``value``). Row order follows the first table.
    """
    both = pd.concat(parts, ignore_index=True)
    numeric = [c for c in ("value", "ci_low", "ci_high") if c in both.columns]
    grouped = both.groupby(list(keys), sort=False, dropna=False)
    mean = grouped[numeric].mean().reset_index()
    spread = grouped["value"].agg(seed_min="min", seed_max="max").reset_index()
    first = parts[0].drop(columns=numeric)
    return first.merge(mean, on=list(keys), how="left")[list(parts[0].columns)], spread
