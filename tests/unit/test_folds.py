"""Subject-grouped, stratified folds."""

from __future__ import annotations

import pandas as pd
import pytest

from ecgcwt.data.folds import assign_folds, read_folds
from ecgcwt.errors import DataError


def _segments(per_class: dict[str, int], leads=2, windows=5, merge: dict | None = None):
    rows = []
    for label, n in per_class.items():
        for s in range(n):
            record = f"{label.lower()}{s}"
            subject = (merge or {}).get(record, record)
            for lead in range(leads):
                # uneven windows per subject so that segment balancing matters
                for w in range(windows + s % 3):
                    rows.append({"subject": subject, "recording": f"{record}/{lead}", "label": label})
    return pd.DataFrame(rows)


def test_every_subject_in_exactly_one_fold_and_leads_together():
    seg = _segments({"ARR": 12, "CHF": 7, "NSR": 8}, merge={"arr5": "arr4"})
    folds = assign_folds(seg, k=5, seed=0)
    assert folds["subject"].is_unique and len(folds) == 12 - 1 + 7 + 8
    assert folds.loc[folds["subject"] == "arr4", "n_recordings"].item() == 4  # two records x two leads
    per = folds.groupby(["label", "fold"]).size().unstack(fill_value=0)
    assert (per > 0).all().all()  # every fold tests every class
    assert (per.max(axis=1) - per.min(axis=1) <= 1).all()  # subject counts balanced per class


def test_deterministic_and_seed_dependent():
    seg = _segments({"ARR": 10, "CHF": 10, "NSR": 10})
    a, b, c = assign_folds(seg, 5, 1), assign_folds(seg, 5, 1), assign_folds(seg, 5, 2)
    assert a.equals(b) and not a.equals(c)


def test_too_few_subjects_says_what_to_change():
    seg = _segments({"ARR": 16, "CHF": 1, "NSR": 3})
    with pytest.raises(
        DataError, match=r"folds.k is 5 but CHF has 1, NSR has 3 subject\(s\).*single subject cannot be tested"
    ):
        assign_folds(seg, 5)
    with pytest.raises(DataError, match=r"folds.k is 5 but CHF has 3 subject\(s\).*Lower folds.k to 3, or add"):
        assign_folds(_segments({"ARR": 6, "CHF": 3, "NSR": 6}), 5)


def test_subject_with_two_classes_is_refused():
    seg = pd.DataFrame(
        {
            "subject": ["p1", "p1", "p2", "p3"],
            "recording": ["a/0", "b/0", "c/0", "d/0"],
            "label": ["ARR", "NSR", "NSR", "ARR"],
        }
    )
    with pytest.raises(DataError, match="subject 'p1' has windows of classes"):
        assign_folds(seg, 2)


def test_read_folds_round_trip(tmp_path):
    seg = _segments({"ARR": 3, "NSR": 3})
    folds = assign_folds(seg, 3)
    folds.to_csv(tmp_path / "folds.csv", index=False)
    assert read_folds(tmp_path / "folds.csv").equals(folds)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"lacks columns \['subject', 'label', 'fold'\]"):
        read_folds(tmp_path / "bad.csv")


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "subject,label,fold\nmitdb/100,ARR,0\nmitdb/101,ARR,7\n",
            r"'mitdb/101' is in fold 7, outside 0\.\.2 \(folds\.k is 3\)",
        ),
        (
            "subject,label,fold\nmitdb/100,ARR,0\nmitdb/101,ARR,one\n",
            r"line 3: fold 'one' is not a non-negative integer",
        ),
        ("subject,label,fold\nmitdb/100,ARR,0\nmitdb/101,ARR,-1\n", r"line 3: fold '-1' is not a non-negative integer"),
        ("subject,label,fold\nmitdb/100,ARR,0\nmitdb/101,,1\n", r"line 3: empty subject, label or fold"),
        ('subject,label,fold\nmitdb/100,ARR,0\n"mitdb/101,ARR,1\n', r"is not a valid folds table"),
        ("subject,label,fold\nmitdb/100,ARR,0,5,6,7\nmitdb/101,ARR\n", r"is not a valid folds table"),
        ("", r"is not a valid folds table"),
    ],
    ids=["fold-outside-k", "not-a-number", "negative", "empty-field", "broken-quote", "ragged", "empty-file"],
)
def test_damaged_folds_file_is_named_with_how_to_rebuild(tmp_path, content, message):
    path = tmp_path / "folds.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as err:
        read_folds(path, k=3)
    assert "folds.csv" in str(err.value) and "snakemake --forcerun folds" in str(err.value)


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("per_class", [{"ARR": 9, "CHF": 2, "NSR": 3}, {"ARR": 1, "CHF": 6, "NSR": 4}])
def test_the_plan_before_the_segments_names_the_folds_the_segments_give(per_class, seed):
    """fold_plan (from subject counts, before any segment exists) names the folds assign_folds deals."""
    from ecgcwt.data.folds import fold_plan

    plan = fold_plan(per_class, 5, seed)
    with pytest.raises(DataError) as err:
        assign_folds(_segments(per_class), 5, seed)
    for label, n in per_class.items():
        if n < 5:
            assert f"{label} would be tested in fold(s) {', '.join(map(str, plan[label]))} only" in str(err.value)
        else:
            assert plan[label] == [0, 1, 2, 3, 4]
    assert "folds.k: loso" in str(err.value)


def test_the_note_says_which_folds_can_and_cannot_test_a_small_class():
    from ecgcwt.data.folds import few_subjects_note, fold_plan

    assert few_subjects_note({"ARR": 5, "CHF": 5}, 5) is None
    note = few_subjects_note({"ARR": 9, "CHF": 2, "NSR": 6}, 5, seed=0)
    chf = fold_plan({"ARR": 9, "CHF": 2, "NSR": 6}, 5, 0)["CHF"]
    others = [f for f in range(5) if f not in chf]
    assert f"CHF has 2 subject(s): fold(s) {', '.join(map(str, chf))} would test CHF" in note
    assert f"fold(s) {', '.join(map(str, others))} cannot (no CHF subject in them)" in note
    assert "set folds.k to 2 or to loso" in note
    assert "ARR" not in note and "NSR" not in note
    assert few_subjects_note({"ARR": 3, "CHF": 1}, "loso").startswith("folds.k loso: CHF has one subject")
    assert few_subjects_note({"ARR": 3, "CHF": 2}, "loso") is None


def test_loso_gives_each_subject_its_own_fold_in_the_planned_order():
    seg = _segments({"ARR": 3, "CHF": 1, "NSR": 2}, merge={"arr2": "arr1"})
    folds = assign_folds(seg, "loso")
    assert list(folds["subject"]) == ["arr0", "arr1", "chf0", "nsr0", "nsr1"]  # by class, then subject
    assert list(folds["fold"]) == [0, 1, 2, 3, 4]
    planned = ["nsr1", "arr0", "chf0", "arr1", "nsr0"]
    assert list(assign_folds(seg, "loso", planned=planned)["subject"]) == planned
    with pytest.raises(DataError, match=r"lack \['arr9'\]"):
        assign_folds(seg, "loso", planned=[*planned, "arr9"])


def test_loso_is_a_valid_folds_k_and_other_words_are_not():
    from ecgcwt.config import validate_config
    from ecgcwt.errors import ConfigError

    assert validate_config({"folds": {"k": "loso"}})["folds"]["k"] == "loso"
    with pytest.raises(ConfigError, match="folds.k"):
        validate_config({"folds": {"k": "lobo"}})
