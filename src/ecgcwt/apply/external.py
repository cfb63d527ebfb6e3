"""External validation: classify every record of a folder of WFDB databases with a trained model.

The folder is laid out as the workflow's data folders are (``data.source:
local``): one sub-folder per database, each with a ``RECORDS`` file listing
its records (names checked by :func:`ecgcwt.data.records.read_record_list`, so
that no entry reads outside the folder) and the WFDB files::

    external/
      mitdb/RECORDS  mitdb/100.hea  mitdb/100.dat ...
      otherdb/RECORDS  otherdb/a01.hea ...

Every sub-folder with a ``RECORDS`` file is a database. Each listed record is
classified by :func:`ecgcwt.apply.predict.predict_records` with the model's own
preprocessing (resampled to the model's rate, any length), so the records may
come from any device. :func:`predict_external` writes

``predictions.csv``
    one row per listed record, in folder then ``RECORDS`` order: ``record``,
    ``database``, ``label`` (the database's class, empty for a database the
    training config does not know), ``predicted`` (empty when the record could
    not be classified), ``prob_<class>`` per model class (empty then),
    ``n_windows`` (0 then), ``status`` (``ok`` or ``skipped``) and ``reason``
    (why it was skipped: too short for one window, a missing or truncated
    signal file, no window passing the quality checks, ...). No record is
    left out silently.
``metrics.json``
    counts (records, classified, skipped, labelled, evaluated) overall and per
    database, the model's classes, labels that are not among them (their
    records are counted but cannot be scored), and, where labelled records
    were classified, record-level metrics (accuracy, balanced accuracy, macro
    F1, Cohen's kappa, macro AUC, per-class sensitivity, specificity and
    precision) with percentile bootstrap intervals that resample *records*,
    plus the confusion matrix (rows: label, columns: predicted).

Both files are written atomically; both are written even when no record
could be classified (with a warning in the log and in ``metrics.json``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ecgcwt.apply.predict import check_max_duration, load_predict_model, predict_records
from ecgcwt.atomic import write_csv, write_json
from ecgcwt.data import read_record_list
from ecgcwt.errors import DataError
from ecgcwt.evaluate import METRIC_FUNCTIONS, PER_CLASS_METRICS, bootstrap_metrics, classification_metrics

#: Status of a row of ``predictions.csv``.
STATUS = ("ok", "skipped")

#: What an external folder must look like (quoted in the error for a folder without databases).
LAYOUT = (
    "one sub-folder per database, each with a RECORDS file listing its records (one name per line) and the "
    "records' WFDB files, e.g. mitdb/RECORDS, mitdb/100.hea, mitdb/100.dat"
)


def prediction_columns(classes) -> list[str]:
    """The columns of ``predictions.csv``, in order, for a model with ``classes``."""
    return [
        "record",
        "database",
        "label",
        "predicted",
        *(f"prob_{c}" for c in classes),
        "n_windows",
        "status",
        "reason",
    ]


def find_databases(external_dir: str | os.PathLike) -> list[tuple[str, Path]]:
    """``(name, folder)`` of every sub-folder of ``external_dir`` that has a ``RECORDS`` file, sorted by name.

    Raises :class:`DataError` naming the folder and the expected layout when
    there is none (or the folder does not exist).
    """
    root = Path(external_dir)
    if not root.is_dir():
        raise DataError(f"external data folder {str(root)!r} does not exist or is not a folder; expected {LAYOUT}.")
    found = sorted((p.name, p) for p in root.iterdir() if p.is_dir() and (p / "RECORDS").is_file())
    if not found:
        hint = (
            " It has a RECORDS file itself: it looks like one database folder; give the folder above it."
            if (root / "RECORDS").is_file()
            else ""
        )
        raise DataError(
            f"external data folder {str(root)!r} has no database folder (no sub-folder with a RECORDS file); "
            f"expected {LAYOUT}.{hint}"
        )
    return found


def database_labels(databases: Mapping | None) -> dict[str, str]:
    """``{db: label}`` from ``{db: label}`` or the config's ``data.databases`` form ``{db: {label: ...}}``."""
    out = {}
    for db, value in (databases or {}).items():
        label = value.get("label") if isinstance(value, Mapping) else value
        if label is None or not str(label).strip():
            raise ValueError(f"databases[{db!r}] has no class label (got {value!r})")
        out[str(db)] = str(label).strip()
    return out


def predict_external(
    model_pt: str | os.PathLike | Sequence[str | os.PathLike],
    external_dir: str | os.PathLike,
    *,
    databases: Mapping[str, str],
    out_dir: str | os.PathLike,
    device: str = "cpu",
    batch_size: int = 64,
    max_windows: int | None = None,
    max_duration_s: float | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    trust_pickle: bool = False,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Classify every record of ``external_dir``; write ``out_dir/predictions.csv`` and ``metrics.json``.

    ``model_pt`` is one model file of any kind that classifies new records
    (``ecgcwt.config.ModelKind.predictor``), or several (the workflow's one per
    training seed) whose mean probability, their ensemble, classifies each
    record. ``trust_pickle``: load a ``model.joblib`` (a pickle; the workflow's own).

    ``databases`` maps database names to class labels (``{db: label}``, or the
    config's ``{db: {label: ...}}``); a database of the folder not in it gets
    an empty label and is predicted but not scored. ``max_windows`` (per
    lead) and ``max_duration_s`` (the first seconds of each record) limit the
    work per record as in ``ecgcwt predict``. ``n_boot``, ``ci`` and ``seed``
    set the record bootstrap. Returns the predictions table.

    Raises :class:`DataError` when the folder has no database folder,
    :class:`ecgcwt.errors.RecordError` for a ``RECORDS`` file that is empty or
    lists an invalid name, :class:`ecgcwt.apply.predict.ModelFileError` for an
    unusable model file, ``ValueError`` for bad arguments.
    """
    labels = database_labels(databases)
    if max_windows is not None and int(max_windows) < 1:
        raise ValueError(f"max_windows must be >= 1, got {max_windows}")
    max_duration_s = check_max_duration(max_duration_s)
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < float(ci) < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    found = find_databases(external_dir)
    listed = [(db, folder, name) for db, folder in found for name in read_record_list(folder, data_source="local")]
    unknown = [db for db, _ in found if db not in labels]
    absent = [db for db in labels if db not in {d for d, _ in found}]
    names = ", ".join(f"{db}={labels.get(db, '(no label)')}" for db, _ in found)
    log(f"external validation: {len(listed)} records in {len(found)} databases of {external_dir} ({names})")
    warnings = []
    if unknown:
        warnings.append(f"databases without a class label (predicted, not scored): {', '.join(unknown)}")
    if absent:
        log(f"databases of the config not in {external_dir}: {', '.join(absent)}")

    model = load_predict_model(model_pt, device, trust_pickle=trust_pickle)
    classes = model.classes
    prob_cols = [f"prob_{c}" for c in classes]
    rows = []
    for i, (db, folder, name) in enumerate(listed, 1):
        table, errors = predict_records(
            model,
            [folder / name],
            max_windows=max_windows,
            max_duration_s=max_duration_s,
            batch_size=batch_size,
        )
        row: dict[str, Any] = {"record": name, "database": db, "label": labels.get(db, "")}
        if len(table):
            got = table.iloc[0]
            row.update(predicted=got["predicted"], n_windows=int(got["n_windows"]), status="ok", reason="")
            row.update({c: float(got[c]) for c in prob_cols})
            probs = " ".join(f"{c}={got[f'prob_{c}']:.3f}" for c in classes)
            log(f"[{i}/{len(listed)}] {db}/{name}: {row['predicted']} {probs} (n_windows={row['n_windows']})")
        else:
            reason = errors[0][1] if errors else "not classified"
            row.update(predicted=None, n_windows=0, status="skipped", reason=reason)
            row.update({c: float("nan") for c in prob_cols})
            log(f"[{i}/{len(listed)}] {db}/{name}: skipped: {reason}")
        rows.append(row)
    df = pd.DataFrame(rows, columns=prediction_columns(classes))
    df["n_windows"] = df["n_windows"].astype(np.int64)

    n_ok = int((df["status"] == "ok").sum())
    if n_ok == 0:
        warnings.append(f"no record of {external_dir} could be classified ({len(df)} listed, all skipped)")
    metrics = external_metrics(df, classes, n_boot=n_boot, ci=ci, seed=seed)
    for label, n in metrics["labels_not_in_model"].items():
        warnings.append(f"label {label!r} ({n} records) is not one of the model's classes {classes}: not scored")
    metrics.update(
        # several files (one per training seed): their ensemble, the mean of their probabilities
        model={
            "path": str(model.paths[0]) if len(model.paths) == 1 else [str(p) for p in model.paths],
            "n_members": len(model.paths),
            "kind": model.kind,
            "backbone": model.meta.get("backbone"),
            "classes": classes,
        },
        external_dir=str(external_dir),
        settings={
            "max_windows": None if max_windows is None else int(max_windows),
            "max_duration_s": max_duration_s,
            "fs": float(model.prep["fs"]),
            "window": int(model.prep["window"]),
        },
        warnings=warnings,
    )
    for w in warnings:
        log(f"WARNING: {w}")
    out = Path(out_dir)
    write_csv(df, out / "predictions.csv")
    write_json(metrics, out / "metrics.json")
    m = metrics["metrics"]
    summary = f"; accuracy {m['accuracy']['value']:.3f} over {m['n']} records" if m else ""
    log(
        f"wrote {out / 'predictions.csv'} and metrics.json: {n_ok} of {len(df)} records classified, "
        f"{len(df) - n_ok} skipped{summary}"
    )
    return df


def external_metrics(df: pd.DataFrame, classes, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> dict:
    """``metrics.json``'s counts and record-level metrics of a ``predictions.csv`` table.

    Scored are the records that were classified and whose label is one of
    ``classes``; labels that are not are counted in ``labels_not_in_model``.
    ``metrics`` is None when no record can be scored (``metrics_note`` says
    why). Each metric has ``value`` and a percentile bootstrap interval
    ``ci_low``/``ci_high`` over ``n_valid`` resamples (those where it is
    defined) that draw records with replacement.
    """
    classes = list(classes)
    label = df["label"].fillna("").astype(str)
    ok = (df["status"] == "ok").to_numpy()
    labelled = (label != "").to_numpy()
    known = label.isin(classes).to_numpy()
    scored = ok & labelled & known

    per_db = {}
    for db, part in df.groupby("database", sort=True):
        part_label = part["label"].fillna("").astype(str)
        part_ok = part["status"] == "ok"
        per_db[str(db)] = {
            "label": part_label.iloc[0] or None,
            "records": int(len(part)),
            "classified": int(part_ok.sum()),
            "skipped": int((~part_ok).sum()),
            "predicted": {c: int((part.loc[part_ok, "predicted"] == c).sum()) for c in classes},
        }
    foreign = label[labelled & ~known].value_counts().sort_index()
    out: dict = {
        "classes": classes,
        "counts": {
            "records": int(len(df)),
            "classified": int(ok.sum()),
            "skipped": int((~ok).sum()),
            "labelled": int(labelled.sum()),
            "labelled_classified": int((ok & labelled).sum()),
            "evaluated": int(scored.sum()),
        },
        "databases": per_db,
        "labels_not_in_model": {str(k): int(v) for k, v in foreign.items()},
        "bootstrap": {
            "unit": "record",
            "method": "percentile",
            "n_boot": int(n_boot),
            "ci": float(ci),
            "seed": int(seed),
            "note": "records drawn with replacement; records of one person are treated as independent",
        },
        "metrics": None,
        "metrics_note": None,
    }
    if not scored.any():
        out["metrics_note"] = (
            "no record with a known label among the model's classes was classified"
            if labelled.any()
            else "no database of the folder has a class label (databases): nothing to score"
        )
        return out
    index = {c: i for i, c in enumerate(classes)}
    part = df[scored]
    y = label[scored].map(index).to_numpy(np.int64)
    p = part["predicted"].map(index).to_numpy(np.int64)
    prob = part[[f"prob_{c}" for c in classes]].to_numpy(np.float64)
    point = classification_metrics(y, p, prob, classes)
    boot_df = pd.DataFrame(
        {
            "subject": (part["database"].astype(str) + "/" + part["record"].astype(str)).to_numpy(),
            "label_index": y,
            "pred_index": p,
            **{f"prob_{c}": prob[:, j] for j, c in enumerate(classes)},
        }
    )
    boot = bootstrap_metrics(boot_df, "segment", classes, n_boot=n_boot, ci=ci, seed=seed).set_index("metric")

    def interval(name: str) -> dict:
        r = boot.loc[name]
        return {
            "value": float(r["value"]),
            "ci_low": float(r["ci_low"]),
            "ci_high": float(r["ci_high"]),
            "n_valid": int(r["n_valid"]),
        }

    support = np.bincount(y, minlength=len(classes))
    out["metrics"] = {
        "level": "record",
        "n": int(point["n"]),
        **{m: interval(m) for m in METRIC_FUNCTIONS},
        "per_class": {
            c: {"support": int(support[i]), **{m: interval(f"{m}_{c}") for m in PER_CLASS_METRICS}}
            for i, c in enumerate(classes)
        },
        "confusion": {"rows": "label", "columns": "predicted", "classes": classes, "matrix": point["confusion"]},
    }
    return out


__all__ = [
    "LAYOUT",
    "STATUS",
    "database_labels",
    "external_metrics",
    "find_databases",
    "prediction_columns",
    "predict_external",
]
