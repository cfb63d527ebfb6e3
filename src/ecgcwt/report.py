"""The evaluation report: pooled test predictions of all folds, per backbone, with subject-bootstrap CIs.

Every subject is in the test set of exactly one fold, so pooling the folds'
``predictions.csv`` gives one out-of-sample prediction per window of every
subject; metrics are computed on that pool at segment, recording and subject
level, and their confidence intervals resample subjects (see
:mod:`ecgcwt.metrics`). Per-fold values are listed too, to show the spread.

Outputs (each written atomically) in ``out_dir``: ``summary.csv``,
``per_fold.csv``, ``report.md``, ``report.html`` (self-contained: figures
embedded), ``figures/confusion_{backbone}_{level}.png`` and, when training
histories are given, ``figures/training_curves.png``.
"""

from __future__ import annotations

import base64
import html
import math
import os
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from . import __version__  # noqa: E402
from .atomic import atomic_path, write_csv, write_text  # noqa: E402
from .config import validate_section  # noqa: E402
from .errors import DataError  # noqa: E402
from .metrics import PER_CLASS_METRICS, SCALAR_METRICS, aggregate, bootstrap_metrics, confusion, flat_metrics  # noqa: E402

#: Levels reported (``subject_vote`` stays in each fold's metrics.json).
REPORT_LEVELS = ("segment", "recording", "recording_vote", "subject")

#: Defaults of the ``evaluate:`` mapping of config.yaml.

SUMMARY_COLUMNS = [
    "backbone",
    "level",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n_segments",
    "n_recordings",
    "n_subjects",
]
_LEVEL_TEXT = {
    "segment": "segment (each window)",
    "recording": "recording (mean probability over a lead's windows)",
    "recording_vote": "recording (majority vote of a lead's windows)",
    "subject": "subject (mean probability over all of a person's windows)",
}


def resolve_evaluate_config(cfg: dict | None) -> dict:
    """Fill defaults into the ``evaluate:`` mapping (bootstrap, ci, seed) and check it against the schema."""
    return validate_section("evaluate", cfg)


def pool_predictions(predictions: Sequence[tuple[str, int | str, str | os.PathLike]]) -> dict[str, pd.DataFrame]:
    """Read and pool the test predictions of each backbone's folds (adds a ``fold`` column).

    Refuses a pool where a subject appears in two folds of one backbone: then
    the folds were not a partition of subjects and pooled metrics would count
    people twice.
    """
    by_backbone: dict[str, list[pd.DataFrame]] = {}
    seen: dict[tuple[str, str], bool] = {}
    for backbone, fold, path in predictions:
        key = (str(backbone), str(fold))
        if key in seen:
            raise DataError(f"fold {fold} of {backbone} given twice")
        seen[key] = True
        path = Path(path)
        if not path.is_file():
            raise DataError(f"predictions file {str(path)!r} does not exist; run training for {backbone} fold {fold}")
        df = pd.read_csv(path, dtype={"subject": str, "recording": str, "record": str, "db": str})
        df.insert(0, "fold", str(fold))
        by_backbone.setdefault(str(backbone), []).append(df)
    pooled = {}
    for backbone, frames in by_backbone.items():
        df = pd.concat(frames, ignore_index=True)
        folds_per_subject = df.groupby("subject")["fold"].nunique()
        twice = folds_per_subject[folds_per_subject > 1]
        if len(twice):
            raise DataError(
                f"{backbone}: subjects tested in more than one fold (first: {list(twice.index[:5])}); "
                "predictions of different fold assignments were mixed"
            )
        pooled[backbone] = df
    return pooled


def build_report(
    predictions: Sequence[tuple[str, int | str, str | os.PathLike]],
    out_dir: str | os.PathLike,
    *,
    classes: Sequence[str],
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    extra: dict | None = None,
    histories: Sequence[tuple[str, int | str, str | os.PathLike]] | None = None,
    segments_qc: str | os.PathLike | pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Write the report for ``predictions`` (``(backbone, fold, predictions.csv)`` triples) into ``out_dir``.

    ``extra`` is a mapping of further facts shown in a "Settings" table (e.g.
    the configuration used); ``histories`` are ``(backbone, fold, history.csv)``
    triples for the training-curve figure. ``segments_qc`` is the segment
    step's QC table (``results/data/segments_qc.csv``, a path or a frame): the
    records it marks ``skipped`` (``data.on_bad_record: skip``) are listed with
    their reasons in a "Skipped records" section. Returns the summary table.
    """
    resolve_evaluate_config({"bootstrap": n_boot, "ci": ci, "seed": seed})
    classes = list(classes)
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    pooled = pool_predictions(predictions)
    if not pooled:
        raise DataError("no predictions given to the report")

    summary_parts, per_fold_rows, figures = [], [], []
    for backbone, df in pooled.items():
        counts = {
            "n_segments": len(df),
            "n_recordings": df["recording"].nunique(),
            "n_subjects": df["subject"].nunique(),
        }
        for level in REPORT_LEVELS:
            boot = bootstrap_metrics(df, level, classes, n_boot=n_boot, ci=ci, seed=seed)
            boot.insert(0, "level", level)
            boot.insert(0, "backbone", backbone)
            summary_parts.append(boot.assign(**counts))
            for fold, fdf in df.groupby("fold", sort=False):
                agg = aggregate(fdf, level, classes)
                values = flat_metrics(
                    agg["label_index"], agg["pred_index"], agg[[f"prob_{c}" for c in classes]].to_numpy(), classes
                )
                per_fold_rows += [
                    {"backbone": backbone, "fold": fold, "level": level, "metric": m, "value": v}
                    for m, v in values.items()
                ]
            agg = aggregate(df, level, classes)
            cm = confusion(agg["label_index"], agg["pred_index"], len(classes))
            fig_path = fig_dir / f"confusion_{backbone}_{level}.png"
            _plot_confusion(cm, classes, f"{backbone}, {_LEVEL_TEXT[level]}", fig_path)
            figures.append((backbone, level, fig_path))
    summary = pd.concat(summary_parts, ignore_index=True)[SUMMARY_COLUMNS]
    per_fold = pd.DataFrame(per_fold_rows, columns=["backbone", "fold", "level", "metric", "value"])
    write_csv(summary, out_dir / "summary.csv")
    write_csv(per_fold, out_dir / "per_fold.csv")

    curves = None
    if histories:
        curves = fig_dir / "training_curves.png"
        _plot_histories(histories, curves)

    blocks = _report_blocks(pooled, summary, per_fold, figures, curves, classes, n_boot, ci, seed, extra, out_dir)
    skipped = skipped_records_table(segments_qc)
    if len(skipped):
        at = next(i for i, b in enumerate(blocks) if b == ("h2", "Results"))
        blocks[at:at] = [
            ("h2", "Skipped records"),
            (
                "p",
                f"{len(skipped)} record(s) could not be used and were left out (data.on_bad_record: skip); "
                "every result below is without them. See results/data/segments_qc.csv.",
            ),
            ("table", skipped),
        ]
    write_text(out_dir / "report.md", _to_markdown(blocks))
    write_text(out_dir / "report.html", _to_html(blocks, out_dir))
    return summary


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


# --------------------------------------------------------------------------- figures


def _save_figure(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png.tmp") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _plot_confusion(cm: np.ndarray, classes: list[str], title: str, path: Path) -> None:
    """Row-normalised confusion matrix (recall per true class) annotated with counts."""
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = cm / cm.sum(axis=1, keepdims=True)
    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2, 1.1 * len(classes) + 1.5))
    ax.imshow(np.nan_to_num(frac), cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            text = f"{cm[i, j]}\n{frac[i, j]:.0%}" if np.isfinite(frac[i, j]) else str(cm[i, j])
            ax.text(j, i, text, ha="center", va="center", color="white" if np.nan_to_num(frac[i, j]) > 0.6 else "black")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    _save_figure(fig, path)


def _plot_histories(histories, path: Path) -> None:
    frames: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    for backbone, fold, hist_path in histories:
        if not Path(hist_path).is_file():
            raise DataError(f"history file {str(hist_path)!r} does not exist")
        frames.setdefault(str(backbone), []).append((str(fold), pd.read_csv(hist_path)))
    n = len(frames)
    fig, axes = plt.subplots(2, n, figsize=(4 * n, 6), squeeze=False, sharex="col")
    for col, (backbone, runs) in enumerate(frames.items()):
        for i, (fold, h) in enumerate(runs):
            color = f"C{i % 10}"
            axes[0, col].plot(h["epoch"], h["train_loss"], "--", color=color)
            axes[0, col].plot(h["epoch"], h["val_loss"], "-", color=color, label=f"fold {fold}")
            axes[1, col].plot(h["epoch"], h["val_balanced_acc"], "-", color=color)
        axes[0, col].set_title(backbone)
        axes[0, col].set_ylabel("loss (dashed: train, solid: validation)")
        axes[1, col].set_ylabel("validation balanced accuracy")
        axes[1, col].set_xlabel("epoch")
        axes[1, col].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[1, col].set_ylim(0, 1.02)
        axes[0, col].legend(fontsize=7)
    _save_figure(fig, path)


# --------------------------------------------------------------------------- text


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


def _with_ci(row) -> str:
    if not math.isfinite(row["value"]):
        return "n/a"
    if not (math.isfinite(row["ci_low"]) and math.isfinite(row["ci_high"])):
        return _fmt(row["value"])
    return f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def _report_blocks(pooled, summary, per_fold, figures, curves, classes, n_boot, ci, seed, extra, out_dir) -> list:
    any_df = next(iter(pooled.values()))
    subjects = any_df.drop_duplicates("subject")
    per_class = subjects.groupby("label").size().reindex(classes, fill_value=0)
    n_folds = any_df["fold"].nunique()
    pct = f"{100 * ci:g}%"
    blocks: list = [("h1", "ecgcwt evaluation report")]
    blocks.append(
        (
            "p",
            (
                f"Protocol. Subjects (people: both leads of a record, and records known to be the same person, count as one) "
                f"were split into {n_folds} subject-grouped, class-stratified folds. Each model was trained {n_folds} times, "
                "each time tested on the subjects of one fold that it never saw in training or in its inner validation split "
                "(used for early stopping). The test predictions of all folds are pooled, so each subject is tested exactly "
                "once. Metrics are reported per window (segment), per recording (one lead of one record; mean probability or "
                "majority vote over its windows) and per subject. "
                f"The {pct} confidence intervals are percentile bootstrap intervals over {n_boot} resamples of *subjects* "
                f"(seed {seed}): each resample draws as many subjects as there are, with replacement, and takes all of a drawn "
                "subject's windows and recordings, so the interval reflects variation between people, not between the many "
                "correlated windows of one person. Per-fold values are listed to show the spread between folds."
            ),
        )
    )
    blocks.append(
        (
            "p",
            (
                f"Data: {len(subjects)} subjects ({', '.join(f'{c}: {int(n)}' for c, n in per_class.items())}), "
                f"{any_df['recording'].nunique()} recordings, {len(any_df)} windows; backbones: {', '.join(pooled)}."
            ),
        )
    )
    differing = [b for b, df in pooled.items() if set(df["subject"]) != set(subjects["subject"])]
    if differing:
        blocks.append(
            (
                "p",
                f"Warning: the tested subjects differ between backbones ({', '.join(differing)}); "
                "comparisons between them are not on the same people.",
            )
        )

    blocks.append(("h2", "Results"))
    main = summary[summary["metric"].isin(SCALAR_METRICS)].copy()
    main["text"] = main.apply(_with_ci, axis=1)
    wide = main.pivot_table(index=["backbone", "level"], columns="metric", values="text", aggfunc="first", sort=False)
    wide = wide[[m for m in SCALAR_METRICS if m in wide.columns]].reset_index()
    wide["level"] = pd.Categorical(wide["level"], REPORT_LEVELS)
    wide = wide.sort_values(["level", "backbone"]).astype({"level": str})
    blocks.append(("p", f"Value [{pct} CI]. macro_auc is one-vs-rest ROC AUC averaged over classes."))
    blocks.append(("table", wide))

    blocks.append(("h2", "Per class (recording level, mean probability)"))
    pc = summary[(summary["level"] == "recording") & ~summary["metric"].isin(SCALAR_METRICS)].copy()
    pc["class"] = pc["metric"].str.split("_", n=1).str[1]
    pc["measure"] = pc["metric"].str.split("_", n=1).str[0]
    pc["text"] = pc.apply(_with_ci, axis=1)
    pcw = pc.pivot_table(index=["backbone", "class"], columns="measure", values="text", aggfunc="first", sort=False)
    blocks.append(("table", pcw[[m for m in PER_CLASS_METRICS if m in pcw.columns]].reset_index()))

    blocks.append(("h2", "Per fold (balanced accuracy)"))
    pf = per_fold[per_fold["metric"] == "balanced_accuracy"]
    pfw = pf.pivot_table(index=["backbone", "level"], columns="fold", values="value", aggfunc="first", sort=False)
    pfw = pfw.apply(lambda col: col.map(_fmt)).reset_index()
    blocks.append(("table", pfw))

    blocks.append(("h2", "Confusion matrices"))
    for backbone, level, path in figures:
        blocks.append(("img", path.relative_to(out_dir).as_posix(), f"{backbone}, {_LEVEL_TEXT[level]}"))
    if curves is not None:
        blocks.append(("h2", "Training curves"))
        blocks.append(("img", curves.relative_to(out_dir).as_posix(), "loss and validation balanced accuracy per fold"))
    if extra:
        blocks.append(("h2", "Settings"))
        blocks.append(("table", pd.DataFrame({"setting": list(extra), "value": [str(v) for v in extra.values()]})))
    blocks.append(("p", f"Generated by ecgcwt {__version__}. Tables: summary.csv, per_fold.csv."))
    return blocks


def _md_table(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def _to_markdown(blocks: list) -> str:
    out = []
    for kind, *args in blocks:
        if kind == "h1":
            out.append(f"# {args[0]}")
        elif kind == "h2":
            out.append(f"## {args[0]}")
        elif kind == "p":
            out.append(args[0])
        elif kind == "table":
            out.append(_md_table(args[0]))
        elif kind == "img":
            out.append(f"![{args[1]}]({args[0]})")
    return "\n\n".join(out) + "\n"


def _to_html(blocks: list, out_dir: Path) -> str:
    body = []
    for kind, *args in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{html.escape(args[0])}</{kind}>")
        elif kind == "p":
            text = html.escape(args[0])
            # the one piece of markdown emphasis used in the text
            text = text.replace("*subjects*", "<em>subjects</em>")
            body.append(f"<p>{text}</p>")
        elif kind == "table":
            body.append(args[0].to_html(index=False, escape=True, border=0, classes="t"))
        elif kind == "img":
            data = base64.b64encode((out_dir / args[0]).read_bytes()).decode("ascii")
            body.append(
                f'<figure><img alt="{html.escape(args[1])}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(args[1])}</figcaption></figure>"
            )
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.45}"
        "table.t{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
        "table.t td,table.t th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        "figure{display:inline-block;margin:0.5em}img{max-width:480px}"
    )
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>ecgcwt evaluation report</title>"
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
