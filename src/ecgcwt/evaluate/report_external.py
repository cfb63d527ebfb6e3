"""The report's "External validation" section: every model on records of people it never saw.

Each model trained on every training subject (``results/models/{model}/all/``)
classified the records of ``external.path`` (:func:`ecgcwt.apply.predict_external`,
one ``metrics.json`` per model); this section puts those record-level scores side by
side, so transfer learning and the baselines are compared on the same unseen people.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Mapping

import pandas as pd

from ecgcwt.errors import DataError

#: Columns of the section's table.
EXTERNAL_COLUMNS = [
    "model",
    "kind",
    "members",
    "records",
    "evaluated",
    "skipped",
    "balanced_accuracy",
    "balanced_accuracy_ci_low",
    "balanced_accuracy_ci_high",
    "accuracy",
    "macro_f1",
]


def external_table(external: Mapping[str, str | os.PathLike], order: list[str] | None = None) -> pd.DataFrame:
    """One row per model of its external validation's ``metrics.json``, in ``order`` (e.g. the ranking's) first.

    A model whose records could not be scored (no label among its classes) has empty scores.
    Raises :class:`DataError` naming a file that is missing or not an external validation's metrics.
    """
    rows = []
    names = [n for n in (order or []) if n in external] + [n for n in external if n not in (order or [])]
    for name in names:
        path = Path(external[name])
        try:
            metrics = json.loads(path.read_text())
            counts = metrics["counts"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"external validation of {name}: {str(path)!r} is not readable metrics ({exc})") from None
        scores = metrics.get("metrics") or {}

        def value(metric: str, key: str = "value") -> float:
            return float((scores.get(metric) or {}).get(key, math.nan))

        rows.append(
            {
                "model": name,
                "kind": (metrics.get("model") or {}).get("kind"),
                # one model per training seed: their ensemble (mean probability) classified the records
                "members": int((metrics.get("model") or {}).get("n_members", 1)),
                "records": int(counts["records"]),
                "evaluated": int(counts["evaluated"]),
                "skipped": int(counts["skipped"]),
                "balanced_accuracy": value("balanced_accuracy"),
                "balanced_accuracy_ci_low": value("balanced_accuracy", "ci_low"),
                "balanced_accuracy_ci_high": value("balanced_accuracy", "ci_high"),
                "accuracy": value("accuracy"),
                "macro_f1": value("macro_f1"),
            }
        )
    return pd.DataFrame(rows, columns=EXTERNAL_COLUMNS)


def external_blocks(table: pd.DataFrame, ci: float) -> list:
    """The section's blocks (none without external validation)."""
    if table.empty:
        return []
    shown = table.copy()
    for col in ("balanced_accuracy", "balanced_accuracy_ci_low", "balanced_accuracy_ci_high", "accuracy", "macro_f1"):
        shown[col] = shown[col].map(lambda v: "" if not math.isfinite(v) else f"{v:.3f}")
    n = int(table["evaluated"].max())
    return [
        ("h2", "External validation"),
        (
            "p",
            "Every model, trained on all training subjects, classified the records of the external folder "
            f"(external.path): people none of the models saw in training, the same records for every kind, so the "
            f"scalogram CNNs and the baselines are compared on new people. Record level (the mean probability of a "
            f"record's windows; members: the models, one per training seed, whose mean probability decides); "
            f"{100 * ci:g}% intervals resample records, treating records of one person as "
            f"independent. With {n} scored record(s), models whose intervals overlap are not shown to differ on "
            "new people.",
        ),
        ("table", shown),
    ]


__all__ = ["EXTERNAL_COLUMNS", "external_blocks", "external_table"]
