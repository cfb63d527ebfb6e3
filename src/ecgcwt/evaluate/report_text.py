"""Text of the evaluation report (:mod:`ecgcwt.evaluate.report`): its sections as blocks, rendered to Markdown and HTML.

A block is ``(kind, *args)``: ``("h1" | "h2" | "h3", title)``, ``("p", text)``,
``("table", DataFrame)`` or ``("img", path relative to the report folder,
caption[, wide])``. The HTML embeds every figure (base64), so the page can be
mailed alone.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ecgcwt.config import model_kind
from ecgcwt.evaluate.metrics import METRIC_FUNCTIONS, PER_CLASS_METRICS, clopper_pearson
from ecgcwt.evaluate.stats import format_p

LEVEL_TEXT = {
    "segment": "segment (each window)",
    "recording": "recording (mean probability over a lead's windows)",
    "recording_vote": "recording (majority vote of a lead's windows)",
    "subject": "subject (mean probability over all of a person's windows)",
}
#: The report's words for each kind of model: one source, the model-kind registry.


@dataclass
class Context:
    """What the sections need to know besides their tables."""

    models: list  # ModelRuns, in ranking order
    pooled: dict[str, pd.DataFrame]  # model -> pooled predictions (with a fold column)
    classes: list[str]
    n_boot: int
    ci: float
    seed: int
    alpha: float
    out_dir: Path
    levels: tuple[str, ...]  # levels of the summary table
    ranking_metrics: tuple[tuple[str, str], ...]  # (level, metric) pairs of the ranking table
    min_discordant: int  # fewest discordant units that can give p < alpha

    @property
    def pct(self) -> str:
        return f"{100 * self.ci:g}%"

    @property
    def any_df(self) -> pd.DataFrame:
        return self.pooled[self.models[0].name]

    @property
    def n_subjects(self) -> int:
        return int(self.any_df["subject"].nunique())

    def subjects_per_class(self) -> str:
        subjects = self.any_df.drop_duplicates("subject")
        per_class = subjects.groupby("label").size().reindex(self.classes, fill_value=0)
        return ", ".join(f"{c}: {int(n)}" for c, n in per_class.items())


def rel(path: Path, out_dir: Path) -> str:
    """``path`` relative to the report folder (a figure given as an absolute or other-relative path too)."""
    try:
        return Path(path).relative_to(out_dir).as_posix()
    except ValueError:
        return Path(os.path.relpath(Path(path).resolve(), Path(out_dir).resolve())).as_posix()


def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)) or v is pd.NA:
        return "n/a"
    return f"{v:.{digits}f}"


def _fmt_ci(v: float, lo: float, hi: float, signed: bool = False) -> str:
    if not math.isfinite(v):
        return "n/a"
    f = "+.3f" if signed else ".3f"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return format(v, f)
    return f"{v:{f}} [{lo:{f}}, {hi:{f}}]"


def setup_text(m) -> str:
    """backbone, weights and strategy of a 2D CNN; the kind's description otherwise."""
    get = m.get if isinstance(m, (dict, pd.Series)) else lambda k: getattr(m, k)
    kind = model_kind(str(get("kind")))
    if not kind.backbone:
        return kind.report_label
    parts = [get("backbone"), f"weights: {get('pretrained')}" if get("pretrained") else None, get("strategy")]
    return ", ".join(str(p) for p in parts if p and not (isinstance(p, float) and math.isnan(p)))


def protocol_blocks(ctx: Context) -> list:
    """The "Protocol" section: how the models were trained and tested, the data, and the model list."""
    df = ctx.any_df
    n_folds = df["fold"].nunique()
    windows = sorted({len(d) for d in ctx.pooled.values()})
    windows_text = str(windows[0]) if len(windows) == 1 else f"{windows[0]} to {windows[-1]} (depending on the model)"
    blocks: list = [("h2", "Protocol")]
    blocks.append(
        (
            "p",
            "Subjects (people: both leads of a record, and records known to be the same person, count as "
            f"one) were split into {n_folds} subject-grouped, class-stratified folds. Every model was trained "
            f"{n_folds} times on the same folds, each time tested on the subjects of one fold that it never saw in "
            "training or in its inner validation split (used for early stopping or tuning). The test predictions of "
            "all folds are pooled, so each subject is tested exactly once by every model, and all models are judged "
            "on the same people. Metrics are reported per window (segment), per recording (one lead of one record; "
            "mean probability or majority vote over its windows) and per subject (mean probability over all of the "
            f"person's windows). The {ctx.pct} confidence intervals are percentile bootstrap intervals over "
            f"{ctx.n_boot} resamples of *subjects* (seed {ctx.seed}): each resample draws as many subjects as there "
            "are, with replacement, and takes all of a drawn subject's windows and recordings, so the interval "
            "reflects variation between people, not between the many correlated windows of one person. A bootstrap "
            "of a perfect score is always perfect, so for proportions (accuracy, balanced accuracy, sensitivity, "
            "specificity, precision) each interval is widened to include the exact Clopper-Pearson interval of the "
            "counts behind it (balanced accuracy, a mean of per-class recalls: the same with an effective number of "
            "units, K^2 / sum(1 / n_k) for K classes of n_k units, which is n when classes are equal). Clopper-Pearson "
            "rather than Wilson because it is exact: its coverage is never below the nominal level, also at 0 or all "
            "correct. With "
            f"{ctx.n_subjects} subjects all classified correctly, the {ctx.pct} interval of subject-level accuracy is "
            f"[{clopper_pearson(ctx.n_subjects, ctx.n_subjects, ctx.ci)[0]:.3f}, 1.000], not [1.000, 1.000].",
        )
    )
    blocks.append(
        (
            "p",
            f"Data: {ctx.n_subjects} subjects ({ctx.subjects_per_class()}), {df['recording'].nunique()} recordings, "
            f"{windows_text} windows; {len(ctx.models)} models.",
        )
    )
    models = pd.DataFrame(
        {
            "model": [m.name for m in ctx.models],
            "kind": [m.kind for m in ctx.models],
            "what": [model_kind(m.kind).text for m in ctx.models],
            "backbone": [m.backbone or "" for m in ctx.models],
            "pretrained": [m.pretrained or "" for m in ctx.models],
            "strategy": [m.strategy or "" for m in ctx.models],
            "folds": [ctx.pooled[m.name]["fold"].nunique() for m in ctx.models],
        }
    )
    blocks.append(("table", models))
    return blocks


def settings_blocks(ctx: Context, extra: dict | None) -> list:
    """The "Settings" section: the report's own settings and any ``extra`` facts given to it."""
    settings = {
        "evaluate.bootstrap": ctx.n_boot,
        "evaluate.ci": ctx.ci,
        "evaluate.seed": ctx.seed,
        "significance level (alpha)": ctx.alpha,
    }
    settings.update(extra or {})
    table = pd.DataFrame({"setting": list(settings), "value": [str(v) for v in settings.values()]})
    return [("h2", "Settings"), ("table", table)]


#: Expected calibration error (top label, per window) at most this: "well calibrated"; at most the second: "fairly".
CALIBRATION_WORDS = ((0.05, "well calibrated"), (0.15, "fairly calibrated"), (float("inf"), "poorly calibrated"))


def answer_blocks(
    ctx: Context, ranking: pd.DataFrame, statistics: pd.DataFrame, calibration: pd.DataFrame, n_skipped: int = 0
) -> list:
    """Two or three sentences that answer the report: the best model, its margin over the next, its calibration.

    The best model is the reference of the paired tests (the best of the models with one prediction per
    subject: a model trained with several seeds counts as its ensemble); the next one is the best of the
    others in the main table's order. Every number comes from the tables the report writes. ``n_skipped``
    records left out by the segment step are said first: they change every result.
    """
    vs = statistics[(statistics["comparison"] == "vs best") & (statistics["level"] == "subject")]
    best = str(vs["reference"].iloc[0]) if len(vs) else str(ranking["model"].iloc[0])
    rows = ranking.set_index("model")
    r = rows.loc[best]
    ba = "subject_balanced_accuracy"
    several = bool(("n_seeds" in rows.columns) and (rows["n_seeds"] > 1).any())
    who = " (a model trained with several seeds counts as its ensemble)" if several else ""
    text = [
        f"The best model{who} is {best} ({setup_text(r)}): subject-level balanced accuracy "
        f"{_fmt_ci(r[ba], r[f'{ba}_ci_low'], r[f'{ba}_ci_high'])} ({ctx.pct} interval, "
        f"{int(r['n_subjects'])} subjects)."
    ]
    if len(vs):
        order = {name: i for i, name in enumerate(ranking["model"])}
        nxt = min(vs.itertuples(), key=lambda t: order.get(t.model, len(order)))
        margin = -nxt.balanced_accuracy_difference
        lo, hi = -nxt.balanced_accuracy_difference_ci_high, -nxt.balanced_accuracy_difference_ci_low
        p = format_p(nxt.p_value, digits=3)
        tell = "tells them apart" if nxt.significant else "cannot tell them apart"
        lead = (
            f"It ties with the next, {nxt.model} ({_fmt(nxt.balanced_accuracy_model)})"
            if margin == 0
            else f"It beats the next, {nxt.model} ({_fmt(nxt.balanced_accuracy_model)}), by {_fmt_ci(margin, lo, hi)}"
        )
        text.append(
            f"{lead} in balanced accuracy; the paired McNemar test on the same subjects {tell} "
            f"({p}, {int(nxt.n_discordant)} discordant subject{'s' if nxt.n_discordant != 1 else ''})."
        )
    cal = calibration[(calibration["model"] == best) & (calibration["calibrated"] == "after")].set_index("level")["ece"]
    if "segment" in cal.index and np.isfinite(cal["segment"]):
        word = next(w for limit, w in CALIBRATION_WORDS if cal["segment"] <= limit)
        per_rec = f" and {_fmt(cal['recording'])} per recording" if "recording" in cal.index else ""
        text.append(
            f"Its probabilities are {word}: expected calibration error {_fmt(cal['segment'])} per window{per_rec} "
            "(0 when confidence matches accuracy)."
        )
    if n_skipped:
        text.insert(
            0, f"{n_skipped} record(s) could not be used and are left out of every result (see Skipped records)."
        )
    return [("lead", " ".join(text))]


def skipped_blocks(skipped: pd.DataFrame) -> list:
    """The "Skipped records" section, only when a record was skipped."""
    if not len(skipped):
        return []
    return [
        ("h2", "Skipped records"),
        (
            "p",
            f"{len(skipped)} record(s) could not be used and were left out (data.on_bad_record: skip); "
            "every result below is without them. See results/data/segments_qc.csv.",
        ),
        ("table", skipped),
    ]


def comparison_blocks(ctx: Context, path: Path) -> list:
    k = len(ctx.classes)
    return [
        ("h2", "Model comparison"),
        (
            "p",
            f"Balanced accuracy of each model with its {ctx.pct} subject-bootstrap interval, in the order of the main "
            "table (best at the top). Filled markers: subject level; hollow markers: recording level. Colour and "
            "marker show the kind of model; baselines (not a 2D CNN) have a grey band and an italic name. "
            f"The dotted line is chance ({1 / k:.3f} for {k} classes).",
        ),
        ("img", rel(path, ctx.out_dir), "balanced accuracy per model, subject and recording level", True),
    ]


_VALIDATION_TEXT = {
    "subject": "held-out subjects",
    "time_holdout": "the last part in time of its training recordings",
    "random_windows": "random windows",
    "none": "none",
}


def validation_sentence(model) -> str | None:
    """How each class of ``model`` was validated (the ``validation`` field of its folds' metrics.json), or None.

    metrics.json sits beside each fold's predictions.csv; models trained
    before the field existed have none and get no sentence.
    """
    folds = []
    for _, pred in model.predictions:
        path = Path(pred).parent / "metrics.json"
        try:
            folds.append(json.loads(path.read_text()).get("validation"))
        except (OSError, ValueError):
            folds.append(None)
    folds = [f for f in folds if isinstance(f, dict) and f.get("strategy")]
    if not folds:
        return None
    by_class: dict[str, dict[str, int]] = {}
    for f in folds:
        for c, strategy in f["strategy"].items():
            by_class.setdefault(c, {}).setdefault(strategy, 0)
            by_class[c][strategy] += 1
    parts = [
        f"{c}: " + ", ".join(f"{_VALIDATION_TEXT.get(s, s)} ({k}/{len(folds)} folds)" for s, k in counts.items())
        for c, counts in by_class.items()
    ]
    return (
        f"{model.name}: inner validation windows (early stopping, calibration) per class came from "
        + "; ".join(parts)
        + "."
    )


def training_blocks(ctx: Context, curves: list[tuple[str, Path]]) -> list:
    """The "Training curves" section: one figure per model trained in epochs, and how each model was validated."""
    sentences = [t for t in (validation_sentence(m) for m in ctx.models) if t]
    if not curves:
        return [("h2", "Validation"), *[("p", t) for t in sentences]] if sentences else []
    return [
        ("h2", "Training curves"),
        *[("p", t) for t in sentences],
        (
            "p",
            "Loss per epoch (dashed: training, solid: the inner validation split, used for early stopping) and, "
            "where logged, validation balanced accuracy; one colour per fold. Models fitted without epochs "
            "(feature classifiers) have none.",
        ),
        *[
            ("img", rel(p, ctx.out_dir), f"{name}: loss and validation balanced accuracy per fold")
            for name, p in curves
        ],
    ]


def ranking_blocks(ctx: Context, ranking: pd.DataFrame) -> list:
    shown = pd.DataFrame(
        {
            "rank": ranking["rank"],
            "model": ranking["model"],
            "setup": [setup_text(r) for _, r in ranking.iterrows()],
        }
    )
    for level, metric in ctx.ranking_metrics:
        col = f"{level}_{metric}"
        shown[f"{metric.replace('_', ' ')} ({level})"] = [
            _fmt_ci(r[col], r[f"{col}_ci_low"], r[f"{col}_ci_high"]) for _, r in ranking.iterrows()
        ]
    if "n_seeds" in ranking.columns and (ranking["n_seeds"] > 1).any():
        lo, hi = ranking["subject_balanced_accuracy_seed_min"], ranking["subject_balanced_accuracy_seed_max"]
        shown["seeds: lowest-highest (subject)"] = [
            "" if pd.isna(a) or n < 2 or str(m).endswith("_ensemble") else f"{a:.3f}-{b:.3f}"
            for a, b, n, m in zip(lo, hi, ranking["n_seeds"], ranking["model"])
        ]
    shown["subjects"] = ranking["n_subjects"]
    return [
        ("h2", "Main table"),
        ("table", shown),
        (
            "p",
            f"Models ranked by balanced accuracy at subject level (ties broken at recording level), value "
            f"[{ctx.pct} interval]. Balanced accuracy is the mean of the per-class recalls (chance: "
            f"{1 / len(ctx.classes):.3f} for {len(ctx.classes)} classes). Subject level: one decision per person "
            "(mean probability over all of the person's windows), the unit a diagnosis is made for and the one to "
            "base conclusions on. Recording level: one decision per lead of a record. Segment level: every window "
            "on its own. macro F1 and macro AUC (one-vs-rest ROC AUC averaged over classes) are at subject level. "
            f"Every model was tested on the same {ctx.n_subjects} subjects ({ctx.subjects_per_class()}); the "
            f"intervals are percentile bootstrap intervals over {ctx.n_boot} resamples of these subjects, widened to "
            "include the exact Clopper-Pearson interval of the counts (see Protocol), so they show how much the "
            "result could change with another sample of people of this size. Overlapping "
            "intervals do not decide a comparison, and neither does the order: see Statistics for paired tests.",
        ),
        *_seed_blocks(ranking),
    ]


def _seed_blocks(ranking: pd.DataFrame) -> list:
    """What the rows of a run with several training seeds mean (nothing for a one-seed run)."""
    if "n_seeds" not in ranking.columns or not (ranking["n_seeds"] > 1).any():
        return []
    n = int(ranking["n_seeds"].max())
    return [
        (
            "p",
            f"Models were trained with {n} seeds. A model's row is the mean over its seeds (each seed's pooled "
            "folds scored on their own), its interval the seeds' intervals averaged; ranking.csv gives the lowest "
            "and highest seed beside it (`_seed_min`, `_seed_max`) and seeds.csv every seed. `{model}_ensemble` "
            "averages the seeds' window probabilities and is scored like any model; it, not the mean, enters the "
            "paired tests and the ROC and confusion figures.",
        )
    ]


def statistics_blocks(ctx: Context, statistics: pd.DataFrame) -> list:
    blocks: list = [("h2", "Statistics")]
    if statistics.empty:
        blocks.append(("p", "Only one model, and no pretrained/scratch pair: there is nothing to compare."))
        return blocks
    n_rec = ctx.any_df["recording"].nunique()
    blocks.append(
        (
            "p",
            f"Paired comparisons on the same {ctx.n_subjects} subjects ({n_rec} recordings): every model against the "
            "best of the main table, and each 2D CNN started from pretrained weights against the same backbone trained "
            "from scratch. For each pair, b counts the units the model got right and the reference wrong, c the "
            "reverse; units both got right or both got wrong carry no information about which is better. The p-value "
            "is the exact McNemar test, a two-sided binomial test of b out of b + c discordant units against 1/2. "
            f"Differences are model minus reference with {ctx.pct} paired bootstrap intervals ({ctx.n_boot} resamples "
            "of subjects, both models on the same resample); the table gives them in balanced accuracy and in plain "
            "accuracy, the sentences below in plain accuracy (the share of units right, the quantity McNemar's test is "
            "about). At recording level the test treats a subject's recordings as independent pairs, which they are "
            "not; the subject level is the one to base conclusions on.",
        )
    )
    shown = pd.DataFrame(
        {
            "comparison": statistics["comparison"],
            "model": statistics["model"],
            "reference": statistics["reference"],
            "level": statistics["level"],
            "units": statistics["n_units"],
            "discordant (b / c)": [f"{d} ({b} / {c})" for d, b, c in statistics[["n_discordant", "b", "c"]].to_numpy()],
            "McNemar p": statistics["p_value"].map(lambda p: format_p(p, digits=3, prefix=False)),
            "balanced accuracy difference": [
                _fmt_ci(
                    r.balanced_accuracy_difference,
                    r.balanced_accuracy_difference_ci_low,
                    r.balanced_accuracy_difference_ci_high,
                    signed=True,
                )
                for r in statistics.itertuples()
            ],
            "accuracy difference": [
                _fmt_ci(r.accuracy_difference, r.accuracy_difference_ci_low, r.accuracy_difference_ci_high, signed=True)
                for r in statistics.itertuples()
            ],
        }
    )
    blocks.append(("table", shown))
    subject_rows = statistics[statistics["level"] == "subject"]
    for title, comparison in (
        ("Against the best model", "vs best"),
        ("Pretrained vs from scratch", "pretrained vs scratch"),
    ):
        rows = subject_rows[subject_rows["comparison"] == comparison]
        if rows.empty:
            continue
        blocks.append(("h3", f"{title} (subject level)"))
        for r in rows.itertuples():
            blocks.append(("p", f"{r.model} vs {r.reference}: {r.interpretation} {_power_sentence(r, ctx.alpha)}"))
    d_min = ctx.min_discordant
    d = subject_rows["n_discordant"]
    widths = subject_rows["balanced_accuracy_difference_ci_high"] - subject_rows["balanced_accuracy_difference_ci_low"]
    widths = widths[np.isfinite(widths)]
    width_text = (
        f" The {ctx.pct} intervals of the subject-level balanced-accuracy differences are "
        f"{widths.min():.2f} to {widths.max():.2f} wide: differences of that order are still compatible with the data."
        if len(widths)
        else ""
    )
    blocks.append(
        (
            "p",
            f"What a non-significant difference means here: these {ctx.n_subjects} subjects cannot tell the two models "
            "apart, which is not evidence that they are equally good. Only discordant subjects count, and at "
            f"alpha = {ctx.alpha:g} the exact test can reach significance only with at least {d_min} discordant "
            f"subjects, all going the same way; the subject-level comparisons above have {int(d.min())} to "
            f"{int(d.max())} discordant subjects.{width_text}",
        )
    )
    return blocks


def _power_sentence(r, alpha: float) -> str:
    d = int(r.n_discordant)
    if d == 0:
        return "The two models are right and wrong on exactly the same subjects."
    if pd.isna(r.wins_needed):
        return (
            f"With only {d} discordant subject{'s' if d != 1 else ''}, no split of them could reach p < {alpha:g} "
            f"(even {d} to 0 gives p = {r.smallest_possible_p:.3g})."
        )
    return (
        f"With {d} discordant subjects, p < {alpha:g} needs at least {int(r.wins_needed)} of them on one side "
        f"(here {max(r.b, r.c)})."
    )


def roc_blocks(ctx: Context, path: Path) -> list:
    n_rec = ctx.any_df["recording"].nunique()
    return [
        ("h2", "Per-class ROC"),
        (
            "p",
            f"One-vs-rest ROC curves at recording level (score: the class's mean probability over the recording's "
            f"windows), one panel per class and one curve per model, with its area (AUC) in the legend. Each curve has "
            f"at most {n_rec} points (one per recording), so steps are coarse. Line style shows the kind of model "
            "(solid: 2D CNN, dashed: 1D CNN, dotted: wavelet features).",
        ),
        ("img", rel(path, ctx.out_dir), "one-vs-rest ROC per class, recording level", True),
    ]


def calibration_blocks(ctx: Context, calibration: pd.DataFrame, figures: list[tuple[str, Path]]) -> list:
    """The "Calibration" section: ECE and Brier score per model and level, and the reliability diagrams."""
    has_before = bool((calibration["calibrated"] == "before").any())
    blocks: list = [
        ("h2", "Calibration"),
        (
            "p",
            "Whether a model's probabilities can be taken at their word, per window (segment) and per recording "
            "(mean probability over its windows). Expected calibration error (ECE): the top-label confidences are "
            "sorted into 15 equal-width bins, and the gap between each bin's mean confidence and its accuracy is "
            "averaged with the bins' shares of the units as weights (0 = perfectly calibrated; 0.05 = five "
            "percentage points of over- or under-confidence on average). Brier score: the mean over units of the "
            "squared distance between the probability vector and the one-hot true class (0 = perfect, 2 = all "
            "probability on a wrong class); it also rewards sharp, correct probabilities. calibrated = after: the "
            "probabilities the model reports (prob_* columns)"
            + (
                "; before: the same model's probabilities before temperature scaling (prob_raw_* columns)."
                if has_before
                else "; no model's predictions carry probabilities before temperature scaling (prob_raw_*), so "
                "only these are shown."
            )
            + " There are far fewer recordings than windows, so the recording-level diagram is coarser.",
        ),
        ("table", calibration.assign(ece=calibration["ece"].map(_fmt), brier=calibration["brier"].map(_fmt))),
    ]
    for name, path in figures:
        blocks.append(
            (
                "img",
                rel(path, ctx.out_dir),
                f"{name}: accuracy per confidence bin (bars, count above) against the diagonal of perfect calibration",
                True,
            )
        )
    return blocks


def details_blocks(ctx: Context, summary: pd.DataFrame, per_fold: pd.DataFrame, confusions: dict) -> list:
    blocks: list = [
        ("h2", "Per-model details"),
        (
            "p",
            f"For each model: every metric at every level with its {ctx.pct} subject-bootstrap interval; per-class "
            "sensitivity, specificity and precision at recording level; confusion matrices at subject and recording "
            "level (rows: true class, normalised to recall; counts in the cells); balanced accuracy of each test fold "
            "on its own, to show the spread between folds.",
        ),
    ]
    for m in ctx.models:
        s = summary[summary["model"] == m.name]
        blocks.append(("h3", f"{m.name}: {setup_text(m)}"))
        main = s[s["metric"].isin(list(METRIC_FUNCTIONS))].copy()
        main["text"] = [_fmt_ci(r.value, r.ci_low, r.ci_high) for r in main.itertuples()]
        wide = main.pivot_table(index="level", columns="metric", values="text", aggfunc="first", sort=False)
        wide = wide.reindex(index=list(ctx.levels), columns=[c for c in METRIC_FUNCTIONS if c in wide.columns])
        wide.index = [LEVEL_TEXT[lv] for lv in wide.index]
        blocks.append(("table", wide.rename_axis("level").reset_index()))
        pc = s[(s["level"] == "recording") & ~s["metric"].isin(list(METRIC_FUNCTIONS))].copy()
        pc["class"] = pc["metric"].str.split("_", n=1).str[1]
        pc["measure"] = pc["metric"].str.split("_", n=1).str[0]
        pc["text"] = [_fmt_ci(r.value, r.ci_low, r.ci_high) for r in pc.itertuples()]
        pcw = pc.pivot_table(index="class", columns="measure", values="text", aggfunc="first", sort=False)
        pcw = pcw.reindex(index=ctx.classes, columns=[c for c in PER_CLASS_METRICS if c in pcw.columns])
        blocks.append(("table", pcw.rename_axis("class (recording level)").reset_index()))
        for level, path in confusions.get(m.name, []):  # a mean over seeds: see its ensemble
            # the figure carries this title itself: no caption repeating it
            blocks.append(
                ("img", rel(path, ctx.out_dir), "", False, f"confusion matrix, {m.name}, {LEVEL_TEXT[level]}")
            )
        pf = per_fold[(per_fold["model"] == m.name) & (per_fold["metric"] == "balanced_accuracy")]
        pfw = pf.pivot_table(index="level", columns="fold", values="value", aggfunc="first", sort=False)
        pfw = pfw.reindex(index=list(ctx.levels)).apply(lambda col: col.map(_fmt))
        pfw.columns = [f"fold {c}" for c in pfw.columns]
        blocks.append(("table", pfw.rename_axis("balanced accuracy per fold").reset_index()))
    return blocks


def leak_blocks(ctx: Context, leaks: pd.DataFrame) -> list:
    shown = pd.DataFrame(
        {
            "model": leaks["model"],
            "windows (subjects) tested": [f"{w} ({s})" for w, s in leaks[["n_windows", "n_subjects"]].to_numpy()],
            "leaky: accuracy (segment)": [
                _fmt_ci(r.leaky_segment_accuracy, r.leaky_segment_accuracy_ci_low, r.leaky_segment_accuracy_ci_high)
                for r in leaks.itertuples()
            ],
            "leaky: balanced accuracy (segment)": [
                _fmt_ci(
                    r.leaky_segment_balanced_accuracy,
                    r.leaky_segment_balanced_accuracy_ci_low,
                    r.leaky_segment_balanced_accuracy_ci_high,
                )
                for r in leaks.itertuples()
            ],
            "honest: balanced accuracy (segment)": [
                _fmt_ci(
                    r.honest_segment_balanced_accuracy,
                    r.honest_segment_balanced_accuracy_ci_low,
                    r.honest_segment_balanced_accuracy_ci_high,
                )
                for r in leaks.itertuples()
            ],
            "honest: balanced accuracy (subject)": [
                _fmt_ci(
                    r.honest_subject_balanced_accuracy,
                    r.honest_subject_balanced_accuracy_ci_low,
                    r.honest_subject_balanced_accuracy_ci_high,
                )
                for r in leaks.itertuples()
            ],
            "leaky minus honest (segment)": leaks["inflation_segment_balanced_accuracy"].map(
                lambda v: "n/a" if not math.isfinite(v) else f"{v:+.3f}"
            ),
        }
    )
    return [
        ("h2", "Leaky split (for comparison only)"),
        (
            "p",
            "Not a result. Here the model was trained and tested once on windows split at random, ignoring whose "
            "they are. Windows of one person then end up on both sides of the split, often neighbouring, nearly "
            "identical heartbeats of the same recording, so the model can recognise the person and the recording "
            "instead of the rhythm, and the accuracy is inflated: it says nothing about a new patient. It is shown "
            "beside the same model's honest, subject-split results only to show the size of that inflation, and it is "
            "in neither the main table nor the statistics.",
        ),
        (
            "p",
            f"Leaky intervals: {ctx.pct} window bootstrap ({ctx.n_boot} resamples of the test windows, each window "
            "drawn on its own as if independent: the assumption the random split itself makes, so these intervals are "
            f"too narrow as a statement about people). Honest intervals: {ctx.pct} subject bootstrap, as in the "
            "main table.",
        ),
        ("table", shown),
    ]


def gallery_blocks(ctx: Context, path: Path | None) -> list:
    """The "Scalograms" section: example images of each class on their real axes."""
    if path is None:
        return []
    return [
        ("h2", "Scalograms"),
        (
            "p",
            "What the 2D CNNs see: random example windows of each class as CWT scalograms, time in seconds along x, "
            "frequency in Hz along y (log-spaced, highest at the top), colour the wavelet coefficients' magnitude "
            "rescaled per image.",
        ),
        ("img", rel(path, ctx.out_dir), "", True, "Example scalograms per class"),
    ]


def top_bands(bands: pd.DataFrame, classes: list[str]) -> str:
    """ "ARR: 8-16 Hz (41%), ..." - the octave band with the largest attribution share, per class."""
    parts = []
    for c in classes:
        rows = bands[bands["class"] == c]
        if not len(rows) or not np.isfinite(rows["share"]).any():
            continue
        top = rows.loc[rows["share"].idxmax()]
        parts.append(f"{c}: {top['band_hz_low']:g}-{top['band_hz_high']:g} Hz ({100 * top['share']:.0f}%)")
    return ", ".join(parts)


def explanation_blocks(ctx: Context, maps: list[tuple[str, Path, Path]]) -> list:
    """The "Explanation maps" section: each cnn2d model's mean Grad-CAM per class and its strongest band."""
    if not maps:
        return []
    blocks: list = [
        ("h2", "Explanation maps"),
        (
            "p",
            "Where in the scalogram each 2D CNN looks (Grad-CAM on its last convolutional stage, fold 0's model on "
            "its own test windows). Top row: the mean map over correctly classified windows of each class, on the "
            "scalogram's axes (time in s, frequency in Hz); below: single windows, right and wrong, beside their "
            "scalogram and ECG trace. The text under each figure names the octave band that carries most of each "
            "class's attribution. A map shows what the network's decision depends on, not why that is medically "
            "right; check that it follows the ECG (QRS complexes, rhythm) rather than an artefact.",
        ),
    ]
    for name, png, csv in maps:
        bands = pd.read_csv(csv)
        blocks.append(("img", rel(png, ctx.out_dir), f"{name}: Grad-CAM attribution (fold 0)", True))
        blocks.append(("p", f"{name}, most attribution per class: {top_bands(bands, ctx.classes)}."))
    return blocks
