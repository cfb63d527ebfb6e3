"""Figures of the evaluation report (:mod:`ecgcwt.evaluate.report`): PNG files, written atomically.

* :func:`plot_model_comparison`: balanced accuracy per model with its
  interval, subject and recording level, in ranking order;
* :func:`plot_roc`: one-vs-rest ROC curves per class, one curve per model;
* :func:`plot_confusion`: a row-normalised confusion matrix with counts;
* :func:`plot_training_curves`: loss and validation balanced accuracy per
  epoch of each fold of one model;
* :func:`plot_reliability`: reliability diagram (accuracy per confidence bin)
  at segment and recording level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.metrics import auc as _area  # noqa: E402
from sklearn.metrics import roc_curve

from ecgcwt.atomic import atomic_path  # noqa: E402
from ecgcwt.config import MODEL_KINDS, model_kind  # noqa: E402

#: How each kind of model is drawn: (colour, marker, line style, legend text), from the model-kind registry.


def save_figure(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png.tmp") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_confusion(cm: np.ndarray, classes: list[str], title: str, path: Path) -> None:
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
    save_figure(fig, path)


def plot_model_comparison(ranking: pd.DataFrame, n_classes: int, ci_text: str, path: Path) -> None:
    """Balanced accuracy with interval bars per model (best at the top), subject and recording level.

    ``ranking`` is the ranking table of :mod:`ecgcwt.evaluate.report` (columns ``model``,
    ``kind``, ``{level}_balanced_accuracy`` and its ``_ci_low``/``_ci_high``).
    Filled markers: subject level; hollow markers: recording level. Colour and
    marker show the kind of model, so baselines stand out from the 2D CNNs.
    """
    n = len(ranking)
    fig, ax = plt.subplots(figsize=(7.5, 1.0 + 0.45 * n))
    y = np.arange(n)[::-1]  # rank 1 at the top
    for (_, row), yi in zip(ranking.iterrows(), y):
        kind = model_kind(row["kind"])
        colour, marker, _ = kind.style
        if kind.baseline:
            ax.axhspan(yi - 0.45, yi + 0.45, color="0.93", zorder=0)
        for level, dy, face in (("subject", 0.13, colour), ("recording", -0.13, "white")):
            v = row[f"{level}_balanced_accuracy"]
            lo, hi = row[f"{level}_balanced_accuracy_ci_low"], row[f"{level}_balanced_accuracy_ci_high"]
            if not np.isfinite(v):
                continue
            err = None
            if np.isfinite(lo) and np.isfinite(hi):
                err = [[max(v - lo, 0.0)], [max(hi - v, 0.0)]]
            ax.errorbar(
                v, yi + dy, xerr=err, fmt=marker, color=colour, mfc=face, mec=colour, ms=7, capsize=3, lw=1.4, zorder=3
            )
    ax.axvline(1 / n_classes, color="0.5", ls=":", lw=1)
    ax.text(1 / n_classes, n - 0.4, " chance", color="0.4", fontsize=7, va="bottom")
    ax.set_yticks(y, [f"{i + 1}. {m}" for i, m in enumerate(ranking["model"])])
    for label, kind in zip(ax.get_yticklabels(), ranking["kind"]):
        if model_kind(kind).baseline:
            label.set_fontstyle("italic")
    ax.set_ylim(-0.7, n - 0.1)
    ax.set_xlim(0, 1.02)
    ax.set_xlabel(f"balanced accuracy ({ci_text})")
    kinds = [k for name, k in MODEL_KINDS.items() if name in set(ranking["kind"])]
    handles = [Line2D([], [], color=k.style[0], marker=k.style[1], ls="", label=k.report_label) for k in kinds]
    handles += [
        Line2D([], [], color="0.3", marker="o", ls="", label="subject level (filled)"),
        Line2D([], [], color="0.3", marker="o", mfc="white", ls="", label="recording level (hollow)"),
    ]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(axis="x", color="0.88", lw=0.6)
    ax.set_title("Models ranked by subject-level balanced accuracy", fontsize=10)
    save_figure(fig, path)


def roc_points(y_true: np.ndarray, score: np.ndarray, positive: int) -> tuple[np.ndarray, np.ndarray, float]:
    """False and true positive rates of the one-vs-rest ROC curve of class ``positive``, and its area.

    NaN area (and empty curve) when the class has no positives or no negatives.
    """
    y = np.asarray(y_true) == positive
    if y.all() or not y.any():
        return np.empty(0), np.empty(0), float("nan")
    fpr, tpr, _ = roc_curve(y, np.asarray(score, dtype=np.float64))
    return fpr, tpr, float(_area(fpr, tpr))


def plot_roc(
    curves: Sequence[tuple[str, str, pd.DataFrame]], classes: list[str], level_text: str, path: Path
) -> dict[tuple[str, str], float]:
    """One panel per class with each model's one-vs-rest ROC curve; returns ``(model, class) -> AUC``.

    ``curves`` are ``(model, kind, aggregated)`` with ``aggregated`` one row
    per unit (``label_index`` and ``prob_{class}`` columns).
    """
    k = len(classes)
    fig, axes = plt.subplots(1, k, figsize=(3.6 * k, 3.9), squeeze=False)
    aucs: dict[tuple[str, str], float] = {}
    for j, cls in enumerate(classes):
        ax = axes[0, j]
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":")
        for i, (model, kind, agg) in enumerate(curves):
            fpr, tpr, area = roc_points(agg["label_index"].to_numpy(), agg[f"prob_{cls}"].to_numpy(), j)
            aucs[(model, cls)] = area
            if len(fpr):
                ax.plot(
                    fpr,
                    tpr,
                    color=f"C{i % 10}",
                    ls=model_kind(kind).style[2],
                    lw=1.4,
                    label=f"{model} (AUC {area:.3f})",
                )
        n_pos = int((curves[0][2]["label_index"] == j).sum()) if curves else 0
        ax.set_title(f"{cls} vs rest ({n_pos} positive units)", fontsize=9)
        ax.set_xlabel("false positive rate")
        if j == 0:
            ax.set_ylabel("true positive rate")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.legend(fontsize=6.5, loc="lower right")
    fig.suptitle(f"One-vs-rest ROC, {level_text}", fontsize=10)
    save_figure(fig, path)
    return aucs


def plot_training_curves(model: str, runs: Sequence[tuple[str, pd.DataFrame]], path: Path) -> None:
    """Loss (train dashed, validation solid) and, when logged, validation balanced accuracy per fold."""
    has_bacc = any("val_balanced_acc" in h.columns for _, h in runs)
    fig, axes = plt.subplots(2 if has_bacc else 1, 1, figsize=(5.5, 6 if has_bacc else 3.3), squeeze=False, sharex=True)
    loss_ax = axes[0, 0]
    for i, (fold, h) in enumerate(runs):
        colour = f"C{i % 10}"
        if "train_loss" in h.columns:
            loss_ax.plot(h["epoch"], h["train_loss"], "--", color=colour)
        if "val_loss" in h.columns:
            loss_ax.plot(h["epoch"], h["val_loss"], "-", color=colour, label=f"fold {fold}")
        if has_bacc and "val_balanced_acc" in h.columns:
            axes[1, 0].plot(h["epoch"], h["val_balanced_acc"], "-", color=colour)
    loss_ax.set_title(model)
    loss_ax.set_ylabel("loss (dashed: train, solid: validation)")
    loss_ax.legend(fontsize=7)
    bottom = axes[-1, 0]
    bottom.set_xlabel("epoch")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    if has_bacc:
        axes[1, 0].set_ylabel("validation balanced accuracy")
        axes[1, 0].set_ylim(0, 1.02)
    save_figure(fig, path)


def plot_reliability(model: str, panels: Sequence[tuple[str, pd.DataFrame, pd.DataFrame | None]], path: Path) -> None:
    """Reliability diagram, one panel per level: accuracy per confidence bin against the diagonal.

    ``panels``: ``(title, bins after, bins before or None)`` with the columns of
    :func:`ecgcwt.evaluate.calibration.reliability_bins`. Bars: accuracy of the
    probabilities reported (``after``), with each bin's count above it; a
    step line: accuracy before temperature scaling, when known.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.0), squeeze=False)
    for ax, (title, after, before) in zip(axes[0], panels):
        width = float(after["upper"].iloc[0] - after["lower"].iloc[0])
        full = after[after["n"] > 0]
        ax.bar(
            full["lower"],
            full["accuracy"],
            width=width,
            align="edge",
            color="#1f77b4",
            alpha=0.75,
            edgecolor="white",
            label="accuracy per bin",
        )
        for _, b in full.iterrows():
            ax.text(
                b["lower"] + width / 2,
                min(float(b["accuracy"]) + 0.02, 1.02),
                str(int(b["n"])),
                ha="center",
                va="bottom",
                fontsize=6,
            )
        if before is not None:
            fb = before[before["n"] > 0]
            ax.step(
                fb["lower"] + width / 2,
                fb["accuracy"],
                where="mid",
                color="#d62728",
                lw=1.2,
                label="before temperature scaling",
            )
        ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.08)
        ax.set_xlabel("top-label confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{model}, {title}", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")  # counts sit above the bars, at the top
    fig.tight_layout()
    save_figure(fig, path)
