"""Calibration metrics (ECE, Brier, reliability bins) and the report's calibration.csv."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss

from ecgcwt.evaluate import (
    CALIBRATION_COLUMNS,
    ModelRuns,
    brier_score,
    build_report,
    calibration_table,
    expected_calibration_error,
    reliability_bins,
)

CLASSES = ["ARR", "CHF", "NSR"]


def test_ece_matches_a_hand_computation():
    # 5 windows, 3 classes. Top-label confidences and whether the top label is right:
    #   0.90 right  -> bin (13/15, 14/15] = (0.8667, 0.9333]
    #   0.88 wrong  -> same bin
    #   0.50 right  -> bin (7/15, 8/15] = (0.4667, 0.5333]
    #   0.70 right  -> bin (10/15, 11/15] = (0.6667, 0.7333]
    #   0.40 wrong  -> bin (5/15, 6/15] = (0.3333, 0.4]
    prob = np.array(
        [
            [0.90, 0.05, 0.05],
            [0.88, 0.10, 0.02],
            [0.20, 0.50, 0.30],
            [0.10, 0.20, 0.70],
            [0.40, 0.35, 0.25],
        ]
    )
    y = np.array([0, 1, 1, 2, 2])
    # bin 0.87-0.93: 2 windows, confidence (0.90 + 0.88) / 2 = 0.89, accuracy 1/2 -> |0.5 - 0.89| = 0.39
    # bin 0.47-0.53: 1 window, |1 - 0.50| = 0.50;  bin 0.67-0.73: |1 - 0.70| = 0.30;  bin 0.33-0.40: |0 - 0.40| = 0.40
    # ECE = 2/5 * 0.39 + 1/5 * 0.50 + 1/5 * 0.30 + 1/5 * 0.40 = 0.156 + 0.1 + 0.06 + 0.08 = 0.396
    assert expected_calibration_error(y, prob) == pytest.approx(0.396)
    bins = reliability_bins(y, prob)
    assert len(bins) == 15 and bins["n"].sum() == 5
    assert list(bins.loc[bins["n"] > 0, "bin"]) == [5, 7, 10, 13]
    row = bins[bins["bin"] == 13].iloc[0]
    assert (row["n"], row["confidence"], row["accuracy"]) == (2, pytest.approx(0.89), 0.5)
    # perfectly confident and always right: no calibration error
    assert expected_calibration_error([0, 1, 2], np.eye(3)) == 0.0


def test_brier_matches_sklearn_in_the_binary_case():
    rng = np.random.default_rng(0)
    p1 = rng.uniform(size=50)
    y = (rng.uniform(size=50) < p1).astype(int)
    prob = np.column_stack([1 - p1, p1])
    # the multi-class Brier sums over both classes: twice sklearn's binary score (squared error on p1 only)
    assert brier_score(y, prob) == pytest.approx(2 * brier_score_loss(y, p1))
    assert brier_score([0, 1], np.array([[0.0, 1.0], [1.0, 0.0]])) == 2.0  # all mass on the wrong class


def _predictions(raw: bool) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for s in range(6):
        label = s % 3
        for lead in range(2):
            for w in range(4):
                logits = rng.normal(size=3)
                logits[label] += 2.0
                rows.append((s, lead, w, label, logits))
    df = pd.DataFrame(
        {
            "segment": np.arange(len(rows)),
            "db": "synth",
            "record": [f"r{r[0]}" for r in rows],
            "subject": [f"s{r[0]}" for r in rows],
            "recording": [f"synth/r{r[0]}/{r[1]}" for r in rows],
            "lead": [r[1] for r in rows],
            "label": [CLASSES[r[3]] for r in rows],
            "label_index": [r[3] for r in rows],
        }
    )
    logits = np.array([r[4] for r in rows])

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    scaled = softmax(logits / 1.5)
    df["pred_index"] = scaled.argmax(axis=1)
    df["pred_label"] = [CLASSES[i] for i in df["pred_index"]]
    for j, c in enumerate(CLASSES):
        df[f"prob_{c}"] = scaled[:, j]
    if raw:
        for j, c in enumerate(CLASSES):
            df[f"prob_raw_{c}"] = softmax(logits)[:, j]
    return df


def test_calibration_table_before_and_after_and_in_the_report(tmp_path):
    with_raw, without = _predictions(True), _predictions(False)
    table, bins = calibration_table({"a": with_raw, "b": without}, CLASSES)
    assert list(table.columns) == CALIBRATION_COLUMNS == ["model", "level", "calibrated", "ece", "brier", "n"]
    got = {(r.model, r.level, r.calibrated): r.n for r in table.itertuples()}
    assert got == {
        ("a", "segment", "before"): 48,
        ("a", "recording", "before"): 12,
        ("a", "segment", "after"): 48,
        ("a", "recording", "after"): 12,
        ("b", "segment", "after"): 48,
        ("b", "recording", "after"): 12,
    }
    seg = table[(table.model == "b") & (table.level == "segment")].iloc[0]
    y = without["label_index"].to_numpy()
    p = without[[f"prob_{c}" for c in CLASSES]].to_numpy()
    assert seg.ece == pytest.approx(expected_calibration_error(y, p)) and seg.brier == pytest.approx(brier_score(y, p))
    # recording level: mean probability over each recording's windows
    rec = without.groupby("recording")
    rp = rec[[f"prob_{c}" for c in CLASSES]].mean().to_numpy()
    ry = rec["label_index"].first().to_numpy()
    r = table[(table.model == "b") & (table.level == "recording")].iloc[0]
    assert r.brier == pytest.approx(brier_score(ry, rp))
    before = table[(table.model == "a") & (table.calibrated == "before") & (table.level == "segment")].iloc[0]
    raw = with_raw[[f"prob_raw_{c}" for c in CLASSES]].to_numpy()
    assert before.brier == pytest.approx(brier_score(y, raw))
    assert set(bins["a"]) == {(lv, c) for lv in ("segment", "recording") for c in ("before", "after")}

    folds = []
    for fold in range(2):
        part = with_raw[with_raw["subject"].isin([f"s{s}" for s in range(6) if s % 2 == fold])]
        path = tmp_path / f"p{fold}.csv"
        part.to_csv(path, index=False)
        folds.append((fold, path))
    out = tmp_path / "report"
    build_report([ModelRuns("m", "cnn1d", folds)], out, classes=CLASSES, n_boot=20)
    saved = pd.read_csv(out / "calibration.csv")
    assert list(saved.columns) == CALIBRATION_COLUMNS
    assert set(saved["calibrated"]) == {"before", "after"} and set(saved["level"]) == {"segment", "recording"}
    assert (out / "figures" / "reliability_m.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "report.md").read_text()
    assert "## Calibration" in md and "Expected calibration error (ECE)" in md and "Brier score" in md
    assert "figures/reliability_m.png" in md
