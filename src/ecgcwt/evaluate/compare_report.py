"""The comparison report's figure and text (results/compare/): a forest plot and the blocks of report.html.

Blocks are those of :mod:`ecgcwt.evaluate.report_render`, with the per-run report's synthetic banner and
provenance section (:mod:`ecgcwt.evaluate.report_provenance`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ecgcwt.evaluate.report_provenance import banner_blocks, provenance_blocks
from ecgcwt.evaluate.report_text import rel

__all__ = ["plot_forest", "comparison_blocks_of"]


def plot_forest(differences: pd.DataFrame, path: Path, ci: float = 0.95) -> None:
    """One row per comparison (experiment vs reference, model): the difference and its interval; 0 marked."""
    from ecgcwt.evaluate.report_figures import plt, save_figure

    n = max(1, len(differences))
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * n + 1.4))
    if len(differences):
        y = list(range(n))[::-1]
        d = differences
        colours = ["#888888" if few else "#1f77b4" for few in d["few_subjects"]]
        for yi, (_, r), colour in zip(y, d.iterrows(), colours):
            ax.plot([r["ci_low"], r["ci_high"]], [yi, yi], color=colour, lw=2)
            ax.plot([r["difference"]], [yi], "o", color=colour)
        ax.set_yticks(y, [f"{r.experiment} vs {r.reference}, {r.model}" for r in d.itertuples()], fontsize=8)
    else:
        ax.text(0.5, 0.5, "no comparisons", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_xlabel(f"difference in subject-level balanced accuracy ({100 * ci:g}% paired subject bootstrap)")
    ax.set_title("Each experiment minus the reference, per model (grey: too few subjects per class)", fontsize=9)
    save_figure(fig, path)


def comparison_blocks_of(
    overview: pd.DataFrame,
    differences: pd.DataFrame,
    forest: Path,
    out_dir: Path,
    *,
    reference: str,
    alpha: float,
    provenance: dict | None,
    settings: Mapping[str, Mapping[str, str]],
    shared: Sequence[tuple[str, str]] = (),
) -> list:
    """The comparison report's blocks: banner, what differs, the table, the forest plot, sentences, provenance."""
    blocks: list = [("h1", "ecgcwt: experiments compared"), *banner_blocks(provenance)]
    if settings:
        keys = sorted({k for s in settings.values() for k in s})
        if keys:
            table = pd.DataFrame([{"experiment": e, **{k: s.get(k, "") for k in keys}} for e, s in settings.items()])
            blocks += [("h2", "Experiments"), ("p", "The settings that set the experiments apart:"), ("table", table)]
    blocks += [
        ("h2", "Experiments x models"),
        (
            "p",
            "Balanced accuracy at subject level (one decision per person, pooled subject-grouped test folds) with "
            "its subject-bootstrap interval; expected calibration error (ECE) at recording level; training time: "
            "the summed wall-clock seconds of the model's training jobs (Snakemake benchmark files; a model "
            "shared by experiments was trained once and counts in each). Each experiment's full report is in "
            "results/experiments/{name}/report/.",
        ),
        ("table", overview),
        ("h2", f"Differences to the reference experiment ({reference})"),
        (
            "p",
            "Each experiment minus the reference, model by model, on the same subjects: the difference in "
            "subject-level balanced accuracy with a paired subject bootstrap interval, and the exact McNemar test "
            "on subject-level correctness (binomial test of the subjects only one of the two got right), "
            f"Holm-adjusted over all {len(differences)} comparisons (p_holm). A comparison is read at "
            f"alpha {alpha:g}; a large p is no evidence of equality.",
        ),
        ("img", rel(forest, out_dir), "Differences to the reference", True),
    ]
    if len(differences):
        blocks += [("p", s + ".") for s in differences["sentence"]]
        shown = differences[
            ["experiment", "model", "difference", "ci_low", "ci_high", "b", "c", "p_value", "p_holm", "few_subjects"]
        ].round(3)
        blocks += [("table", shown)]
    if shared:
        pairs = ", ".join(f"{e} ({m})" for e, m in shared)
        blocks.append(
            (
                "p",
                f"Not compared, being the reference's own trained model (the experiment's settings do not reach "
                f"it): {pairs}.",
            )
        )
    blocks += provenance_blocks(provenance, [], "see each experiment's report", "see each experiment's report")
    blocks += [("p", "Tables: comparison.csv, differences.csv.")]
    return blocks
