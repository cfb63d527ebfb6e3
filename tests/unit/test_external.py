"""External validation (``ecgcwt.apply.external``): every record of a folder of WFDB databases classified and scored.

The tiny model of ``test_predict`` is trained once on a few real records; the
external folder is built in ``tmp_path`` from copies of other real records
(and derived ones: a resampled copy, one too short for a window, one without
its signal file, a database the config does not know).
"""

from __future__ import annotations

import json
import logging
import math
import runpy
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb
from scipy.signal import resample_poly

from ecgcwt.apply.external import (
    LAYOUT,
    database_labels,
    external_metrics,
    find_databases,
    predict_external,
    prediction_columns,
)
from ecgcwt.errors import DataError, RecordError
from tests.conftest import REPO, require_physionet
from tests.unit.test_predict import train_tiny_model

CLASSES = ["ARR", "CHF", "NSR"]
COLUMNS = [
    *("record", "database", "label", "predicted"),
    *("prob_ARR", "prob_CHF", "prob_NSR"),
    *("n_windows", "status", "reason"),
]
DATABASES = {"mitdb": "ARR", "chfdb": "CHF", "nsrdb": "NSR"}
#: Seconds of each record used in the tests: 2 leads x 7 windows of 512 samples at 128 Hz (whole windows of 30 s).
SECONDS = 30
MAX_WINDOWS = 2 * 7


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = require_physionet()
    return train_tiny_model(root, tmp_path_factory.mktemp("external_model"))


def copy_record(src: Path, dst_dir: Path, name: str | None = None) -> None:
    """Copy a WFDB record (header and signal file), renamed to ``name`` (the header follows)."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    name = name or src.name
    text = src.with_suffix(".hea").read_text()
    shutil.copyfile(src.with_suffix(".dat"), dst_dir / f"{name}.dat")
    first, rest = text.split("\n", 1)
    (dst_dir / f"{name}.hea").write_text(
        " ".join([name, *first.split()[1:]]) + "\n" + rest.replace(f"{src.name}.dat", f"{name}.dat")
    )


def write_slice(src: Path, dst_dir: Path, name: str, *, seconds: float, fs_out: int | None = None) -> None:
    """The first ``seconds`` of a record, optionally resampled to ``fs_out``, written with wfdb.wrsamp."""
    fs = wfdb.rdheader(str(src)).fs
    rec = wfdb.rdrecord(str(src), sampto=int(round(seconds * fs)))
    x = rec.p_signal
    if fs_out is not None:
        x = resample_poly(x, fs_out, int(fs), axis=0)
        fs = fs_out
    wfdb.wrsamp(
        name, fs=fs, units=rec.units, sig_name=rec.sig_name, p_signal=x, fmt=["16"] * x.shape[1], write_dir=str(dst_dir)
    )


def write_records_file(folder: Path, names) -> None:
    (folder / "RECORDS").write_text("".join(f"{n}\n" for n in names))


@pytest.fixture(scope="module")
def external(tmp_path_factory, trained):
    """An external folder: real records in mitdb/chfdb/nsrdb plus derived ones and an unknown database."""
    root = trained["root"]
    ext = tmp_path_factory.mktemp("external") / "external"
    mitdb = ext / "mitdb"
    copy_record(root / "mitdb" / "105", mitdb)  # not used in training
    copy_record(root / "mitdb" / "106", mitdb)
    mitdb.mkdir(exist_ok=True)
    write_slice(root / "mitdb" / "100", mitdb, "r360", seconds=60)  # 60 s at the native 360 Hz
    write_slice(root / "mitdb" / "100", mitdb, "r250", seconds=60, fs_out=250)  # the same 60 s at 250 Hz
    write_slice(root / "mitdb" / "101", mitdb, "short", seconds=2)  # shorter than one 4 s window
    shutil.copyfile(root / "mitdb" / "108.hea", mitdb / "108.hea")  # its signal file is missing
    write_records_file(mitdb, ["105", "106", "r360", "r250", "short", "108"])
    copy_record(root / "chfdb" / "chf02", ext / "chfdb")
    write_records_file(ext / "chfdb", ["chf02"])
    copy_record(root / "nsrdb" / "16483", ext / "nsrdb")
    write_records_file(ext / "nsrdb", ["16483"])
    copy_record(root / "mitdb" / "109", ext / "otherdb", "x01")  # a database the config does not know
    write_records_file(ext / "otherdb", ["x01"])
    (ext / "notes").mkdir()  # a folder without RECORDS is not a database
    (ext / "notes" / "readme.txt").write_text("not a database\n")
    return ext


@pytest.fixture(scope="module")
def result(trained, external, tmp_path_factory):
    out = tmp_path_factory.mktemp("external_out") / "results" / "external" / "squeezenet1_1"
    logged: list[str] = []
    df = predict_external(
        trained["model"],
        external,
        databases=DATABASES,
        out_dir=out,
        max_duration_s=SECONDS,
        n_boot=200,
        seed=0,
        log=logged.append,
    )
    return {"df": df, "out": out, "log": logged}


def read_predictions(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"record": str, "database": str, "label": str, "predicted": str, "reason": str})


# --------------------------------------------------------------------------- predictions.csv


def test_predictions_csv_has_one_row_per_listed_record_with_the_columns(result):
    csv = read_predictions(result["out"] / "predictions.csv")
    assert list(csv.columns) == COLUMNS == prediction_columns(CLASSES)
    assert list(result["df"].columns) == COLUMNS
    # databases sorted by name, records in RECORDS order; the folder without RECORDS is not a database
    assert list(zip(csv["database"], csv["record"])) == [
        ("chfdb", "chf02"),
        *(("mitdb", r) for r in ["105", "106", "r360", "r250", "short", "108"]),
        ("nsrdb", "16483"),
        ("otherdb", "x01"),
    ]
    assert set(csv["status"]) <= {"ok", "skipped"}
    assert not list(result["out"].glob(".*tmp*"))


def test_classified_records_have_a_class_probabilities_and_windows(result):
    csv = read_predictions(result["out"] / "predictions.csv").set_index(["database", "record"])
    ok = csv[csv["status"] == "ok"]
    assert len(ok) == 7
    assert ok["predicted"].isin(CLASSES).all() and ok["reason"].isna().all()
    probs = ok[[f"prob_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert (ok["predicted"] == np.array(CLASSES)[probs.argmax(axis=1)]).all()
    # max_duration_s: only the first 30 s of each record are read (the 24 h-type records too)
    assert ok["n_windows"].between(1, MAX_WINDOWS).all()
    assert ok.loc[("mitdb", "105"), "n_windows"] == MAX_WINDOWS
    assert ok.loc[("chfdb", "chf02"), "label"] == "CHF" and ok.loc[("nsrdb", "16483"), "label"] == "NSR"


def test_unknown_database_is_predicted_with_an_empty_label(result):
    csv = read_predictions(result["out"] / "predictions.csv")
    row = csv[csv["database"] == "otherdb"].iloc[0]
    assert row["status"] == "ok" and row["predicted"] in CLASSES
    assert pd.isna(row["label"])  # empty in the file
    assert (result["df"].loc[result["df"]["database"] == "otherdb", "label"] == "").all()


def test_short_and_broken_records_are_listed_as_skipped_with_the_reason(result):
    csv = read_predictions(result["out"] / "predictions.csv").set_index(["database", "record"])
    skipped = csv[csv["status"] == "skipped"]
    assert list(skipped.index) == [("mitdb", "short"), ("mitdb", "108")]
    assert "too short" in skipped.loc[("mitdb", "short"), "reason"]
    assert "first" not in skipped.loc[("mitdb", "short"), "reason"]  # 2 s: max_duration_s (30 s) cut nothing
    missing = skipped.loc[("mitdb", "108"), "reason"]
    assert "108.dat" in missing and "not found" in missing
    assert skipped["predicted"].isna().all()
    assert skipped[[f"prob_{c}" for c in CLASSES]].isna().all().all()
    assert (skipped["n_windows"] == 0).all()
    assert any("mitdb/short: skipped: too short" in line for line in result["log"])


def test_a_record_resampled_to_another_rate_gives_the_same_class(result):
    csv = read_predictions(result["out"] / "predictions.csv").set_index(["database", "record"])
    native, other = csv.loc[("mitdb", "r360")], csv.loc[("mitdb", "r250")]
    assert native["status"] == other["status"] == "ok"
    assert native["predicted"] == other["predicted"]
    assert native["n_windows"] == other["n_windows"] == MAX_WINDOWS
    probs = [f"prob_{c}" for c in CLASSES]
    gap = np.abs(native[probs].to_numpy(float) - other[probs].to_numpy(float)).max()
    assert gap < 0.01
    # the tiny model's probabilities differ little between records: the resampled copy must still be
    # closer to its original than to any other record
    ok = csv[(csv["status"] == "ok")].drop(index=[("mitdb", "r360"), ("mitdb", "r250")])
    assert (np.abs(ok[probs].to_numpy(float) - other[probs].to_numpy(float)).max(axis=1) > gap).all()


# --------------------------------------------------------------------------- metrics.json


def test_metrics_json_counts_and_record_level_scores(result):
    m = json.loads((result["out"] / "metrics.json").read_text())
    csv = read_predictions(result["out"] / "predictions.csv")
    assert m["classes"] == CLASSES and m["model"]["classes"] == CLASSES
    assert m["counts"] == {
        "records": 9,
        "classified": 7,
        "skipped": 2,
        "labelled": 8,
        "labelled_classified": 6,
        "evaluated": 6,
    }
    assert m["databases"]["otherdb"]["label"] is None and m["databases"]["mitdb"]["skipped"] == 2
    assert m["labels_not_in_model"] == {}
    assert m["bootstrap"]["unit"] == "record" and m["bootstrap"]["n_boot"] == 200
    assert m["settings"]["max_duration_s"] == SECONDS
    scored = csv[(csv["status"] == "ok") & csv["label"].notna()]
    assert m["metrics"]["level"] == "record" and m["metrics"]["n"] == len(scored) == 6
    accuracy = m["metrics"]["accuracy"]
    assert accuracy["value"] == pytest.approx(float((scored["label"] == scored["predicted"]).mean()))
    assert accuracy["ci_low"] <= accuracy["value"] <= accuracy["ci_high"]
    for name in ("balanced_accuracy", "macro_f1"):
        assert set(m["metrics"][name]) == {"value", "ci_low", "ci_high", "n_valid"}
    assert set(m["metrics"]["per_class"]) == set(CLASSES)
    assert [m["metrics"]["per_class"][c]["support"] for c in CLASSES] == [4, 1, 1]
    assert set(m["metrics"]["per_class"]["ARR"]["sensitivity"]) == {"value", "ci_low", "ci_high", "n_valid"}
    conf = m["metrics"]["confusion"]
    assert conf["classes"] == CLASSES and conf["rows"] == "label"
    matrix = np.array(conf["matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 6 and matrix.sum(axis=1).tolist() == [4, 1, 1]
    assert m["warnings"] and "otherdb" in m["warnings"][0]


def test_external_metrics_matches_sklearn_and_reports_foreign_labels():
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

    rng = np.random.default_rng(1)
    n = 40
    labels = rng.choice(CLASSES, n)
    predicted = np.where(rng.random(n) < 0.7, labels, rng.choice(CLASSES, n))
    prob = rng.dirichlet(np.ones(3), n)
    df = pd.DataFrame(
        {
            "record": [f"r{i}" for i in range(n)],
            "database": "db",
            "label": labels,
            "predicted": predicted,
            **{f"prob_{c}": prob[:, j] for j, c in enumerate(CLASSES)},
            "n_windows": 3,
            "status": "ok",
            "reason": "",
        }
    )
    extra = pd.DataFrame(
        [
            {"record": "a", "database": "afdb", "label": "AF", "predicted": "ARR", "status": "ok"},
            {"record": "b", "database": "afdb", "label": "AF", "predicted": None, "status": "skipped"},
            {"record": "c", "database": "x", "label": "", "predicted": "NSR", "status": "ok"},
        ]
    )
    m = external_metrics(pd.concat([df, extra], ignore_index=True), CLASSES, n_boot=100, seed=3)
    assert m["labels_not_in_model"] == {"AF": 2}
    assert m["counts"] == {
        "records": n + 3,
        "classified": n + 2,
        "skipped": 1,
        "labelled": n + 2,
        "labelled_classified": n + 1,
        "evaluated": n,
    }
    got = m["metrics"]
    assert got["accuracy"]["value"] == pytest.approx(accuracy_score(labels, predicted))
    assert got["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(labels, predicted))
    assert got["macro_f1"]["value"] == pytest.approx(f1_score(labels, predicted, average="macro"))
    assert got["confusion"]["matrix"] == confusion_matrix(labels, predicted, labels=CLASSES).tolist()
    for c in CLASSES:
        sens = float(np.mean(predicted[labels == c] == c))
        assert got["per_class"][c]["sensitivity"]["value"] == pytest.approx(sens)
    assert got["accuracy"]["ci_low"] < got["accuracy"]["value"] < got["accuracy"]["ci_high"]
    assert got["accuracy"]["n_valid"] == 100
    # the same seed gives the same intervals
    again = external_metrics(pd.concat([df, extra], ignore_index=True), CLASSES, n_boot=100, seed=3)
    assert again == m

    only_foreign = external_metrics(extra, CLASSES, n_boot=10)
    assert only_foreign["metrics"] is None and "no record" in only_foreign["metrics_note"]


def test_labels_outside_the_model_classes_are_reported_not_a_crash(trained, external, tmp_path):
    logged: list[str] = []
    predict_external(
        trained["model"],
        external,
        databases={"mitdb": {"label": "ARR"}, "chfdb": {"label": "CHF"}, "nsrdb": {"label": "AF"}},
        out_dir=tmp_path,
        max_duration_s=8,
        max_windows=1,
        n_boot=20,
        log=logged.append,
    )
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["labels_not_in_model"] == {"AF": 1}
    assert m["counts"]["evaluated"] == 5 and m["metrics"]["n"] == 5
    assert any("'AF'" in w for w in m["warnings"])
    assert any(line.startswith("WARNING: label 'AF'") for line in logged)
    csv = read_predictions(tmp_path / "predictions.csv")
    assert (csv["n_windows"] <= 2).all()  # max_windows=1 per lead


# --------------------------------------------------------------------------- edge cases


def test_no_classifiable_record_still_writes_both_files_and_warns(trained, tmp_path):
    ext = tmp_path / "ext"
    (ext / "mitdb").mkdir(parents=True)
    write_slice(trained["root"] / "mitdb" / "101", ext / "mitdb", "short", seconds=1)
    write_records_file(ext / "mitdb", ["short"])
    logged: list[str] = []
    out = tmp_path / "out"
    df = predict_external(trained["model"], ext, databases=DATABASES, out_dir=out, n_boot=10, log=logged.append)
    assert df["status"].tolist() == ["skipped"]
    csv = read_predictions(out / "predictions.csv")
    assert list(csv.columns) == COLUMNS and "too short" in csv["reason"].iloc[0]
    m = json.loads((out / "metrics.json").read_text())
    assert m["counts"]["classified"] == 0 and m["counts"]["skipped"] == 1 and m["metrics"] is None
    assert any(line.startswith("WARNING: no record") for line in logged)


def test_a_folder_without_database_folders_is_a_data_error(trained, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as info:
        predict_external(trained["model"], tmp_path / "empty", databases=DATABASES, out_dir=tmp_path / "o")
    assert str(tmp_path / "empty") in str(info.value) and LAYOUT in str(info.value)
    with pytest.raises(DataError, match="does not exist"):
        find_databases(tmp_path / "nowhere")
    # a single database folder given instead of its parent
    (tmp_path / "one").mkdir()
    write_records_file(tmp_path / "one", ["100"])
    with pytest.raises(DataError, match="looks like one database folder"):
        find_databases(tmp_path / "one")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["../100", "/etc/passwd", "a//b", "a\\b"])
def test_a_records_entry_that_could_leave_the_folder_is_refused(trained, tmp_path, name):
    (tmp_path / "ext" / "db").mkdir(parents=True)
    write_records_file(tmp_path / "ext" / "db", ["100", name])
    with pytest.raises(RecordError, match="invalid record name"):
        predict_external(trained["model"], tmp_path / "ext", databases={}, out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_bad_arguments_are_refused_before_any_work(tmp_path):
    for kwargs in ({"max_duration_s": 0}, {"max_windows": 0}, {"n_boot": 0}, {"ci": 1.0}):
        with pytest.raises(ValueError):
            predict_external(tmp_path / "model.pt", tmp_path, databases={}, out_dir=tmp_path / "o", **kwargs)
    with pytest.raises(ValueError, match="no class label"):
        database_labels({"mitdb": {"version": "1.0.0"}})
    assert database_labels({"mitdb": {"label": "ARR", "version": "1"}, "x": "NSR"}) == {"mitdb": "ARR", "x": "NSR"}


# --------------------------------------------------------------------------- workflow script


class _Named(dict):
    """A stand-in for Snakemake's named lists: attribute access and ``get``."""

    __getattr__ = dict.__getitem__


def test_workflow_script_writes_both_outputs(trained, external, tmp_path, monkeypatch):
    out = tmp_path / "results" / "external" / "squeezenet1_1"
    log_file = tmp_path / "logs" / "external.log"
    log_file.parent.mkdir()
    smk = type("Snakemake", (), {})()
    smk.input = _Named(model=str(trained["model"]))
    smk.output = _Named(predictions=str(out / "predictions.csv"), metrics=str(out / "metrics.json"))
    smk.params = _Named(
        path=str(external),
        databases={db: {"label": label, "version": "1.0.0"} for db, label in DATABASES.items()},
        max_duration_s=8,
        max_windows=1,
        bootstrap=20,
        seed=0,
        device="cpu",
    )
    smk.log = [str(log_file)]
    smk.threads = 1
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stderr = sys.stderr
    monkeypatch.setattr(sys, "stderr", stderr)  # log_to replaces it with the log file
    try:
        runpy.run_path(str(REPO / "workflow" / "scripts" / "external.py"), init_globals={"snakemake": smk})
    finally:
        added = [h for h in root.handlers if h not in handlers]
        for h in added:
            root.removeHandler(h)
            h.close()
        for h in handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(level)
        opened, sys.stderr = sys.stderr, stderr
        if opened is not stderr:
            opened.close()
    csv = read_predictions(out / "predictions.csv")
    assert list(csv.columns) == COLUMNS and len(csv) == 9
    m = json.loads((out / "metrics.json").read_text())
    assert m["counts"]["records"] == 9 and m["bootstrap"]["n_boot"] == 20
    text = log_file.read_text()
    assert "external validation: 9 records in 4 databases" in text and "wrote " in text
    assert not math.isnan(m["metrics"]["accuracy"]["value"])
