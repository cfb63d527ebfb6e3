"""The runs of a workflow by (model, seed, fold): the table rule evaluate's inputs and params come from."""

from __future__ import annotations

import pytest

from ecgcwt.config import check_declared, files_by_model, run_table, runs_by_model, table_files
from ecgcwt.errors import ConfigError


def test_every_run_is_found_by_model_seed_and_fold_whatever_the_order():
    rows = run_table(["resnet18", "wavelet_svm"], [3, 7], [0, 1, 2], "results/models/{model}/seed{seed}/fold{fold}")
    assert len(rows) == 2 * 2 * 3
    by_key = {(r["model"], r["seed"], r["fold"]): r for r in rows}
    assert by_key[("wavelet_svm", 7, 1)] == {
        "model": "wavelet_svm",
        "seed": 7,
        "fold": 1,
        "predictions": "results/models/wavelet_svm/seed7/fold1/predictions.csv",
        "metrics": "results/models/wavelet_svm/seed7/fold1/metrics.json",
        "history": "results/models/wavelet_svm/seed7/fold1/history.csv",
    }
    # grouping does not depend on the order of the rows
    grouped = runs_by_model(list(reversed(rows)), "predictions")
    assert sorted(grouped) == ["resnet18", "wavelet_svm"]
    assert sorted(grouped["resnet18"]) == [3, 7]
    assert sorted(grouped["resnet18"][7]) == [
        (k, f"results/models/resnet18/seed7/fold{k}/predictions.csv") for k in (0, 1, 2)
    ]


def test_a_one_seed_run_keeps_paths_without_a_seed_folder():
    rows = run_table(["cnn1d"], [5], [0, 1], "results/models/{model}/fold{fold}", files={"weights": "model.pt"})
    paths = ["results/models/cnn1d/fold0/model.pt", "results/models/cnn1d/fold1/model.pt"]
    assert table_files(rows, "weights") == paths
    assert runs_by_model(rows, "weights") == {"cnn1d": {5: [(0, paths[0]), (1, paths[1])]}}
    with pytest.raises(ValueError, match="would hide"):
        run_table(["cnn1d"], [5], [0], "r/{model}/fold{fold}", files={"model": "model.pt"})


def test_a_file_the_rule_did_not_declare_is_refused_with_its_name():
    rows = run_table(["m"], [0], [0, 1], "r/{model}/fold{fold}")
    declared = table_files(rows, "predictions") + table_files(rows, "metrics") + table_files(rows, "history")
    check_declared(declared, declared, "rule evaluate")
    with pytest.raises(ConfigError, match=r"rule evaluate: 1 file\(s\).*r/m/fold1/history.csv"):
        check_declared(declared, declared[:-1], "rule evaluate")


def test_files_by_model_fills_each_pattern():
    out = files_by_model(["a", "b"], {"png": "fig/attribution_{model}.png", "csv": "attribution_{model}.csv"})
    assert out == {
        "a": {"png": "fig/attribution_a.png", "csv": "attribution_a.csv"},
        "b": {"png": "fig/attribution_b.png", "csv": "attribution_b.csv"},
    }
