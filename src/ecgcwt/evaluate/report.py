"""The evaluation report: several named models, ranked and compared on the same subjects.

Each model (:class:`ModelRuns`: a 2D CNN on scalograms, a 1D CNN on the raw
signal, a wavelet-feature classifier, ...) was cross-validated on the same
subject-grouped folds. Every subject is in the test set of exactly one fold,
so pooling a model's ``predictions.csv`` files (the contract of
:mod:`ecgcwt.evaluate.predictions`) gives one out-of-sample prediction per window of
every subject; metrics are computed on that pool at segment, recording and
subject level, and their intervals resample subjects (see
:mod:`ecgcwt.evaluate.metrics`). Models are then ranked by subject-level balanced
accuracy and compared pairwise on the same subjects (exact McNemar test and a
paired bootstrap of the difference, :mod:`ecgcwt.evaluate.stats`): every model against
the best one, and each ImageNet-pretrained 2D CNN against the same backbone
trained from scratch.

A :class:`LeakRun` (a model trained and tested on windows split at random,
ignoring whose they are) is shown apart, only to show how much such a split
inflates accuracy; it never enters the ranking or the statistics.

This module holds the models' inputs and the tables; :mod:`ecgcwt.evaluate.report_steps` builds
the report from them in six steps. Outputs (each written atomically) in ``out_dir``: ``summary.csv``,
``per_fold.csv``, ``ranking.csv``, ``statistics.csv``, ``leak.csv`` (with
leaky runs only), ``report.md``, ``report.html`` (self-contained: figures
embedded) and, under ``figures/``: ``model_comparison.png``, ``roc.png``,
``confusion_{model}_{level}.png`` (subject and recording level) and
``training_curves_{model}.png`` (models with a training history of more than
one epoch), ``reliability_{model}.png``; ``calibration.csv`` (ECE and Brier
score per model and level, :mod:`ecgcwt.evaluate.calibration`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ecgcwt.config import MODEL_KINDS, model_kind, validate_section
from ecgcwt.errors import DataError
from ecgcwt.evaluate.metrics import aggregate, bootstrap_metrics, flat_metrics
from ecgcwt.evaluate.predictions import read_predictions
from ecgcwt.evaluate.seeds import ENSEMBLE_SUFFIX
from ecgcwt.evaluate.stats import COMPARISON_LEVELS, _first, compare_models, interpretation, mcnemar_p_value

#: Levels reported (``subject_vote`` stays in each fold's metrics.json).
REPORT_LEVELS = ("segment", "recording", "recording_vote", "subject")
#: Levels with a confusion-matrix figure per model.
CONFUSION_LEVELS = ("subject", "recording")

SUMMARY_COLUMNS = [
    "model",
    "kind",
    "level",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n_segments",
    "n_recordings",
    "n_subjects",
]
PER_FOLD_COLUMNS = ["model", "fold", "level", "metric", "value"]
#: ``(level, metric)`` pairs of the ranking table, each with ``_ci_low`` and ``_ci_high``.
RANKING_METRICS = (
    ("subject", "balanced_accuracy"),
    ("recording", "balanced_accuracy"),
    ("segment", "balanced_accuracy"),
    ("subject", "macro_f1"),
    ("subject", "macro_auc"),
)
RANKING_COLUMNS = [
    "rank",
    "model",
    "kind",
    "backbone",
    "pretrained",
    "strategy",
    "n_seeds",
    "n_subjects",
    # the spread over training seeds (lowest, highest seed) beside the subject-bootstrap interval;
    # a one-seed model's is its value, an ensemble's is empty
    *[f"{lv}_{m}{s}" for lv, m in RANKING_METRICS for s in ("", "_ci_low", "_ci_high", "_seed_min", "_seed_max")],
    "n_recordings",
    "n_segments",
]
STATISTICS_COLUMNS = [
    "comparison",
    "model",
    "reference",
    "level",
    "n_units",
    "n_discordant",
    "b",
    "c",
    "p_value",
    "significant",
    "smallest_possible_p",
    "wins_needed",
    "balanced_accuracy_model",
    "balanced_accuracy_reference",
    "balanced_accuracy_difference",
    "balanced_accuracy_difference_ci_low",
    "balanced_accuracy_difference_ci_high",
    "accuracy_model",
    "accuracy_reference",
    "accuracy_difference",
    "accuracy_difference_ci_low",
    "accuracy_difference_ci_high",
    "alpha",
    "ci",
    "n_boot",
    "interpretation",
]
LEAK_COLUMNS = [
    "model",
    "n_windows",
    "n_subjects",
    "interval",
    "leaky_segment_accuracy",
    "leaky_segment_accuracy_ci_low",
    "leaky_segment_accuracy_ci_high",
    "leaky_segment_balanced_accuracy",
    "leaky_segment_balanced_accuracy_ci_low",
    "leaky_segment_balanced_accuracy_ci_high",
    "honest_segment_balanced_accuracy",
    "honest_segment_balanced_accuracy_ci_low",
    "honest_segment_balanced_accuracy_ci_high",
    "honest_subject_balanced_accuracy",
    "honest_subject_balanced_accuracy_ci_low",
    "honest_subject_balanced_accuracy_ci_high",
    "inflation_segment_balanced_accuracy",
]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass
class ModelRuns:
    """One named model and its cross-validation runs: a ``predictions.csv`` (and ``history.csv``) per fold."""

    name: str  # e.g. "resnet18", "resnet18_scratch", "cnn1d", "wavelet_svm"
    kind: str  # a key of ecgcwt.config.MODEL_KINDS
    predictions: list[tuple[int | str, str | os.PathLike]]  # (fold, predictions.csv), one per fold
    histories: list[tuple[int | str, str | os.PathLike]] = ()  # (fold, history.csv)
    backbone: str | None = None  # cnn2d only
    pretrained: str | None = None  # cnn2d: "imagenet" | "none" | a weights file
    strategy: str | None = None  # cnn2d: "finetune" | "linear_probe" | "scratch"
    #: training seed -> its (fold, predictions.csv) list, for a model trained with several seeds
    #: (``predictions`` is then ignored); None: one run, ``predictions``, of seed 0
    seeds: dict[int, list[tuple[int | str, str | os.PathLike]]] | None = None

    def seed_runs(self) -> dict[int, list[tuple[int | str, str | os.PathLike]]]:
        """Training seed -> (fold, predictions.csv) list; one entry for a one-seed model."""
        return {int(k): list(v) for k, v in self.seeds.items()} if self.seeds else {0: list(self.predictions)}


@dataclass
class LeakRun:
    """A model trained and tested on windows split at random (subjects ignored): for comparison only."""

    name: str  # the model it mirrors, e.g. "resnet18"
    predictions: str | os.PathLike  # one predictions.csv (a single random split)


def resolve_evaluate_config(cfg: dict | None) -> dict:
    """Fill defaults into the ``evaluate:`` mapping (bootstrap, ci, seed) and check it against the schema."""
    return validate_section("evaluate", cfg)


# --------------------------------------------------------------------------- inputs


def _check_models(models: Sequence[ModelRuns]) -> list[ModelRuns]:
    models = list(models)
    if not models:
        raise DataError("no models given to the report")
    seen = set()
    for m in models:
        if not isinstance(m, ModelRuns):
            raise TypeError(f"build_report takes ModelRuns, one per model; got {m!r}")
        if not _NAME.match(str(m.name)):
            raise ValueError(f"model name {m.name!r} must be letters, digits and _ . + - (it names files)")
        if m.name in seen:
            raise DataError(f"model {m.name!r} given twice; every model needs its own name")
        seen.add(m.name)
        if m.kind not in MODEL_KINDS:  # the registry at call time: a kind registered later counts
            raise ValueError(f"model {m.name!r}: kind must be one of {tuple(MODEL_KINDS)}, got {m.kind!r}")
        if not m.predictions and not m.seeds:
            raise DataError(f"model {m.name!r} has no predictions files")
    for m in models:
        if len(m.seed_runs()) > 1 and f"{m.name}{ENSEMBLE_SUFFIX}" in seen:
            raise DataError(
                f"model {m.name}{ENSEMBLE_SUFFIX!s} would be both a model and the ensemble of {m.name}'s seeds; "
                "rename the model"
            )
    return models


def pool_model(model: ModelRuns, classes: Sequence[str]) -> pd.DataFrame:
    """Read (checking the predictions contract) and pool one model's test folds; adds a ``fold`` column.

    Refuses a fold given twice, and a pool where a subject appears in two
    folds: then the folds were not a partition of subjects and pooled metrics
    would count people twice.
    """
    frames, seen = [], set()
    for fold, path in model.predictions:
        if str(fold) in seen:
            raise DataError(f"fold {fold} of {model.name} given twice")
        seen.add(str(fold))
        try:
            df = read_predictions(path, classes)
        except DataError as exc:
            raise DataError(f"{model.name} fold {fold}: {exc}") from None
        df.insert(0, "fold", str(fold))
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    folds_per_subject = df.groupby("subject")["fold"].nunique()
    twice = folds_per_subject[folds_per_subject > 1]
    if len(twice):
        raise DataError(
            f"{model.name}: subjects tested in more than one fold (first: {list(twice.index[:5])}); "
            "predictions of different fold assignments were mixed"
        )
    return df


def check_same_units(pooled: dict[str, pd.DataFrame]) -> None:
    """Raise a DataError naming both models unless every model was tested on the same subjects and recordings."""
    names = list(pooled)
    ref = names[0]
    for name in names[1:]:
        for key in ("subject", "recording"):
            a, b = set(pooled[ref][key]), set(pooled[name][key])
            if a != b:
                raise DataError(
                    f"models {ref!r} and {name!r} were not tested on the same {key}s: "
                    f"{len(a - b)} only in {ref} ({_first(sorted(a - b), 5)}), {len(b - a)} only in {name} ({_first(sorted(b - a), 5)}); "
                    "a paired comparison needs every model's predictions on the same folds of the same subjects "
                    "(rerun the model whose folds or data differ)"
                )


def _read_histories(model: ModelRuns) -> list[tuple[str, pd.DataFrame]]:
    runs = []
    for fold, path in model.histories:
        if not Path(path).is_file():
            raise DataError(f"history file {str(path)!r} of {model.name} fold {fold} does not exist")
        h = pd.read_csv(path)
        missing = [c for c in ("epoch", "train_loss", "val_loss") if c not in h.columns]
        if missing:
            raise DataError(f"history file {str(path)!r} of {model.name} lacks columns {missing}")
        runs.append((str(fold), h))
    return runs


# --------------------------------------------------------------------------- tables


def model_tables(
    model: ModelRuns, df: pd.DataFrame, classes: list[str], n_boot: int, ci: float, seed: int
) -> tuple[pd.DataFrame, list[dict]]:
    """Summary rows (pooled folds, subject-bootstrap CIs) and per-fold rows of one model."""
    counts = {"n_segments": len(df), "n_recordings": df["recording"].nunique(), "n_subjects": df["subject"].nunique()}
    parts, per_fold = [], []
    for level in REPORT_LEVELS:
        boot = bootstrap_metrics(df, level, classes, n_boot=n_boot, ci=ci, seed=seed)
        boot.insert(0, "level", level)
        boot.insert(0, "kind", model.kind)
        boot.insert(0, "model", model.name)
        parts.append(boot.assign(**counts))
        for fold, fdf in df.groupby("fold", sort=False):
            agg = aggregate(fdf, level, classes)
            values = flat_metrics(
                agg["label_index"], agg["pred_index"], agg[[f"prob_{c}" for c in classes]].to_numpy(), classes
            )
            per_fold += [
                {"model": model.name, "fold": fold, "level": level, "metric": m, "value": v} for m, v in values.items()
            ]
    return pd.concat(parts, ignore_index=True)[SUMMARY_COLUMNS], per_fold


def _lookup(summary: pd.DataFrame, model: str, level: str, metric: str) -> tuple[float, float, float]:
    row = summary[(summary["model"] == model) & (summary["level"] == level) & (summary["metric"] == metric)]
    if row.empty:
        return float("nan"), float("nan"), float("nan")
    r = row.iloc[0]
    return float(r["value"]), float(r["ci_low"]), float(r["ci_high"])


def ranking_table(
    summary: pd.DataFrame,
    models: Sequence[ModelRuns],
    spread: pd.DataFrame | None = None,
    n_seeds: dict[str, int] | None = None,
) -> pd.DataFrame:
    """One row per model, best first: by subject-level balanced accuracy, ties by recording level, then order given.

    ``spread`` (``model, level, metric, seed_min, seed_max``) gives the range
    over training seeds of the models trained with several; a model not in it
    (one seed) spans its value, an ensemble (``n_seeds`` members, no spread
    rows) nothing.
    """
    rows = []
    n_seeds = n_seeds or {}
    spread = (
        spread if spread is not None else pd.DataFrame(columns=["model", "level", "metric", "seed_min", "seed_max"])
    )
    for m in models:
        s = summary[summary["model"] == m.name].iloc[0]
        row = {
            "model": m.name,
            "kind": m.kind,
            "backbone": m.backbone,
            "pretrained": m.pretrained,
            "strategy": m.strategy,
            "n_seeds": int(n_seeds.get(m.name, 1)),
            "n_subjects": int(s["n_subjects"]),
            "n_recordings": int(s["n_recordings"]),
            "n_segments": int(s["n_segments"]),
        }
        for level, metric in RANKING_METRICS:
            v, lo, hi = _lookup(summary, m.name, level, metric)
            row.update({f"{level}_{metric}": v, f"{level}_{metric}_ci_low": lo, f"{level}_{metric}_ci_high": hi})
            sp = spread[(spread["model"] == m.name) & (spread["level"] == level) & (spread["metric"] == metric)]
            if len(sp):
                lo_s, hi_s = float(sp["seed_min"].iloc[0]), float(sp["seed_max"].iloc[0])
            elif m.name.endswith(ENSEMBLE_SUFFIX) and n_seeds.get(m.name, 1) > 1:
                lo_s = hi_s = float("nan")  # an ensemble is one model: no spread over seeds
            else:
                lo_s = hi_s = v
            row.update({f"{level}_{metric}_seed_min": lo_s, f"{level}_{metric}_seed_max": hi_s})
        rows.append(row)

    def key(i: int):
        r = rows[i]
        return (
            -np.nan_to_num(r["subject_balanced_accuracy"], nan=-np.inf),
            -np.nan_to_num(r["recording_balanced_accuracy"], nan=-np.inf),
            i,
        )

    order = sorted(range(len(rows)), key=key)
    out = pd.DataFrame([rows[i] for i in order])
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out[RANKING_COLUMNS]


def _is_scratch(m: ModelRuns) -> bool:
    return m.strategy == "scratch" or str(m.pretrained).lower() == "none"


def _is_pretrained(m: ModelRuns) -> bool:
    return m.pretrained is not None and str(m.pretrained).lower() != "none" and m.strategy != "scratch"


def pretrained_scratch_pairs(models: Sequence[ModelRuns]) -> list[tuple[str, str]]:
    """``(pretrained, scratch)`` name pairs of 2D CNNs with the same backbone, one from pretrained weights.

    A model counts as trained from scratch when its ``strategy`` is
    ``scratch`` or its ``pretrained`` is ``none``; as pretrained when it starts
    from weights (``imagenet`` or a weights file) and is fine-tuned or
    linearly probed.
    """
    cnn = [m for m in models if model_kind(m.kind).backbone and m.backbone]
    return [
        (p.name, s.name)
        for p in cnn
        if _is_pretrained(p)
        for s in cnn
        if s is not p and s.backbone == p.backbone and _is_scratch(s)
    ]


def wins_needed(n_discordant: int, alpha: float) -> int | None:
    """Fewest of ``n_discordant`` discordant units that must go one way for exact McNemar ``p < alpha``.

    ``None`` when even all of them going the same way would not do.
    """
    d = int(n_discordant)
    for k in range((d + 1) // 2, d + 1):
        if mcnemar_p_value(k, d - k) < alpha:
            return k
    return None


def min_discordant_for_significance(alpha: float) -> int:
    """Smallest number of discordant units for which ``p < alpha`` is possible at all (all going one way)."""
    d = 1
    while mcnemar_p_value(d, 0) >= alpha:
        d += 1
    return d


def statistics_table(
    pooled: dict[str, pd.DataFrame],
    models: Sequence[ModelRuns],
    best: str,
    *,
    n_boot: int,
    ci: float,
    seed: int,
    alpha: float,
) -> pd.DataFrame:
    """Paired comparisons at subject and recording level: every model vs ``best``, pretrained vs scratch.

    ``b``: units the model got right and the reference wrong; ``c`` the
    reverse; ``p_value``: exact McNemar test on them; differences (model minus
    reference) with paired bootstrap intervals resampling subjects.
    """
    pairs = [("vs best", m.name, best) for m in models if m.name != best]
    pairs += [("pretrained vs scratch", p, s) for p, s in pretrained_scratch_pairs(models)]
    rows = []
    for comparison, model, reference in pairs:
        for level in COMPARISON_LEVELS:
            try:
                r = compare_models(
                    {model: pooled[model], reference: pooled[reference]}, reference, level, n_boot, ci, seed
                ).iloc[0]
            except DataError as exc:
                raise DataError(f"comparing {model!r} with {reference!r}: {exc}") from None
            d = int(r["b"] + r["c"])
            needed = wins_needed(d, alpha)
            rows.append(
                {
                    "comparison": comparison,
                    "model": model,
                    "reference": reference,
                    "level": level,
                    "n_units": int(r["n_units"]),
                    "n_discordant": d,
                    "b": int(r["b"]),
                    "c": int(r["c"]),
                    "p_value": float(r["p_value"]),
                    "significant": bool(r["p_value"] < alpha),
                    "smallest_possible_p": mcnemar_p_value(d, 0),
                    "wins_needed": needed,
                    "balanced_accuracy_model": r["balanced_accuracy_model"],
                    "balanced_accuracy_reference": r["balanced_accuracy_reference"],
                    "balanced_accuracy_difference": r["balanced_difference"],
                    "balanced_accuracy_difference_ci_low": r["balanced_ci_low"],
                    "balanced_accuracy_difference_ci_high": r["balanced_ci_high"],
                    "accuracy_model": r["accuracy_model"],
                    "accuracy_reference": r["accuracy_reference"],
                    "accuracy_difference": r["difference"],
                    "accuracy_difference_ci_low": r["ci_low"],
                    "accuracy_difference_ci_high": r["ci_high"],
                    "alpha": float(alpha),
                    "ci": float(ci),
                    "n_boot": int(n_boot),
                    "interpretation": interpretation(r, alpha=alpha),
                }
            )
    out = pd.DataFrame(rows, columns=STATISTICS_COLUMNS)
    out["wins_needed"] = out["wins_needed"].astype("Int64")
    return out


def leak_table(
    leak: Sequence[LeakRun],
    summary: pd.DataFrame,
    classes: list[str],
    *,
    n_boot: int,
    ci: float,
    seed: int,
) -> pd.DataFrame:
    """Each leaky run's segment-level (balanced) accuracy beside its model's honest, subject-split values.

    The leaky interval is a *window* bootstrap (windows resampled as if
    independent, which is what a random window split assumes); the honest ones
    resample subjects.
    """
    models = list(dict.fromkeys(summary["model"]))
    rows, seen = [], set()
    for run in leak:
        if run.name not in models:
            raise DataError(f"leaky run {run.name!r} mirrors no model of the report (models: {', '.join(models)})")
        if run.name in seen:
            raise DataError(f"leaky run of {run.name!r} given twice")
        seen.add(run.name)
        try:
            df = read_predictions(run.predictions, classes)
        except DataError as exc:
            raise DataError(f"leaky run of {run.name}: {exc}") from None
        windows = df.assign(subject="w" + df["segment"].astype(str))  # every window its own resampling unit
        boot = bootstrap_metrics(windows, "segment", classes, n_boot=n_boot, ci=ci, seed=seed).set_index("metric")
        row = {
            "model": run.name,
            "n_windows": len(df),
            "n_subjects": df["subject"].nunique(),
            "interval": f"window bootstrap ({n_boot} resamples of windows)",
        }
        for metric in ("accuracy", "balanced_accuracy"):
            b = boot.loc[metric]
            row[f"leaky_segment_{metric}"] = float(b["value"])
            row[f"leaky_segment_{metric}_ci_low"] = float(b["ci_low"])
            row[f"leaky_segment_{metric}_ci_high"] = float(b["ci_high"])
        for level in ("segment", "subject"):
            v, lo, hi = _lookup(summary, run.name, level, "balanced_accuracy")
            row[f"honest_{level}_balanced_accuracy"] = v
            row[f"honest_{level}_balanced_accuracy_ci_low"] = lo
            row[f"honest_{level}_balanced_accuracy_ci_high"] = hi
        row["inflation_segment_balanced_accuracy"] = (
            row["leaky_segment_balanced_accuracy"] - row["honest_segment_balanced_accuracy"]
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=LEAK_COLUMNS)


def skipped_records_table(segments_qc: str | os.PathLike | pd.DataFrame | None) -> pd.DataFrame:
    """``db, record, label, reason`` of each record a QC table marks ``skipped`` (empty without any)."""
    cols = ["db", "record", "label", "reason"]
    if segments_qc is None:
        return pd.DataFrame(columns=cols)
    qc = (
        segments_qc
        if isinstance(segments_qc, pd.DataFrame)
        else pd.read_csv(
            segments_qc,
            dtype={"db": str, "record": str, "label": str, "status": str, "reason": str},
            keep_default_na=False,
        )
    )
    if "status" not in qc.columns:  # a QC table from before the status column
        return pd.DataFrame(columns=cols)
    rows = qc[qc["status"] == "skipped"].drop_duplicates(["db", "record"])
    return rows[cols].reset_index(drop=True)
