"""The report's "Provenance" section and its synthetic-data banner: where a result came from.

``provenance`` is :func:`ecgcwt.config.run_provenance` of the run (data source, the settings that shape
results, the configuration hash, the code's git commit, the report job's environment, the date);
``environments`` are the ``environment`` entries of the training jobs' ``metrics.json`` files (CPU,
device, package versions), so the report names the machine that trained, not only the one that wrote it.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from ecgcwt.config import SYNTHETIC_WARNING, citation_text

__all__ = ["banner_blocks", "provenance_blocks", "training_environments"]


def banner_blocks(provenance: dict | None) -> list:
    """A visible warning at the top of a synthetic run's report; nothing otherwise."""
    if not provenance or not provenance.get("synthetic"):
        return []
    return [("banner", SYNTHETIC_WARNING)]


def training_environments(environments: list[dict]) -> pd.DataFrame:
    """One row per distinct (CPU, device, torch, torchvision, Python) of the training jobs, with the job count."""
    keys = []
    for env in environments:
        if not env:
            continue
        v = env.get("versions") or {}
        keys.append(
            (
                env.get("cpu", "unknown"),
                env.get("device", "unknown"),
                v.get("python", "?"),
                v.get("torch", "?"),
                v.get("torchvision", "?"),
            )
        )
    rows = [(*k, n) for k, n in Counter(keys).most_common()]
    return pd.DataFrame(rows, columns=["cpu", "device", "python", "torch", "torchvision", "jobs"])


def provenance_blocks(
    provenance: dict | None, environments: list[dict], subjects_per_class: str, windows_per_class: str
) -> list:
    """The "Provenance" section: data, code, configuration, software and machines of this report."""
    if not provenance:
        return []
    git = provenance.get("git") or {}
    report_env = provenance.get("report_environment") or {}
    versions = report_env.get("versions") or {}
    facts = {
        "data source": provenance.get("data_source", "unknown"),
        "subjects per class": subjects_per_class,
        "windows per class": windows_per_class,
        "git commit": git.get("commit", "unknown"),
        "uncommitted changes": git.get("dirty", "unknown"),
        "configuration hash": f"{provenance.get('config_hash', 'unknown')} (SHA-256 of the settings below)",
        "report written": f"{provenance.get('date', 'unknown')} on {report_env.get('cpu', 'unknown')}, "
        f"{report_env.get('os', '')}",
        "report software": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }
    blocks: list = [
        ("h2", "Provenance"),
        (
            "p",
            "Where this report came from. Two reports with the same configuration hash, commit and software were "
            "made from the same settings by the same code; the machines that trained are listed because fp32 "
            "results can differ in the last digits between CPU instruction sets and GPUs.",
        ),
        # "free": hashes and long values may wrap anywhere
        ("table", pd.DataFrame({"fact": list(facts), "value": list(facts.values())}), "free"),
    ]
    trained = training_environments(environments)
    if len(trained):
        blocks += [("p", "Training jobs ran on:"), ("table", trained)]
    intro, *references = citation_text().splitlines()
    blocks += [("p", intro), ("table", pd.DataFrame({"reference": [r.removeprefix("- ") for r in references]}))]
    settings = provenance.get("settings") or {}
    if settings:
        blocks += [
            (
                "p",
                "Every setting that shapes the results (the effective configuration after defaults and config "
                "files; settings that only change how a job runs, such as memory budgets, are left out):",
            ),
            ("table", pd.DataFrame({"setting": list(settings), "value": list(settings.values())}), "free"),
        ]
    return blocks
