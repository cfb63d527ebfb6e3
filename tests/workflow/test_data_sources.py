"""Real snakemake runs of the data stages on real PhysioNet records (local folder and a local mirror)."""

from __future__ import annotations

import pytest

from ecgcwt.data.segment_store import read_info, read_table

from ..conftest import require_physionet
from ..fixtures_physionet import physionet_mirror  # noqa: F401 (fixture)
from .runner import snakemake, write_config

pytestmark = pytest.mark.workflow

MITDB_HERE = [
    "100",
    "101",
    "103",
    "105",
    "106",
    "108",
    "109",
    "111",
    "112",
    "113",
    "114",
    "115",
    "116",
    "117",
    "118",
    "119",
]


def test_local_folder_of_real_records(tmp_path):
    physionet = require_physionet()
    cfg = write_config(tmp_path / "local.yaml", {"data": {"source": "local", "path": str(physionet)}})
    r = snakemake(tmp_path, "results/data/segments.h5", configfiles=[cfg])
    assert r.returncode == 0, r.output
    table = read_table(tmp_path / "results/data/segments.h5")
    assert read_info(tmp_path / "results/data/segments.h5").classes == ("ARR", "CHF", "NSR")
    subjects = table.groupby("label")["subject"].unique().map(sorted).to_dict()
    assert subjects == {"ARR": [f"mitdb/{r}" for r in MITDB_HERE], "CHF": ["chfdb/chf02"], "NSR": ["nsrdb/16483"]}
    # both leads are separate recordings of the same subject, 10 windows each
    assert table.groupby("recording").size().eq(10).all() and table["recording"].nunique() == 36
    qc = (tmp_path / "results/data/segments_qc.csv").read_text()
    assert qc.startswith("db,record,lead,recording,subject,label,seconds,windows,dropped_nan")
    # one CHF and one NSR subject cannot make 5 subject-grouped folds: the folds rule says so
    r = snakemake(tmp_path, "results/data/folds.csv", configfiles=[cfg])
    assert r.returncode != 0
    assert "folds.k is 5 but CHF has 1, NSR has 1 subject(s)" in r.output
    assert not (tmp_path / "results/data/folds.csv").exists()


def test_physionet_source_against_a_local_mirror(tmp_path, physionet_mirror):  # noqa: F811
    cfg = write_config(
        tmp_path / "mirror.yaml",
        {
            "data": {"physionet_url": physionet_mirror.url, "max_duration_s": 60},
            "segments": {"max_per_recording": 3},
        },
    )
    r = snakemake(tmp_path, "results/data/segments.h5", configfiles=[cfg])
    assert r.returncode == 0, r.output
    for db, names in {"mitdb": ["100", "101"], "chfdb": ["chf02"], "nsrdb": ["16483"]}.items():
        assert (tmp_path / f"resources/physionet/{db}/RECORDS").read_text().split() == names
    table = read_table(tmp_path / "results/data/segments.h5")
    assert sorted(table["subject"].unique()) == ["chfdb/chf02", "mitdb/100", "mitdb/101", "nsrdb/16483"]
    # only the first 60 s were fetched: 7680 samples at 128 Hz, 7 windows of 1024, 3 kept
    assert table["start"].max() == 6 * 1024
    assert physionet_mirror.hits("100.dat") and all(h.range for h in physionet_mirror.hits(".dat"))
