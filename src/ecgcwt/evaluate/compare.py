"""Experiments side by side: one table of every experiment x model, and each experiment against a reference.

An experiment is one setting of the run (``experiments:`` / ``experiment_grid:``) with its own report.
Its models were tested on the same subjects as every other experiment's (same records, subject-grouped
folds), so experiment A and reference R are compared *paired*, subject by subject, model by model:

* the difference in subject-level balanced accuracy ``A - R`` with a percentile bootstrap interval that
  resamples subjects, both experiments on the same resample
  (:func:`ecgcwt.evaluate.stats.paired_bootstrap_difference`);
* the exact McNemar test on subject-level correctness: a binomial test of the discordant subjects
  (``b`` right only in A, ``c`` right only in R; :func:`ecgcwt.evaluate.stats.mcnemar_exact`);
* the p-values Holm-adjusted over every comparison of the grid (:func:`holm`), since a grid makes many
  comparisons and some would look significant by chance.

A comparison where some class has fewer than :data:`MIN_SUBJECTS_PER_CLASS` subjects is marked: with so few
people per class no test can show a difference between people, whatever the p-value.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ecgcwt.atomic import write_csv, write_text
from ecgcwt.errors import DataError
from ecgcwt.evaluate.report import ModelRuns, pool_model
from ecgcwt.evaluate.seeds import ensemble_predictions
from ecgcwt.evaluate.stats import mcnemar_exact, paired_bootstrap_difference, unit_outcomes

__all__ = [
    "COMPARISON_COLUMNS",
    "DIFFERENCE_COLUMNS",
    "MIN_SUBJECTS_PER_CLASS",
    "ExperimentResult",
    "holm",
    "training_seconds",
    "comparison_table",
    "difference_table",
    "comparison_sentence",
    "build_comparison",
]

#: Below this many subjects in some class a comparison cannot show a difference between people.
MIN_SUBJECTS_PER_CLASS = 5

COMPARISON_COLUMNS = [
    "experiment",
    "model",
    "level",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n_subjects",
    "reference",
    "p_value",
    "p_holm",
]
EXTERNAL_COLUMNS = ["external_value", "external_ci_low", "external_ci_high", "external_n_records"]

DIFFERENCE_COLUMNS = [
    "experiment",
    "reference",
    "model",
    "level",
    "n_subjects",
    "subjects_per_class",
    "few_subjects",
    "balanced_accuracy",
    "balanced_accuracy_reference",
    "difference",
    "ci_low",
    "ci_high",
    "b",
    "c",
    "p_value",
    "p_holm",
    "ci",
    "n_boot",
    "sentence",
]

#: The metric of the differences (subject-level balanced accuracy) as named in comparison.csv.
DIFFERENCE_METRIC = "balanced_accuracy_difference"


@dataclass
class ExperimentResult:
    """What one experiment's run left: its report's tables, its models' predictions, timings, external scores."""

    name: str
    #: the experiment's report summary.csv (model, level, metric, value, ci_low, ci_high, n_subjects, ...)
    summary: str | os.PathLike
    #: the experiment's models, each with its folds' (and seeds') predictions
    models: Sequence[ModelRuns]
    #: the report's calibration.csv (ECE per model and level), optional
    calibration: str | os.PathLike | None = None
    #: model -> the Snakemake benchmark files of its training jobs (every fold and seed)
    timings: Mapping[str, Sequence[str | os.PathLike]] = field(default_factory=dict)
    #: model -> metrics.json of its external validation (``external.path``), optional
    external: Mapping[str, str | os.PathLike] = field(default_factory=dict)
    #: model -> the key of its trained models (the settings that shaped them): a model with the same key in
    #: two experiments is one trained model, which the experiments' difference does not reach; optional
    model_keys: Mapping[str, str] = field(default_factory=dict)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of ``p_values`` (family-wise error), in the input order.

    Sorted ascending, the i-th smallest (0-based) is multiplied by ``m - i``; a running maximum keeps the
    adjusted values in the same order as the raw ones; capped at 1. NaN entries stay NaN and do not count.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    if not len(valid):
        return out
    if (p[valid] < 0).any() or (p[valid] > 1).any():
        raise ValueError("p-values must lie in [0, 1]")
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out[order] = adjusted
    return out


def training_seconds(files: Sequence[str | os.PathLike]) -> float:
    """Wall-clock seconds of a model's training jobs: the sum of the ``s`` column of their benchmark files."""
    total = 0.0
    for path in files:
        try:
            table = pd.read_csv(path, sep="\t")
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataError(f"benchmark file {str(path)!r} cannot be read: {exc}") from None
        if "s" not in table.columns or table.empty:
            raise DataError(f"benchmark file {str(path)!r} has no 's' column (seconds); is it a Snakemake benchmark?")
        total += float(table["s"].iloc[-1])
    return total


def model_predictions(model: ModelRuns, classes: Sequence[str]) -> pd.DataFrame:
    """The predictions that stand for ``model``: its pooled folds, or the ensemble of its seeds (as the report)."""
    runs = model.seed_runs()
    pooled = [pool_model(ModelRuns(model.name, model.kind, list(r)), classes) for r in runs.values()]
    return pooled[0] if len(pooled) == 1 else ensemble_predictions(pooled, classes)


def _read_summary(path: str | os.PathLike, experiment: str) -> pd.DataFrame:
    try:
        summary = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"experiment {experiment!r}: summary {str(path)!r} cannot be read: {exc}") from None
    missing = [c for c in ("model", "level", "metric", "value", "ci_low", "ci_high", "n_subjects") if c not in summary]
    if missing:
        raise DataError(f"experiment {experiment!r}: {str(path)!r} lacks columns {missing}; rebuild its report")
    return summary


def _external_metrics(path: str | os.PathLike) -> dict:
    data = json.loads(Path(path).read_text())
    return data.get("metrics") or {}


def comparison_table(experiments: Sequence[ExperimentResult]) -> pd.DataFrame:
    """Every experiment's metric rows (its report's summary), its models' ECE and training time, one table.

    Columns :data:`COMPARISON_COLUMNS` (``reference``, ``p_value`` and ``p_holm`` are filled on the difference
    rows that :func:`build_comparison` appends), plus :data:`EXTERNAL_COLUMNS` where some model has external
    metrics (the same metric on the external records, record level).
    """
    parts = []
    any_external = any(e.external for e in experiments)
    for e in experiments:
        summary = _read_summary(e.summary, e.name)
        rows = summary[["model", "level", "metric", "value", "ci_low", "ci_high", "n_subjects"]].copy()
        n_subjects = summary.groupby("model")["n_subjects"].max().to_dict()
        extra = []
        if e.calibration is not None:
            cal = pd.read_csv(e.calibration)
            for r in cal[cal["calibrated"] == "after"].itertuples():
                extra.append(
                    {
                        "model": r.model,
                        "level": r.level,
                        "metric": "ece",
                        "value": r.ece,
                        "n_subjects": n_subjects.get(r.model),
                    }
                )
        for model, files in e.timings.items():
            if files:
                extra.append(
                    {
                        "model": model,
                        "level": "training",
                        "metric": "training_time_s",
                        "value": training_seconds(files),
                        "n_subjects": n_subjects.get(model),
                    }
                )
        table = pd.concat([rows, pd.DataFrame(extra)], ignore_index=True) if extra else rows
        table.insert(0, "experiment", e.name)
        if any_external:
            for col in EXTERNAL_COLUMNS:
                table[col] = np.nan
            for model, path in e.external.items():
                metrics = _external_metrics(path)
                for metric, m in metrics.items():
                    if not isinstance(m, dict) or "value" not in m:
                        continue
                    at = (table["model"] == model) & (table["level"] == "subject") & (table["metric"] == metric)
                    table.loc[at, EXTERNAL_COLUMNS] = [m["value"], m["ci_low"], m["ci_high"], metrics.get("n")]
        parts.append(table)
    out = pd.concat(parts, ignore_index=True)
    for col in ("reference", "p_value", "p_holm"):
        out[col] = np.nan if col != "reference" else ""
    return out[COMPARISON_COLUMNS + (EXTERNAL_COLUMNS if any_external else [])]


def _fmt_num(x: float) -> str:
    # a typographic minus: the sentence is read, not parsed
    return f"{x:+.2f}".replace("-", "\u2212")


def comparison_sentence(row: Mapping, alpha: float = 0.05) -> str:
    """One plain sentence on a difference row, e.g.

    "amor vs morse, resnet18: +0.06 [−0.04, 0.17], p_holm 0.61: no evidence of a difference on 18 subjects".
    """
    head = (
        f"{row['experiment']} vs {row['reference']}, {row['model']}: {_fmt_num(row['difference'])} "
        f"[{_fmt_num(row['ci_low'])}, {_fmt_num(row['ci_high'])}], p_holm {float(row['p_holm']):.2g}"
    )
    n = int(row["n_subjects"])
    if row.get("few_subjects"):
        return (
            f"{head}: cannot show a difference between people: subjects per class {row['subjects_per_class']} "
            f"(fewer than {MIN_SUBJECTS_PER_CLASS} in some class)"
        )
    if float(row["p_holm"]) < alpha:
        better = row["experiment"] if row["difference"] > 0 else row["reference"]
        return f"{head}: {better} is better on these {n} subjects (Holm-adjusted exact McNemar below {alpha:g})"
    return f"{head}: no evidence of a difference on {n} subjects"


def difference_table(
    experiments: Sequence[ExperimentResult],
    reference: str,
    classes: Sequence[str],
    *,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Each experiment against ``reference``, model by model (models of both), paired on subjects.

    Columns :data:`DIFFERENCE_COLUMNS`; ``difference`` is subject-level balanced accuracy of the experiment
    minus the reference's, ``p_holm`` adjusted over every row.
    """
    by_name = {e.name: e for e in experiments}
    if reference not in by_name:
        raise DataError(f"reference experiment {reference!r} is not among {list(by_name)}")
    ref_models = {m.name: m for m in by_name[reference].models}
    cache: dict[tuple[str, str], pd.DataFrame] = {}

    def preds(e: ExperimentResult, m: ModelRuns) -> pd.DataFrame:
        if (e.name, m.name) not in cache:
            try:
                cache[(e.name, m.name)] = model_predictions(m, classes)
            except DataError as exc:
                raise DataError(f"experiment {e.name!r}: {exc}") from None
        return cache[(e.name, m.name)]

    rows = []
    for e in experiments:
        if e.name == reference:
            continue
        for m in e.models:
            if m.name not in ref_models or _same_model(e, by_name[reference], m.name):
                continue
            try:
                out = unit_outcomes(preds(e, m), preds(by_name[reference], ref_models[m.name]), "subject")
            except DataError as exc:
                raise DataError(f"{e.name} vs {reference}, {m.name}: {exc}") from None
            a, r = out["correct_a"].to_numpy(), out["correct_b"].to_numpy()
            y = out["label_index"].to_numpy()
            test = mcnemar_exact(a, r)
            boot = paired_bootstrap_difference(a, r, n_boot=n_boot, ci=ci, seed=seed, labels=y, groups=out["subject"])
            per_class = out.drop_duplicates("subject").groupby("label").size()
            per_class = per_class.reindex(list(classes), fill_value=0)
            ba_a = float(boot.balanced_difference)
            rows.append(
                {
                    "experiment": e.name,
                    "reference": reference,
                    "model": m.name,
                    "level": "subject",
                    "n_subjects": int(out["subject"].nunique()),
                    "subjects_per_class": ", ".join(f"{c}: {int(n)}" for c, n in per_class.items()),
                    "few_subjects": bool(per_class.min() < MIN_SUBJECTS_PER_CLASS),
                    "balanced_accuracy": _balanced(y, out["pred_a"].to_numpy()),
                    "balanced_accuracy_reference": _balanced(y, out["pred_b"].to_numpy()),
                    "difference": ba_a,
                    "ci_low": boot.balanced_ci_low,
                    "ci_high": boot.balanced_ci_high,
                    "b": test.b,
                    "c": test.c,
                    "p_value": test.p_value,
                    "ci": float(ci),
                    "n_boot": int(n_boot),
                }
            )
    table = pd.DataFrame(rows, columns=[c for c in DIFFERENCE_COLUMNS if c not in ("p_holm", "sentence")])
    table.insert(DIFFERENCE_COLUMNS.index("p_holm"), "p_holm", holm(table["p_value"].to_numpy()) if len(table) else [])
    table["sentence"] = [comparison_sentence(r, alpha) for r in table.to_dict("records")]
    return table[DIFFERENCE_COLUMNS]


def _same_model(a: ExperimentResult, b: ExperimentResult, model: str) -> bool:
    key = a.model_keys.get(model)
    return key is not None and key == b.model_keys.get(model)


def shared_models(experiments: Sequence[ExperimentResult], reference: str) -> list[tuple[str, str]]:
    """``(experiment, model)`` pairs whose model is the reference's own trained model (not compared)."""
    by_name = {e.name: e for e in experiments}
    ref = by_name[reference]
    return [
        (e.name, m.name) for e in experiments if e.name != reference for m in e.models if _same_model(e, ref, m.name)
    ]


def _balanced(y: np.ndarray, pred: np.ndarray) -> float:
    from ecgcwt.evaluate.metrics import balanced_accuracy

    return float(balanced_accuracy(y, pred))


def _difference_rows(differences: pd.DataFrame) -> pd.DataFrame:
    """The difference rows in comparison.csv's columns."""
    return pd.DataFrame(
        {
            "experiment": differences["experiment"],
            "model": differences["model"],
            "level": differences["level"],
            "metric": DIFFERENCE_METRIC,
            "value": differences["difference"],
            "ci_low": differences["ci_low"],
            "ci_high": differences["ci_high"],
            "n_subjects": differences["n_subjects"],
            "reference": differences["reference"],
            "p_value": differences["p_value"],
            "p_holm": differences["p_holm"],
        }
    )


def overview_table(comparison: pd.DataFrame, experiments: Sequence[str]) -> pd.DataFrame:
    """Experiments x models: subject-level balanced accuracy with interval, recording-level ECE, training time."""
    rows = []
    for (experiment, model), part in comparison.groupby(["experiment", "model"], sort=False):

        def pick(level, metric):
            r = part[(part["level"] == level) & (part["metric"] == metric)]
            return r.iloc[0] if len(r) else None

        ba, ece, t = pick("subject", "balanced_accuracy"), pick("recording", "ece"), pick("training", "training_time_s")
        if ba is None:
            continue
        rows.append(
            {
                "experiment": experiment,
                "model": model,
                "subject balanced accuracy": _interval(ba["value"], ba["ci_low"], ba["ci_high"]),
                "ECE (recording)": "n/a" if ece is None else f"{ece['value']:.3f}",
                "training time (s)": "n/a" if t is None else f"{t['value']:.0f}",
                "subjects": "n/a" if pd.isna(ba["n_subjects"]) else int(ba["n_subjects"]),
            }
        )
    table = pd.DataFrame(rows)
    if len(table):
        table["experiment"] = pd.Categorical(table["experiment"], categories=list(experiments), ordered=True)
        table = table.sort_values(["experiment", "model"], kind="stable").reset_index(drop=True)
        table["experiment"] = table["experiment"].astype(str)
    return table


def _interval(v: float, lo: float, hi: float) -> str:
    if not math.isfinite(float(v)):
        return "n/a"
    if not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
        return f"{v:.3f}"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def build_comparison(
    experiments: Sequence[ExperimentResult],
    out_dir: str | os.PathLike,
    *,
    reference: str,
    classes: Sequence[str],
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    alpha: float = 0.05,
    provenance: dict | None = None,
    settings: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write ``comparison.csv``, ``differences.csv``, the forest plot and ``report.html``/``.md`` into ``out_dir``.

    ``settings`` maps each experiment to the settings that set it apart (dotted key -> value), shown in the
    report. Returns ``(comparison, differences)``.
    """
    from ecgcwt.evaluate.compare_report import comparison_blocks_of, plot_forest
    from ecgcwt.evaluate.report_render import to_html, to_markdown

    experiments = list(experiments)
    names = [e.name for e in experiments]
    if len(set(names)) != len(names):
        raise DataError(f"experiment names given twice: {names}")
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    differences = difference_table(experiments, reference, classes, n_boot=n_boot, ci=ci, seed=seed, alpha=alpha)
    comparison = comparison_table(experiments)
    diff_rows = _difference_rows(differences).reindex(columns=comparison.columns)
    comparison = pd.concat([comparison, diff_rows], ignore_index=True) if len(diff_rows) else comparison
    forest = out_dir / "figures" / "forest.png"
    plot_forest(differences, forest, ci=ci)
    blocks = comparison_blocks_of(
        overview_table(comparison, names),
        differences,
        forest,
        out_dir,
        reference=reference,
        alpha=alpha,
        provenance=provenance,
        settings=settings or {},
        shared=shared_models(experiments, reference),
    )
    write_csv(comparison, out_dir / "comparison.csv")
    write_csv(differences, out_dir / "differences.csv")
    write_text(out_dir / "report.md", to_markdown(blocks))
    write_text(out_dir / "report.html", to_html(blocks, out_dir))
    return comparison, differences
