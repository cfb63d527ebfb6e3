"""Temperature scaling (``training.calibrate``): the fit, the predictions' columns, and saved models applying it.

The fit is checked on deliberately over-confident logits; the 2D CNN is
trained for one epoch on a tiny cache (24 px, 3 subjects per class, fold 0 of 2).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from ecgcwt.apply.model_file import predict_scalograms
from ecgcwt.errors import DataError
from ecgcwt.evaluate import build_predictions, check_predictions, read_predictions
from ecgcwt.learn import fit_temperature, mean_nll, softmax, train_model

from .test_balance import CLASSES, imbalanced_table, spec, write_cache


def overconfident(n=300, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Logits 8x too sharp: right 70% of the time, but with softmax near 1 on every window."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    pred = np.where(rng.random(n) < 0.7, y, rng.integers(0, 3, n))
    logits = rng.normal(0, 0.3, (n, 3))
    logits[np.arange(n), pred] += 1.0
    return logits * 8, y


def test_the_temperature_lowers_the_validation_nll_and_keeps_every_decision():
    logits, y = overconfident()
    fit = fit_temperature(logits, y)
    t = fit["temperature"]
    assert t > 2  # over-confident: the logits are softened
    assert fit["val_nll_calibrated"] < fit["val_nll_raw"] == pytest.approx(mean_nll(logits, y))
    assert mean_nll(logits, y, t) <= min(mean_nll(logits, y, t * 1.05), mean_nll(logits, y, t / 1.05))
    assert np.array_equal(softmax(logits, t).argmax(1), logits.argmax(1))
    assert fit_temperature(logits, y) == fit  # deterministic


def test_no_validation_windows_or_calibrate_none_leave_t_at_one():
    empty = fit_temperature(np.empty((0, 3)), np.empty(0, dtype=np.int64))
    assert empty["temperature"] == 1.0 and "no validation windows" in empty["reason"]
    logits, y = overconfident()
    off = fit_temperature(logits, y, "none")
    assert off["temperature"] == 1.0 and "none" in off["reason"]


def test_the_predictions_contract_checks_the_uncalibrated_columns():
    rows = imbalanced_table(subjects=(1, 1, 1), recordings=1, windows=2)
    logits, _ = overconfident(len(rows))
    df = build_predictions(rows, softmax(logits, 3.0), list(CLASSES), raw_probs=softmax(logits))
    assert [c for c in df.columns if c.startswith("prob_raw_")] == [f"prob_raw_{c}" for c in CLASSES]
    check_predictions(df, "x", list(CLASSES))  # classes are still ARR, CHF, NSR
    bad = df.copy()
    bad["prob_raw_ARR"] = 0.9
    with pytest.raises(DataError, match="prob_raw_"):
        check_predictions(bad, "x")


@pytest.fixture(scope="module")
def fold0(tmp_path_factory):
    d = tmp_path_factory.mktemp("temperature")
    table = imbalanced_table(subjects=(3, 3, 3), recordings=1, windows=6)
    write_cache(d / "scalograms.h5", table)
    subjects = table.drop_duplicates("subject")[["subject", "label"]]
    subjects.assign(fold=[int(s.split("/")[1]) % 2 for s in subjects["subject"]]).to_csv(d / "folds.csv", index=False)
    before = torch.get_num_threads()
    out = d / "fold0"
    metrics = train_model(
        spec(epochs=2),
        name="sq",
        fold=0,
        out_dir=out,
        scalograms=d / "scalograms.h5",
        folds_csv=d / "folds.csv",
        n_folds=2,
        threads=2,
        log=lambda m: None,
    )
    yield d, out, metrics
    torch.set_num_threads(before)


def test_predictions_carry_calibrated_and_raw_probabilities(fold0):
    _, out, metrics = fold0
    preds = read_predictions(out / "predictions.csv", list(CLASSES))
    t = json.loads((out / "metrics.json").read_text())["learner"]["temperature"]
    assert t == metrics["learner"]["temperature"] > 0
    saved = torch.load(out / "model.pt", weights_only=True)["meta"]
    assert saved["temperature"] == t and saved["calibration"]["n_windows"] > 0
    raw = preds[[f"prob_raw_{c}" for c in CLASSES]].to_numpy()
    cal = preds[[f"prob_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(raw.sum(1), 1, atol=1e-9)
    np.testing.assert_allclose(cal, softmax(np.log(raw), t), atol=1e-6)  # prob = softmax(logits / T)
    assert np.array_equal(preds["pred_index"], raw.argmax(1))


def test_a_saved_model_applies_its_temperature_and_an_old_one_t_one(fold0, tmp_path):
    d, out, _ = fold0
    preds = pd.read_csv(out / "predictions.csv")
    rows = preds["segment"].to_numpy()
    cal = [f"prob_{c}" for c in CLASSES]
    again = predict_scalograms(out / "model.pt", d / "scalograms.h5", rows=rows, threads=2)
    np.testing.assert_allclose(again[cal].to_numpy(), preds[cal].to_numpy(), atol=1e-5)
    saved = torch.load(out / "model.pt", weights_only=True)
    del saved["meta"]["temperature"]  # a model file from before calibration
    torch.save(saved, tmp_path / "old.pt")
    old = predict_scalograms(tmp_path / "old.pt", d / "scalograms.h5", rows=rows, threads=2)
    np.testing.assert_allclose(old[cal].to_numpy(), preds[[f"prob_raw_{c}" for c in CLASSES]].to_numpy(), atol=1e-5)


def test_without_any_validation_window_training_runs_every_epoch_and_t_is_one(tmp_path):
    table = imbalanced_table(subjects=(1, 1, 1), recordings=1, windows=1)  # no class can validate
    write_cache(tmp_path / "scalograms.h5", table)
    lines: list[str] = []
    before = torch.get_num_threads()
    try:
        m = train_model(
            spec(epochs=2, patience=1),
            name="sq",
            fold="all",
            out_dir=tmp_path / "all",
            scalograms=tmp_path / "scalograms.h5",
            threads=2,
            log=lines.append,
        )
    finally:
        torch.set_num_threads(before)
    assert m["validation"]["strategy"] == dict.fromkeys(CLASSES, "none") and m["n_segments"]["val"] == 0
    facts = m["learner"]
    assert facts["epochs_run"] == 2 and not facts["stopped_early"]
    assert facts["temperature"] == 1.0 and "no validation windows" in facts["calibration"]["reason"]
    assert any("no class has validation windows" in line for line in lines)
    assert torch.load(tmp_path / "all" / "model.pt", weights_only=True)["meta"]["temperature"] == 1.0
