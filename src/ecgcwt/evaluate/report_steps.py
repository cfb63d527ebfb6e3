"""The evaluation report, step by step: :func:`build_report` and the six steps it runs.

Each step has one job and can be run and tested alone:

* :func:`pool_step`: read and check every model's test folds, pooled per training seed;
* :func:`ensemble_step`: add ``{model}_ensemble`` after each model trained with several seeds;
* :func:`score_step`: the tables (summary, per-fold, ranking, seeds, calibration);
* :func:`compare_step`: the paired tests, and the leaky runs' table;
* :func:`figures_step`: the figures;
* :func:`page_step`: the CSV tables and the page (``report.md``, ``report.html``).

What the report contains and why is described in :mod:`ecgcwt.evaluate.report`, which holds the
models' inputs (:class:`ModelRuns`, :class:`LeakRun`) and the table builders the steps use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ecgcwt import __version__
from ecgcwt.atomic import write_csv, write_text
from ecgcwt.config import model_kind
from ecgcwt.errors import DataError
from ecgcwt.evaluate.calibration import calibration_table
from ecgcwt.evaluate.metrics import aggregate, confusion
from ecgcwt.evaluate.report import (
    CONFUSION_LEVELS,
    PER_FOLD_COLUMNS,
    RANKING_METRICS,
    REPORT_LEVELS,
    SUMMARY_COLUMNS,
    LeakRun,
    ModelRuns,
    _check_models,
    _read_histories,
    check_same_units,
    leak_table,
    min_discordant_for_significance,
    model_tables,
    pool_model,
    ranking_table,
    resolve_evaluate_config,
    skipped_records_table,
    statistics_table,
)
from ecgcwt.evaluate.report_external import external_blocks, external_table
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
    answer_blocks,
    calibration_blocks,
    comparison_blocks,
    details_blocks,
    explanation_blocks,
    gallery_blocks,
    leak_blocks,
    protocol_blocks,
    ranking_blocks,
    roc_blocks,
    settings_blocks,
    skipped_blocks,
    statistics_blocks,
    training_blocks,
)
from ecgcwt.evaluate.seeds import ENSEMBLE_SUFFIX, ensemble_predictions, mean_over_seeds, seeds_table


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
        ens = replace(m, name=f"{m.name}{ENSEMBLE_SUFFIX}", seeds=None, histories=[])
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
    n_boot, ci, seed = settings.n_boot, settings.ci, settings.seed
    statistics = statistics_table(
        ens.pooled, single, single[0].name, n_boot=n_boot, ci=ci, seed=seed, alpha=settings.alpha
    )
    leaks = leak_table(leak, scores.summary, list(settings.classes), n_boot=n_boot, ci=ci, seed=seed) if leak else None
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
    """What the page shows besides the results: settings, skipped records, provenance, gallery, attribution maps,
    external validation."""

    extra: dict | None = None
    segments_qc: str | os.PathLike | pd.DataFrame | None = None
    provenance: dict | None = None
    environments: Sequence[dict] = ()
    gallery: str | os.PathLike | None = None
    attribution: Sequence[tuple[str, str | os.PathLike, str | os.PathLike]] = ()
    #: model -> its external validation's metrics.json (external.path)
    external: Mapping[str, str | os.PathLike] = field(default_factory=dict)


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
    skipped = skipped_records_table(extras.segments_qc)
    # the answer first (what a reader sees on opening the page), then the evidence, then how it was made
    sections = [
        *ranking_blocks(ctx, scores.ranking),
        *comparison_blocks(ctx, figures.comparison),
        *skipped_blocks(skipped),
        *statistics_blocks(ctx, tests.statistics),
        *external_blocks(external_table(extras.external, [m.name for m in scores.ranked]), settings.ci),
        *roc_blocks(ctx, figures.roc),
        *calibration_blocks(ctx, scores.calibration, figures.reliability),
        *explanation_blocks(ctx, attribution),
        *details_blocks(ctx, scores.summary, scores.per_fold, figures.confusions),
        *training_blocks(ctx, figures.curves),
        *gallery_blocks(ctx, gallery),
        *(leak_blocks(ctx, tests.leak) if tests.leak is not None else []),
        *protocol_blocks(ctx),
        *settings_blocks(ctx, extras.extra),
        *provenance_blocks(extras.provenance, list(extras.environments), subjects_per_class, windows_per_class),
    ]
    blocks = [
        ("h1", "ecgcwt evaluation report"),
        *banner_blocks(extras.provenance),
        *answer_blocks(ctx, scores.ranking, tests.statistics, scores.calibration, len(skipped)),
        ("toc", [b[1] for b in sections if b[0] == "h2"]),
        *sections,
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
    external: Mapping[str, str | os.PathLike] | None = None,
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
    (from :func:`ecgcwt.apply.attribution_figure`) the "Explanation maps" section; ``external`` (model ->
    its external validation's ``metrics.json``) the "External validation" section.

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
    extras = PageExtras(extra, segments_qc, provenance, environments, gallery, attribution, dict(external or {}))
    page_step(ens, scores, tests, figures, settings, out_dir, extras)
    return scores.summary
