"""The report's "External validation" section: every model's scores on the same unseen records, side by side."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ecgcwt.apply import external_metrics, prediction_columns
from ecgcwt.errors import DataError
from ecgcwt.evaluate import build_report
from ecgcwt.evaluate.report_external import external_table

from .test_report import CLASSES, make_models


def write_external(path, labels, predicted) -> dict:
    """An external validation's metrics.json of records with these labels and predictions (all classified)."""
    n = len(labels)
    probs = np.full((n, len(CLASSES)), 0.1)
    probs[np.arange(n), [CLASSES.index(p) for p in predicted]] = 0.8
    df = pd.DataFrame(
        {
            "record": [f"r{i}" for i in range(n)],
            "database": ["site_b"] * n,
            "label": labels,
            "predicted": predicted,
            **{f"prob_{c}": probs[:, j] for j, c in enumerate(CLASSES)},
            "n_windows": [4] * n,
            "status": ["ok"] * n,
            "reason": [""] * n,
        },
        columns=prediction_columns(CLASSES),
    )
    metrics = external_metrics(df, CLASSES, n_boot=50, seed=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics))
    return metrics


def test_the_report_compares_every_kind_on_the_same_external_records(tmp_path):
    models = make_models(tmp_path / "runs")
    labels = ["ARR", "ARR", "CHF", "CHF", "NSR", "NSR"]
    right = {"resnet18": 6, "resnet18_scratch": 4, "cnn1d": 3, "wavelet_svm": 2}  # correct records of 6
    external = {}
    for m in models:
        k = right[m.name]
        predicted = labels[:k] + [CLASSES[(CLASSES.index(lab) + 1) % 3] for lab in labels[k:]]
        external[m.name] = tmp_path / "external" / m.name / "metrics.json"
        metrics = write_external(external[m.name], labels, predicted)
        metrics["model"] = {"kind": m.kind}
        external[m.name].write_text(json.dumps(metrics))
    out = tmp_path / "report"
    build_report(models, out, classes=CLASSES, n_boot=50, external=external)
    md = (out / "report.md").read_text()
    section = md.split("## External validation", 1)[1].split("\n## ", 1)[0]
    assert "people none of the models saw in training" in section
    ranking = pd.read_csv(out / "ranking.csv")["model"].tolist()
    rows = [line for line in section.splitlines() if line.startswith("| ") and line.split("|")[1].strip() in right]
    # one row per model, in the ranking's order, with its kind and its accuracy on the 6 records
    assert [r.split("|")[1].strip() for r in rows] == [n for n in ranking if n in right]
    for r in rows:
        cells = [c.strip() for c in r.split("|")[1:-1]]
        name, kind, members, records, evaluated = cells[:5]
        assert kind == next(m.kind for m in models if m.name == name)
        assert (members, records, evaluated) == ("1", "6", "6")
        assert float(cells[9]) == pytest.approx(right[name] / 6, abs=1e-3)  # accuracy
    # without external validation: no section
    build_report(models, tmp_path / "plain", classes=CLASSES, n_boot=50)
    assert "External validation" not in (tmp_path / "plain" / "report.md").read_text()


def test_a_missing_external_metrics_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"external validation of cnn1d: '.*nowhere.json' is not readable"):
        external_table({"cnn1d": tmp_path / "nowhere.json"})
