"""The fold runner: one split, fit, predict and write path for every kind of model.

A *learner* (a 2D CNN on scalograms, :class:`ecgcwt.learn.cnn2d.learner.Cnn2dLearner`;
a 1D CNN or wavelet features on the segments, :mod:`ecgcwt.learn.baselines`) only
fits and predicts. Everything that makes results comparable lives here, once:

1. **the split** (:func:`split_rows`). ``split="subject"`` (every model of the
   main table): the test set is the subjects of fold ``k`` in ``folds.csv``;
   of the other subjects, ``val_fraction`` per class form the inner
   validation set (early stopping); a class with too few subjects for that
   gives the last ``val_fraction`` in time of each of its training
   recordings instead (:func:`time_holdout`), so early stopping and
   calibration see every class. ``fold="all"`` tests nobody and needs no
   ``folds.csv``: the model behind external validation is trained on every
   subject, so it builds even where K-fold cross-validation cannot (one
   subject in a class). ``split="random_windows"`` is the *leaky* comparison:
   windows are split at random, ignoring subjects, so one person's windows
   sit on both sides; it exists only to show how much that inflates accuracy.
2. **checks** that every class has training windows and that ``folds.csv``
   belongs to the same data.
3. **the outputs**, each written atomically: ``predictions.csv`` (the
   contract of :mod:`ecgcwt.evaluate.predictions`; not for ``fold="all"``),
   ``history.csv``, ``metrics.json`` (split sizes, metrics at every level,
   timing, and under ``learner`` the learner's own ``describe()`` facts) and
   the learner's model file; for
   ``fold="all"`` also ``model_card.md`` beside it
   (:func:`ecgcwt.evaluate.model_card_text`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import pandas as pd

from ecgcwt import __version__
from ecgcwt.atomic import write_csv, write_json
from ecgcwt.config import environment_facts
from ecgcwt.data import read_folds
from ecgcwt.errors import ConfigError, DataError
from ecgcwt.evaluate import (
    PREPROCESSING_TEXT,
    build_predictions,
    evaluate_predictions,
    file_sha256,
    write_model_card,
    write_predictions,
)
from ecgcwt.learn.calibration import softmax

SPLITS = ("subject", "random_windows")


@dataclass
class FoldData:
    """What a learner sees: the data file, its table and the rows of each side of the split."""

    source: Path  # segments.h5 (baselines) or scalograms.h5 (2D CNNs)
    table: pd.DataFrame  # row i describes sample i of source
    classes: list[str]
    rows: dict[str, np.ndarray]  # "train", "val", "test": row indices into table
    fold: int | str
    seed: int


class Learner(Protocol):
    """Fits and predicts one model kind.

    A learner that also has ``predict_logits(data, rows)`` and a fitted
    ``temperature`` (the CNNs, ``training.calibrate``) gets its test
    probabilities computed here from its logits: ``prob_*`` after the
    temperature, ``prob_raw_*`` before it.
    """

    kind: str
    model_file: str

    def fit(self, data: FoldData, out_dir: Path, log: Callable[[str], None]) -> list[dict]: ...

    def predict_proba(self, data: FoldData, rows: np.ndarray) -> np.ndarray: ...

    def save(self, path: Path, data: FoldData) -> None: ...

    def describe(self) -> dict: ...


@dataclass(frozen=True)
class SubjectSplit:
    train: list[str]
    val: list[str]
    test: list[str]


# --------------------------------------------------------------------------- splits


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffling seed of ``epoch`` for a run seeded ``seed`` (every learner's epochs draw the same way)."""
    return (int(seed) * 1_000_003 + int(epoch)) % 2**63


def parse_fold(fold) -> int | str:
    """A fold number, or ``"all"`` (train on everyone, test nobody)."""
    if isinstance(fold, str) and fold != "all":
        if not fold.isdigit():
            raise ConfigError(f"fold must be an integer or 'all', got {fold!r}")
        return int(fold)
    return fold


def _fold_number(fold: int | str) -> int:
    return 1_000_000 if fold == "all" else int(fold)


def split_subjects(folds: pd.DataFrame, fold: int | str, val_fraction: float, seed: int) -> SubjectSplit:
    """Test, training and inner-validation subjects for ``fold`` (an int, or ``"all"`` for no test set).

    ``folds`` has one row per subject with ``subject``, ``label`` and (unless
    ``fold == "all"``) ``fold``. Of the non-test subjects of each class,
    ``val_fraction`` (at least one when the class has two or more, never all)
    are drawn for validation with ``(seed, fold)``.
    """
    if fold == "all":
        test_mask = np.zeros(len(folds), dtype=bool)
    else:
        if int(fold) not in set(folds["fold"]):
            raise ConfigError(f"fold {fold} does not exist; folds.csv has folds {sorted(set(folds['fold']))}")
        test_mask = (folds["fold"] == int(fold)).to_numpy()
    rest = folds[~test_mask]
    rng = np.random.default_rng([int(seed), _fold_number(fold)])
    val: list[str] = []
    for label in sorted(rest["label"].unique()):
        subjects = sorted(rest.loc[rest["label"] == label, "subject"])
        n = len(subjects)
        n_val = 0 if val_fraction <= 0 or n < 2 else min(n - 1, max(1, int(round(val_fraction * n))))
        val += [subjects[i] for i in sorted(rng.choice(n, size=n_val, replace=False))]
    val_set = set(val)
    return SubjectSplit(
        train=sorted(s for s in rest["subject"] if s not in val_set),
        val=sorted(val),
        test=sorted(folds.loc[test_mask, "subject"]),
    )


def subjects_of(table: pd.DataFrame) -> pd.DataFrame:
    """One row per subject of a segment table (``subject``, ``label``)."""
    return table.drop_duplicates("subject")[["subject", "label"]].sort_values("subject").reset_index(drop=True)


def _check_folds(folds: pd.DataFrame, table: pd.DataFrame, folds_csv, source) -> None:
    unknown = sorted(set(table["subject"]) - set(folds["subject"]))
    if unknown:
        raise DataError(
            f"{len(unknown)} subjects of {str(source)!r} are not in {str(folds_csv)!r} "
            f"(first: {unknown[:5]}); rebuild folds.csv from the same segment table "
            "(`snakemake --forcerun folds`)"
        )
    labels_of = table.drop_duplicates("subject").set_index("subject")["label"]
    known = folds[folds["subject"].isin(labels_of.index)]
    relabelled = known[known["label"].to_numpy() != labels_of[known["subject"]].to_numpy()]
    if len(relabelled):
        row = relabelled.iloc[0]
        raise DataError(
            f"{str(folds_csv)!r} gives subject {row['subject']!r} the label {row['label']!r}, but its windows in "
            f"{str(source)!r} are {labels_of[row['subject']]!r}; rebuild it with `snakemake --forcerun folds`"
        )


def random_window_split(table: pd.DataFrame, k: int, val_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """The leaky split: per class, 1/k of the windows at random for test, ``val_fraction`` of the rest for validation.

    Subjects are ignored on purpose: this is what a random split of windows
    does, and what the report's leak section measures.
    """
    rng = np.random.default_rng([int(seed), 7_777])
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for label in sorted(table["label"].unique()):
        idx = rng.permutation(np.flatnonzero((table["label"] == label).to_numpy()))
        n_test = int(round(len(idx) / k))
        test, rest = idx[:n_test], idx[n_test:]
        n_val = int(round(val_fraction * len(rest))) if val_fraction > 0 and len(rest) > 1 else 0
        out["test"] += list(test)
        out["val"] += list(rest[:n_val])
        out["train"] += list(rest[n_val:])
    return {name: np.sort(np.asarray(v, dtype=np.int64)) for name, v in out.items()}


def split_rows(
    table: pd.DataFrame,
    fold: int | str,
    *,
    split: str = "subject",
    folds_csv: str | os.PathLike | None = None,
    n_folds: int | None = None,
    val_fraction: float,
    seed: int,
    source: str | os.PathLike = "the data",
) -> tuple[dict[str, np.ndarray], dict]:
    """Row indices of train / val / test and a description of the split (for metrics.json)."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "random_windows":
        k = int(n_folds or 5)
        rows = random_window_split(table, k, val_fraction, seed)
        labels = table["label"].to_numpy()
        val_counts = {c: int((labels[rows["val"]] == c).sum()) for c in sorted(set(labels[rows["train"]]))}
        validation = {"strategy": {c: "random_windows" if n else "none" for c, n in val_counts.items()}}
        return rows, {
            "split": split,
            "test_share": 1 / k,
            "subjects_in_train_and_test": _shared_subjects(table, rows),
            "validation": {**validation, "windows": val_counts},
        }
    if fold == "all":
        folds = subjects_of(table)
    else:
        if folds_csv is None:
            raise ConfigError(f"fold {fold} needs folds.csv (only fold 'all' is trained without folds)")
        folds = read_folds(folds_csv, k=n_folds)
        _check_folds(folds, table, folds_csv, source)
        folds = folds[folds["subject"].isin(set(table["subject"]))]
    s = split_subjects(folds, fold, val_fraction, seed)
    rows = {
        name: np.flatnonzero(table["subject"].isin(set(getattr(s, name))).to_numpy())
        for name in ("train", "val", "test")
    }
    rows, validation = time_holdout(table, rows, val_fraction)
    return rows, {
        "split": split,
        "n_subjects": {k: len(getattr(s, k)) for k in ("train", "val", "test")},
        "validation": validation,
    }


def time_holdout(
    table: pd.DataFrame, rows: dict[str, np.ndarray], val_fraction: float
) -> tuple[dict[str, np.ndarray], dict]:
    """Give every class validation windows: the latest windows of each recording of a class without a val subject.

    A class with one training subject (or too few for ``val_fraction``) gets
    no validation subject from :func:`split_subjects`, and early stopping
    would then watch the other classes only. For such a class, the last
    ``val_fraction`` of each of its training recordings' windows by ``start``
    (rounded, at least one, never all) move from training to validation:
    the model is validated on a later stretch of the same person, the
    nearest thing to an unseen subject this data has. A recording of fewer
    than two windows stays in training. Returns the new rows and, per class,
    the strategy (``subject``, ``time_holdout`` or ``none``) and the number
    of validation windows.
    """
    labels = table["label"].to_numpy()
    train, val = rows["train"], rows["val"]
    order_key = table["start"].to_numpy() if "start" in table.columns else table.index.to_numpy()
    strategy: dict[str, str] = {}
    moved: list[np.ndarray] = []
    for label in sorted(set(labels[train])):
        if val_fraction <= 0:
            strategy[label] = "none"
            continue
        if (labels[val] == label).any():
            strategy[label] = "subject"
            continue
        mine = train[labels[train] == label]
        recordings = table["recording"].to_numpy()[mine]
        held: list[np.ndarray] = []
        for rec in sorted(set(recordings)):
            windows = mine[recordings == rec]
            if len(windows) < 2:
                continue
            windows = windows[np.lexsort((windows, order_key[windows]))]  # by start, ties by row
            n_val = min(len(windows) - 1, max(1, int(round(val_fraction * len(windows)))))
            held.append(windows[-n_val:])
        strategy[label] = "time_holdout" if held else "none"
        moved += held
    if moved:
        out = np.concatenate(moved)
        rows = {**rows, "train": np.setdiff1d(train, out), "val": np.union1d(val, out)}
    counts = {label: int((labels[rows["val"]] == label).sum()) for label in strategy}
    return rows, {"strategy": strategy, "windows": counts}


def _shared_subjects(table: pd.DataFrame, rows: dict[str, np.ndarray]) -> int:
    subj = table["subject"].to_numpy()
    return len(set(subj[rows["train"]]) & set(subj[rows["test"]]))


def describe_validation(validation: dict) -> str:
    """One sentence on how each class is validated (the log's and the report's words)."""
    words = {
        "subject": "held-out subjects",
        "time_holdout": "the last part in time of its training recordings",
        "random_windows": "random windows",
        "none": "none",
    }
    parts = [
        f"{c} {words.get(s, s)} ({validation['windows'].get(c, 0)} windows)" for c, s in validation["strategy"].items()
    ]
    if not any(n for n in validation["windows"].values()):
        return "validation: no class has validation windows; trained the fixed number of epochs, no early stopping"
    return "validation per class: " + "; ".join(parts)


# --------------------------------------------------------------------------- the runner


def run_fold(
    learner: Learner,
    source: str | os.PathLike,
    table: pd.DataFrame,
    classes: list[str],
    *,
    fold: int | str,
    out_dir: str | os.PathLike,
    val_fraction: float,
    seed: int,
    split: str = "subject",
    folds_csv: str | os.PathLike | None = None,
    n_folds: int | None = None,
    model_name: str | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Split, fit, predict and write one fold's outputs into ``out_dir``; return metrics.json's content."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fold = parse_fold(fold)
    rows, split_info = split_rows(
        table,
        fold,
        split=split,
        folds_csv=folds_csv,
        n_folds=n_folds,
        val_fraction=val_fraction,
        seed=seed,
        source=source,
    )
    present = set(table.loc[rows["train"], "label_index"])
    if len(present) < len(classes):
        missing = [classes[i] for i in range(len(classes)) if i not in present]
        raise DataError(
            f"fold {fold}: no training windows of classes {missing}; "
            + ("too few subjects for the number of folds" if fold != "all" else "the data lacks these classes")
        )
    name = model_name or getattr(learner, "name", learner.kind)
    log(
        f"{name} ({learner.kind}) fold {fold}, {split} split: segments train {len(rows['train'])} / "
        f"val {len(rows['val'])} / test {len(rows['test'])}"
    )
    log(f"{name} fold {fold}: {describe_validation(split_info['validation'])}")
    data = FoldData(Path(source), table, list(classes), rows, fold, int(seed))
    try:
        history = learner.fit(data, out_dir, log)
        probs = raw = None
        if len(rows["test"]) and hasattr(learner, "predict_logits"):
            # a calibrated learner: probabilities after its temperature, and before it (prob_raw_*)
            logits = learner.predict_logits(data, rows["test"])
            probs, raw = softmax(logits, float(getattr(learner, "temperature", 1.0))), softmax(logits)
        elif len(rows["test"]):
            probs = learner.predict_proba(data, rows["test"])
        learner.save(out_dir / learner.model_file, data)
    finally:
        close = getattr(learner, "close", None)
        if close is not None:
            close()

    metrics: dict = {
        "model": name,
        "kind": learner.kind,
        "fold": fold,
        # the training seed (splits, initialisation, batch order)
        "seed": int(seed),
        "classes": list(classes),
        **split_info,
        "n_segments": {k: int(len(v)) for k, v in rows.items()},
        "ecgcwt_version": __version__,
    }
    if probs is not None:
        preds = build_predictions(table.iloc[rows["test"]], probs, classes, raw_probs=raw)
        write_predictions(preds, out_dir / "predictions.csv")
        metrics["levels"] = evaluate_predictions(preds, classes)
    write_csv(pd.DataFrame(history), out_dir / "history.csv")
    described = dict(learner.describe())
    # the learner's own facts under a key of their own: a learner cannot overwrite the runner's keys;
    # its time phases join the job's timing block
    timing = dict(described.pop("timing", None) or {})
    metrics["learner"] = described
    timing["total_s"] = time.perf_counter() - t0
    metrics["timing"] = timing
    metrics["seconds"] = timing["total_s"]
    # what the job ran on (CPU, device, package versions): the report's provenance block lists it
    metrics["environment"] = environment_facts(device=described.get("device_name") or described.get("device") or "cpu")
    write_json(metrics, out_dir / "metrics.json")
    if fold == "all":
        facts = card_facts(metrics, table, rows, classes, source, learner, seed)
        # the card names the file it describes: `ecgcwt predict --info` shows it only beside that file
        facts["model_sha256"] = file_sha256(out_dir / learner.model_file)
        write_model_card(out_dir / "model_card.md", facts)
    log(f"{name} fold {fold}: done in {metrics['seconds']:.1f} s, outputs in {out_dir}")
    return metrics


# --------------------------------------------------------------------------- model card


def _source_preprocessing(source: Path) -> dict:
    """The preprocessing facts recorded in the input file's attributes (none when it cannot be read)."""
    try:
        import h5py

        with h5py.File(source, "r") as f:
            attrs = dict(f.attrs)
    except (OSError, ImportError):  # e.g. a learner that does not read its source (tests)
        return {}
    out = {}
    for k in PREPROCESSING_TEXT:
        if k in attrs:
            v = attrs[k]
            if isinstance(v, np.ndarray):
                v = v.tolist()
                if k == "leads" and not v:
                    v = "all leads of each record"
            elif hasattr(v, "item"):
                v = v.item()
            out[k] = v.decode() if isinstance(v, bytes) else v
    return out


def card_facts(metrics: dict, table: pd.DataFrame, rows: dict, classes, source, learner, seed: int) -> dict:
    """The facts of a model card for a model trained on all subjects (what this job knows)."""
    facts = metrics.get("learner") or {}
    seen = table.iloc[np.concatenate([rows["train"], rows["val"]])]
    per_class = {c: {"subjects": int(g["subject"].nunique()), "windows": int(len(g))} for c, g in seen.groupby("label")}
    data = {"per_class": per_class, "validation_windows": int(len(rows["val"]))}
    if "db" in seen.columns:
        data["databases"] = sorted(map(str, seen["db"].unique()))
    return {
        "model": metrics["model"],
        "kind": metrics["kind"],
        "classes": list(classes),
        "fold": metrics["fold"],
        "backbone": facts.get("backbone"),
        "pretrained": facts.get("pretrained"),
        "strategy": facts.get("strategy"),
        "seeds": int(seed),
        "epochs_run": facts.get("epochs_run"),
        "best_epoch": facts.get("best_epoch"),
        "ecgcwt_version": metrics.get("ecgcwt_version"),
        "model_file": learner.model_file,
        "data": data,
        "preprocessing": _source_preprocessing(Path(source)),
        "source": "written by the training job (fold all)",
    }
