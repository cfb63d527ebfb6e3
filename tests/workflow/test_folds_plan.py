"""Few subjects per class, said before the first job; folds.k: loso plans one fold per subject (dry runs)."""

from __future__ import annotations

import pytest

from .runner import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

RECORDS = {
    "mitdb": ["100", "101", "102", "103", "104", "105"],
    "chfdb": ["chf01", "chf02"],
    "nsrdb": ["16265", "16272", "16273", "16420", "16483"],
}


def test_a_class_with_fewer_subjects_than_folds_is_named_with_its_folds_before_the_first_job(tmp_path):
    cfg = write_config(tmp_path / "few.yaml", {"data": {"records": RECORDS, "subject_map": {}}})
    r = snakemake(tmp_path, "-n", configfiles=[cfg])
    assert r.returncode == 0, r.output
    note = r.output.index("folds.k is 5, more than some class has subjects: CHF has 2 subject(s): fold(s) ")
    assert "would test CHF on a person the model has not seen" in r.output
    assert "set folds.k to 2 or to loso" in r.output
    assert note < r.output.index("Job stats")


def test_loso_plans_one_fold_per_subject(tmp_path):
    cfg = write_config(
        tmp_path / "loso.yaml",
        {"data": {"records": RECORDS, "subject_map": {}}, "folds": {"k": "loso"}, "leak_comparison": {"model": None}},
    )
    r = snakemake(tmp_path, "-n", configfiles=[cfg])
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    # 13 subjects: 13 folds of each of the 3 backbones, the 1D CNN and the wavelet model
    assert jobs["train"] == 3 * 13 and jobs["train_cnn1d"] == 13 and jobs["train_wavelet"] == 13
    assert "results/models/resnet18/fold12/model.pt" in r.stdout and "fold13" not in r.stdout


def test_loso_without_known_records_stops_before_any_job_saying_what_to_do(tmp_path):
    cfg = write_config(tmp_path / "loso.yaml", {"folds": {"k": "loso"}})
    r = snakemake(tmp_path, "-n", configfiles=[cfg])
    assert r.returncode != 0
    assert "folds.k loso makes one fold per subject, so the subjects must be known before the run" in r.output
