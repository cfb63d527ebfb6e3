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

Outputs (each written atomically) in ``out_dir``: ``summary.csv``,
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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ecgcwt import __version__
from ecgcwt.atomic import write_csv, write_text
from ecgcwt.config import MODEL_KINDS, model_kind, validate_section
from ecgcwt.errors import DataError
from ecgcwt.evaluate.calibration import calibration_table
from ecgcwt.evaluate.metrics import aggregate, bootstrap_metrics, confusion, flat_metrics
from ecgcwt.evaluate.predictions import read_predictions
from ecgcwt.evaluate.report_figures import (
    plot_confusion,
    plot_model_comparison,
    plot_reliability,
    plot_roc,
    plot_training_curves,
)
from ecgcwt.evaluate.report_provenance import banner_blocks, provenance_blocks
from ecgcwt.evaluate.report_render import to_html, to_markdown
from ecgcwt.evaluate.report_text import (
    LEVEL_TEXT,
    Context,
    calibration_blocks,
    comparison_blocks,
    details_blocks,
    explanation_blocks,
    gallery_blocks,
    leak_blocks,
    ranking_blocks,
    roc_blocks,
    settings_blocks,
    skipped_blocks,
    statistics_blocks,
    training_blocks,
)
from ecgcwt.evaluate.seeds import ENSEMBLE_SUFFIX, ensemble_predictions, mean_over_seeds, seeds_table
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


# --------------------------------------------------------------------------- the report, step by step
#
# build_report runs six steps, each with one job and testable alone:
#   pool_step      read and check every model's test folds, pooled per training seed
#   ensemble_step  add the ensemble of each model trained with several seeds
#   score_step     the tables: summary, per-fold, ranking, seeds, calibration
#   compare_step   the paired tests (and the leaky runs' table)
#   figures_step   the figures
#   page_step      the CSV tables and the page (report.md, report.html)


@dataclass(frozen=True)
class ReportSettings:
    """How the report scores and tests: classes, bootstrap resamples, interval, seed, significance level."""

    classes: tuple[str, ...]
    n_boot: int = 1000
    ci: float = 0.95
    seed: int = 0
    alpha: float = 0.05

    def __post_init__(self) -> None:
        resolve_evaluate_config({"bootstrap": self.n_boot, "ci": self.ci, "seed": self.seed})
        if not 0 < float(self.alpha) < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        object.__setattr__(self, "classes", tuple(self.classes))


@dataclass
class Pooled:
    """Step 1's result: each model's test folds pooled, once per training seed (same subjects for every model)."""

    models: list[ModelRuns]  # as given, checked
    per_seed: dict[str, dict[int, pd.DataFrame]]  # model -> seed -> pooled predictions (with a fold column)


def pool_step(models: Sequence[ModelRuns], classes: Sequence[str]) -> Pooled:
    """Read (checking the predictions contract) and pool every model's folds per seed; refuse different units."""
    models = _check_models(models)
    classes = list(classes)
    per_seed = {
        m.name: {s: pool_model(replace(m, predictions=runs), classes) for s, runs in m.seed_runs().items()}
        for m in models
    }
    # a model's first seed stands for it where one frame is needed (every seed has the same units)
    check_same_units({name: next(iter(runs.values())) for name, runs in per_seed.items()})
    return Pooled(models=models, per_seed=per_seed)


@dataclass
class Ensembled:
    """Step 2's result: the report's models, each model trained with several seeds followed by its ensemble.

    ``pooled`` holds one prediction per unit for every model: a one-seed model's pool, an
    ensemble's mean probability over the seeds, and (standing in where one frame is needed)
    a several-seed model's first seed. ``several`` names the models shown as a mean over seeds.
    """

    models: list[ModelRuns]
    pooled: dict[str, pd.DataFrame]
    per_seed: dict[str, dict[int, pd.DataFrame]]
    several: set[str]
    n_seeds: dict[str, int]

    def single(self, order: Sequence[ModelRuns]) -> list[ModelRuns]:
        """The models of ``order`` with one prediction per unit (a mean over seeds has none: its ensemble stands in)."""
        return [m for m in order if m.name not in self.several]


def ensemble_step(pooled: Pooled, classes: Sequence[str]) -> Ensembled:
    """Add ``{model}_ensemble`` (mean of the seeds' window probabilities) after each model with several seeds."""
    classes = list(classes)
    frames = {name: next(iter(runs.values())) for name, runs in pooled.per_seed.items()}
    n_seeds = {name: len(runs) for name, runs in pooled.per_seed.items()}
    several = {name for name, n in n_seeds.items() if n > 1}
    models: list[ModelRuns] = []
    for m in pooled.models:
        models.append(m)
        if m.name not in several:
            continue
        ens = replace(m, name=f"{m.name}{ENSEMBLE_SUFFIX}", seeds=None, histories=())
        try:
            frames[ens.name] = ensemble_predictions(list(pooled.per_seed[m.name].values()), classes)
        except DataError as exc:
            raise DataError(f"{m.name}: {exc}") from None
        n_seeds[ens.name] = n_seeds[m.name]
        models.append(ens)
    return Ensembled(models=models, pooled=frames, per_seed=pooled.per_seed, several=several, n_seeds=n_seeds)


@dataclass
class Scores:
    """Step 3's result: the report's tables and the models in ranking order."""

    summary: pd.DataFrame
    per_fold: pd.DataFrame
    ranking: pd.DataFrame
    seeds: pd.DataFrame
    calibration: pd.DataFrame
    reliability: dict  # model -> {(level, calibrated): reliability bins}
    ranked: list[ModelRuns]


def score_step(ens: Ensembled, settings: ReportSettings) -> Scores:
    """Metrics of every model with subject-bootstrap intervals (a several-seed model: the mean over its seeds)."""
    classes, n_boot, ci, seed = list(settings.classes), settings.n_boot, settings.ci, settings.seed
    summary_parts, per_fold_rows, spreads = [], [], []
    for m in ens.models:
        if m.name not in ens.several:
            part, rows = model_tables(m, ens.pooled[m.name], classes, n_boot, ci, seed)
            summary_parts.append(part)
            per_fold_rows += rows
            continue
        # the mean over seeds (and its spread)
        tables = [model_tables(m, df, classes, n_boot, ci, seed) for df in ens.per_seed[m.name].values()]
        part, spread = mean_over_seeds([t[0] for t in tables], ["model", "level", "metric"])
        folds, _ = mean_over_seeds([pd.DataFrame(t[1], columns=PER_FOLD_COLUMNS) for t in tables], PER_FOLD_COLUMNS[:4])
        summary_parts.append(part)
        spreads.append(spread)
        per_fold_rows += folds.to_dict("records")
    summary = pd.concat(summary_parts, ignore_index=True)[SUMMARY_COLUMNS]
    ranking = ranking_table(summary, ens.models, pd.concat(spreads) if spreads else None, ens.n_seeds)
    by_name = {m.name: m for m in ens.models}
    ranked = [by_name[n] for n in ranking["model"]]
    calibration, reliability = calibration_table(ens.pooled, classes)
    return Scores(
        summary=summary,
        per_fold=pd.DataFrame(per_fold_rows, columns=PER_FOLD_COLUMNS),
        ranking=ranking,
        seeds=seeds_table(ens.per_seed, classes, REPORT_LEVELS),
        calibration=calibration,
        reliability=reliability,
        ranked=ranked,
    )


@dataclass
class PairedTests:
    """Step 4's result: the paired comparisons and, with leaky runs, their table (None without)."""

    statistics: pd.DataFrame
    leak: pd.DataFrame | None


def compare_step(ens: Ensembled, scores: Scores, leak: Sequence[LeakRun], settings: ReportSettings) -> PairedTests:
    """Paired tests of the models with one prediction per unit against the best of them, pretrained vs scratch."""
    single = ens.single(scores.ranked)
    opts = {"n_boot": settings.n_boot, "ci": settings.ci, "seed": settings.seed}
    statistics = statistics_table(ens.pooled, single, single[0].name, alpha=settings.alpha, **opts)
    leaks = leak_table(leak, scores.summary, list(settings.classes), **opts) if leak else None
    return PairedTests(statistics=statistics, leak=leaks)


@dataclass
class Figures:
    """Step 5's result: the figures' paths."""

    comparison: Path
    roc: Path
    confusions: dict[str, list[tuple[str, Path]]]  # model -> (level, png)
    curves: list[tuple[str, Path]]  # (model, png) of models trained in epochs
    reliability: list[tuple[str, Path]]  # (model, png)


def figures_step(ens: Ensembled, scores: Scores, settings: ReportSettings, fig_dir: Path) -> Figures:
    """Draw every figure into ``fig_dir``: comparison, ROC, confusion matrices, training curves, reliability."""
    classes = list(settings.classes)
    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    single = ens.single(scores.ranked)
    comparison, roc = fig_dir / "model_comparison.png", fig_dir / "roc.png"
    plot_model_comparison(
        scores.ranking, len(classes), f"{100 * settings.ci:g}% subject-bootstrap interval", comparison
    )
    roc_aggs = [(m.name, m.kind, aggregate(ens.pooled[m.name], "recording", classes)) for m in single]
    plot_roc(roc_aggs, classes, LEVEL_TEXT["recording"], roc)
    confusions: dict[str, list[tuple[str, Path]]] = {}
    for m in single:
        for level in CONFUSION_LEVELS:
            agg = aggregate(ens.pooled[m.name], level, classes)
            path = fig_dir / f"confusion_{m.name}_{level}.png"
            plot_confusion(
                confusion(agg["label_index"], agg["pred_index"], len(classes)),
                classes,
                f"{m.name}, {LEVEL_TEXT[level]}",
                path,
            )
            confusions.setdefault(m.name, []).append((level, path))
    curves: list[tuple[str, Path]] = []
    for m in scores.ranked:
        if not model_kind(m.kind).has_epochs or not m.histories:
            continue  # e.g. a feature classifier: no epochs, no curves
        runs = [(f, h) for f, h in _read_histories(m) if len(h) > 1]
        if runs:
            path = fig_dir / f"training_curves_{m.name}.png"
            plot_training_curves(m.name, runs, path)
            curves.append((m.name, path))
    reliability: list[tuple[str, Path]] = []
    for m in scores.ranked:
        path = fig_dir / f"reliability_{m.name}.png"
        bins = scores.reliability[m.name]
        panels = [(LEVEL_TEXT[lv], bins[(lv, "after")], bins.get((lv, "before"))) for lv in ("segment", "recording")]
        plot_reliability(m.name, panels, path)
        reliability.append((m.name, path))
    return Figures(comparison=comparison, roc=roc, confusions=confusions, curves=curves, reliability=reliability)


def write_tables(scores: Scores, tests: PairedTests, out_dir: Path) -> list[str]:
    """Write the report's CSV tables into ``out_dir`` (each atomically); returns their file names."""
    tables = {
        "summary.csv": scores.summary,
        "per_fold.csv": scores.per_fold,
        "ranking.csv": scores.ranking,
        "statistics.csv": tests.statistics,
        "seeds.csv": scores.seeds,
        "calibration.csv": scores.calibration,
    }
    if tests.leak is not None:
        tables["leak.csv"] = tests.leak
    for name, df in tables.items():
        write_csv(df, Path(out_dir) / name)
    return list(tables)


@dataclass
class PageExtras:
    """What the page shows besides the results: settings, skipped records, provenance, gallery, attribution maps."""

    extra: dict | None = None
    segments_qc: str | os.PathLike | pd.DataFrame | None = None
    provenance: dict | None = None
    environments: Sequence[dict] = ()
    gallery: str | os.PathLike | None = None
    attribution: Sequence[tuple[str, str | os.PathLike, str | os.PathLike]] = ()


def page_step(
    ens: Ensembled,
    scores: Scores,
    tests: PairedTests,
    figures: Figures,
    settings: ReportSettings,
    out_dir: Path,
    extras: PageExtras = PageExtras(),
) -> None:
    """Write the CSV tables, ``report.md`` and ``report.html`` (figures embedded) into ``out_dir``."""
    out_dir = Path(out_dir)
    tables = write_tables(scores, tests, out_dir)
    classes = list(settings.classes)
    ctx = Context(
        models=scores.ranked,
        pooled=ens.pooled,
        classes=classes,
        n_boot=settings.n_boot,
        ci=settings.ci,
        seed=settings.seed,
        alpha=settings.alpha,
        out_dir=out_dir,
        levels=REPORT_LEVELS,
        ranking_metrics=RANKING_METRICS,
        min_discordant=min_discordant_for_significance(settings.alpha),
    )
    by_class = ctx.any_df.groupby("label")
    subjects_per_class = ctx.subjects_per_class()
    windows_per_class = ", ".join(f"{c}: {int(by_class.size().get(c, 0))}" for c in classes)
    attribution = [(name, Path(png), Path(csv)) for name, png, csv in extras.attribution]
    gallery = Path(extras.gallery) if extras.gallery is not None else None
    blocks = [
        ("h1", "ecgcwt evaluation report"),
        *banner_blocks(extras.provenance),
        *settings_blocks(ctx, extras.extra),
        *provenance_blocks(extras.provenance, list(extras.environments), subjects_per_class, windows_per_class),
        *skipped_blocks(skipped_records_table(extras.segments_qc)),
        *ranking_blocks(ctx, scores.ranking),
        *comparison_blocks(ctx, figures.comparison),
        *statistics_blocks(ctx, tests.statistics),
        *roc_blocks(ctx, figures.roc),
        *calibration_blocks(ctx, scores.calibration, figures.reliability),
        *explanation_blocks(ctx, attribution),
        *details_blocks(ctx, scores.summary, scores.per_fold, figures.confusions),
        *training_blocks(ctx, figures.curves),
        *gallery_blocks(ctx, gallery),
        *(leak_blocks(ctx, tests.leak) if tests.leak is not None else []),
        ("p", f"Generated by ecgcwt {__version__}. Tables: {', '.join(tables)}."),
    ]
    write_text(out_dir / "report.md", to_markdown(blocks))
    write_text(out_dir / "report.html", to_html(blocks, out_dir))


def build_report(
    models: Sequence[ModelRuns],
    out_dir: str | os.PathLike,
    *,
    classes: Sequence[str],
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    alpha: float = 0.05,
    extra: dict | None = None,
    segments_qc: str | os.PathLike | pd.DataFrame | None = None,
    leak: Sequence[LeakRun] = (),
    provenance: dict | None = None,
    environments: Sequence[dict] = (),
    gallery: str | os.PathLike | None = None,
    attribution: Sequence[tuple[str, str | os.PathLike, str | os.PathLike]] = (),
) -> pd.DataFrame:
    """Write the report of ``models`` into ``out_dir``; returns the summary table.

    ``extra`` is a mapping of further facts shown in the "Settings" section
    (e.g. the configuration used). ``segments_qc`` is the segment step's QC
    table (``results/data/segments_qc.csv``, a path or a frame): the records
    it marks ``skipped`` are listed with their reasons. ``alpha`` is the
    significance level of the paired tests. ``leak`` adds the "Leaky split"
    section and ``leak.csv``. ``provenance`` (:func:`ecgcwt.config.run_provenance`) and
    ``environments`` (the training jobs' ``metrics.json`` ``environment`` entries) give the
    "Provenance" section, and the banner of a synthetic run; ``gallery`` (a PNG inside
    ``out_dir``) the "Scalograms" section; ``attribution`` ``(model, png, csv)`` triples
    (from :func:`ecgcwt.apply.attribution_figure`) the "Explanation maps" section.

    Raises :class:`~ecgcwt.errors.DataError` for missing or malformed
    predictions, a subject tested in two folds of one model, or models not
    tested on the same subjects and recordings (naming both).
    """
    settings = ReportSettings(classes=tuple(classes), n_boot=n_boot, ci=ci, seed=seed, alpha=alpha)
    out_dir = Path(out_dir)
    ens = ensemble_step(pool_step(models, settings.classes), settings.classes)
    scores = score_step(ens, settings)
    tests = compare_step(ens, scores, leak, settings)
    figures = figures_step(ens, scores, settings, out_dir / "figures")
    extras = PageExtras(extra, segments_qc, provenance, environments, gallery, attribution)
    page_step(ens, scores, tests, figures, settings, out_dir, extras)
    return scores.summary
