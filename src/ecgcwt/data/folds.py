"""Subject-grouped, class-stratified K-fold assignment.

Every window of a subject (both leads of a record, and records known to be
the same person) lands in the same fold, so no test subject is ever seen in
training: the honest protocol (see DESIGN.md). Within each class, subjects
are dealt to folds so that subject counts differ by at most one and, among
equal counts, segment counts stay balanced; with at least ``k`` subjects per
class every fold then tests every class.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ecgcwt.errors import DataError

FOLD_COLUMNS = ["subject", "label", "fold", "n_recordings", "n_segments"]


def subject_table(segments: pd.DataFrame) -> pd.DataFrame:
    """One row per subject with its label and counts; a subject with two labels is an error."""
    labels = segments.groupby("subject")["label"].unique()
    mixed = labels[labels.map(len) > 1]
    if len(mixed):
        s = mixed.index[0]
        raise DataError(
            f"subject {s!r} has windows of classes {list(mixed.iloc[0])}: data.subject_map joins records of "
            f"different databases/classes into one person. Fix data.subject_map."
        )
    g = segments.groupby("subject")
    return pd.DataFrame(
        {
            "subject": labels.index,
            "label": [v[0] for v in labels.values],
            "n_recordings": g["recording"].nunique().reindex(labels.index).to_numpy(),
            "n_segments": g.size().reindex(labels.index).to_numpy(),
        }
    )


#: ``folds.k: loso``: leave one subject out, one fold per subject.
LOSO = "loso"


def loso_folds(segments: pd.DataFrame, planned: Sequence[str] | None = None) -> pd.DataFrame:
    """Leave one subject out: subject ``i`` of ``planned`` (default: sorted by class, then id) is fold ``i``.

    ``planned`` is the subject list the workflow made its folds from before the first job; the segments
    must hold exactly those subjects (a record left out by ``data.on_bad_record: skip`` would leave a
    fold without a test subject).
    """
    subjects = subject_table(segments)
    order = list(planned) if planned is not None else list(subjects.sort_values(["label", "subject"])["subject"])
    have = set(subjects["subject"])
    missing, extra = [s for s in order if s not in have], sorted(have - set(order))
    if missing or extra:
        raise DataError(
            f"folds.k loso: the run planned one fold per subject of {len(order)} subject(s), but the segments "
            f"lack {missing[:5]} and hold {extra[:5]} besides; a record was skipped or the records changed "
            "after the run was planned: run it again (it plans from the records it finds)"
        )
    out = subjects.set_index("subject").loc[order].reset_index()
    out["fold"] = np.arange(len(out), dtype=np.int64)
    return out[FOLD_COLUMNS].sort_values(["fold"]).reset_index(drop=True)


def fold_plan(subjects_per_class: Mapping[str, int], k: int, seed: int = 0) -> dict[str, list[int]]:
    """Which folds :func:`assign_folds` gives a subject of each class, from the subject counts alone.

    Within a class, subjects go to the folds with the fewest subjects of that class first, ties broken by
    the seeded fold order, so a class with ``n < k`` subjects lands in the first ``n`` folds of that order
    whatever its segment counts: the folds are known before the segments are cut.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for label in sorted(subjects_per_class):
        n = int(subjects_per_class[label])
        rng.permutation(n)  # assign_folds' tie-break of the class's subjects: the same draws, in order
        order = rng.permutation(k)
        out[label] = sorted(int(f) for f in order[: min(n, k)])
    return out


def few_subjects_note(subjects_per_class: Mapping[str, int], k: int | str, seed: int = 0) -> str | None:
    """What folds.k means for the classes with few subjects, in words; None when every fold tests every class.

    With ``k`` folds and a class of ``n < k`` subjects, only ``n`` folds test that class on a person the model
    has not seen and the others test no one of it. With ``loso`` each subject is tested by a model trained
    on all the others; a class with one subject is then tested by a model that never saw that class.
    """
    if k == LOSO:
        single = sorted(c for c, n in subjects_per_class.items() if n == 1)
        if not single:
            return None
        return (
            f"folds.k loso: {', '.join(single)} {'has' if len(single) == 1 else 'have'} one subject: its fold is "
            "tested by a model trained on no subject of that class, so no fold can test it on an unseen person "
            "the way the other classes are tested"
        )
    plan = fold_plan(subjects_per_class, int(k), seed)
    short = {c: folds for c, folds in plan.items() if subjects_per_class[c] < int(k)}
    if not short:
        return None
    parts = []
    for label, folds in short.items():
        others = [f for f in range(int(k)) if f not in folds]
        parts.append(
            f"{label} has {subjects_per_class[label]} subject(s): fold(s) {', '.join(map(str, folds))} would test "
            f"{label} on a person the model has not seen, fold(s) {', '.join(map(str, others))} cannot (no {label} "
            "subject in them)"
        )
    lowest = min(subjects_per_class.values())
    return (
        f"folds.k is {k}, more than some class has subjects: {'; '.join(parts)}. Every fold must test every class: "
        + (f"set folds.k to {lowest} or to loso (leave one subject out)" if lowest >= 2 else "set folds.k to loso")
        + ", or add records of that class."
    )


def assign_folds(
    segments: pd.DataFrame, k: int | str, seed: int = 0, planned: Sequence[str] | None = None
) -> pd.DataFrame:
    """Assign each subject a test fold in ``0..k-1`` (columns :data:`FOLD_COLUMNS`); loso: :func:`loso_folds`."""
    if k == LOSO:
        return loso_folds(segments, planned)
    k = int(k)  # not loso: a number of folds
    subjects = subject_table(segments)
    counts = subjects.groupby("label").size()
    rng = np.random.default_rng(seed)
    folds = pd.Series(-1, index=subjects.index, dtype=np.int64)
    for label in sorted(subjects["label"].unique()):
        idx = subjects.index[subjects["label"] == label].to_numpy()
        # random tie-break, then largest first: greedy bin packing balances segment counts
        idx = idx[rng.permutation(len(idx))]
        idx = idx[np.argsort(-subjects.loc[idx, "n_segments"].to_numpy(), kind="stable")]
        n_subj = np.zeros(k, dtype=np.int64)
        n_seg = np.zeros(k, dtype=np.int64)
        fold_order = rng.permutation(k)
        for i in idx:
            # fewest subjects first, then fewest segments, then a seeded fold order
            f = min(fold_order, key=lambda f: (n_subj[f], n_seg[f]))
            folds[i] = f
            n_subj[f] += 1
            n_seg[f] += subjects.at[i, "n_segments"]
    short = counts[counts < k]
    if len(short):
        detail = ", ".join(f"{lbl} has {n}" for lbl, n in short.items())
        lowest = int(counts.min())
        fix = (
            f"Lower folds.k to {lowest}, or add"
            if lowest >= 2
            else "A class with a single subject cannot be tested on a subject it was not trained on: add"
        )
        where = "; ".join(
            f"{lbl} would be tested in fold(s) {', '.join(map(str, sorted(set(folds[subjects['label'] == lbl]))))} only"
            for lbl in short.index
        )
        raise DataError(
            f"folds.k is {k} but {detail} subject(s); every class needs at least k subjects so that each fold "
            f"tests every class ({where}). {fix} records of that class (data.records / data.databases), "
            "or set folds.k: loso (leave one subject out)."
        )
    out = subjects.assign(fold=folds.to_numpy())
    return out[FOLD_COLUMNS].sort_values(["fold", "label", "subject"]).reset_index(drop=True)


_REBUILD_FOLDS = "rebuild it with `snakemake --forcerun folds`"


def read_folds(folds_csv: str | os.PathLike, k: int | None = None) -> pd.DataFrame:
    """``folds.csv``: one row per subject, columns ``subject, label, fold``; checked before any work.

    With ``k`` (``folds.k``), every fold number must lie in ``0..k-1``: a
    subject in another fold would never be tested. Without it, fold numbers
    must still be non-negative integers. Every problem is a :class:`DataError`
    that names the file and says how to rebuild it.
    """
    path = Path(folds_csv)
    if not path.is_file():
        raise DataError(f"folds file {str(path)!r} does not exist; run the folds step first")
    try:
        with warnings.catch_warnings():
            # a row with more fields than the header: pandas would drop them with a warning
            warnings.simplefilter("error", pd.errors.ParserWarning)
            folds = pd.read_csv(path, dtype={"subject": str, "label": str, "fold": str}, index_col=False)
    except (
        pd.errors.ParserError,
        pd.errors.ParserWarning,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        ValueError,
    ) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{str(path)!r} is not a valid folds table ({reason}); {_REBUILD_FOLDS}") from exc
    missing = [c for c in ("subject", "label", "fold") if c not in folds.columns]
    if missing:
        raise DataError(f"{str(path)!r} lacks columns {missing}; expected subject,label,fold; {_REBUILD_FOLDS}")
    empty = folds[["subject", "label", "fold"]].isna().any(axis=1)
    if empty.any():
        line = int(np.flatnonzero(empty.to_numpy())[0]) + 2  # 1-based, after the header
        raise DataError(f"{str(path)!r} line {line}: empty subject, label or fold; {_REBUILD_FOLDS}")
    fold_text = folds["fold"].str.strip()
    bad = ~fold_text.str.fullmatch(r"\d+")
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise DataError(
            f"{str(path)!r} line {line}: fold {folds['fold'].iloc[line - 2]!r} is not a non-negative "
            f"integer; {_REBUILD_FOLDS}"
        )
    folds["fold"] = fold_text.astype(int)
    if k is not None:
        outside = ~folds["fold"].between(0, int(k) - 1)
        if outside.any():
            row = folds[outside].iloc[0]
            raise DataError(
                f"{str(path)!r}: subject {row['subject']!r} is in fold {row['fold']}, outside 0..{int(k) - 1} "
                f"(folds.k is {int(k)}), so it would never be tested; {_REBUILD_FOLDS}"
            )
    if folds["subject"].duplicated().any():
        dup = folds.loc[folds["subject"].duplicated(), "subject"].tolist()[:5]
        raise DataError(f"{str(path)!r}: subjects listed more than once: {dup}; {_REBUILD_FOLDS}")
    return folds
