"""Real snakemake runs of the data stages on real PhysioNet records (local folder and a local mirror)."""

from __future__ import annotations

import pytest

from ecgcwt.data.segment_store import read_info, read_table

from ..conftest import require_mathworks, require_physionet
from ..fixtures_physionet import physionet_mirror  # noqa: F401 (fixture)
from .runner import snakemake, write_config

pytestmark = pytest.mark.workflow

#: The records of the six-row file's row pairs, in its order.
SIX_ROW_RECORDS = ["mitdb/100", "chfdb/chf02", "nsrdb/16483"]

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


def test_mathworks_file_becomes_records_of_subjects(tmp_path):
    # the six-row file (mitdb 100, chfdb chf02, nsrdb 16483), its row pairs named in the config
    path = require_mathworks()
    cfg = write_config(
        tmp_path / "mathworks.yaml",
        {"data": {"source": "mathworks", "path": str(path), "mathworks": {"records": SIX_ROW_RECORDS}}},
    )
    r = snakemake(tmp_path, "results/data/segments.h5", configfiles=[cfg])
    assert r.returncode == 0, r.output[-5000:]
    for db, name in (r.split("/") for r in SIX_ROW_RECORDS):
        assert (tmp_path / f"resources/mathworks/{db}/RECORDS").read_text() == f"{name}\n"
    table = read_table(tmp_path / "results/data/segments.h5")
    assert sorted(table["subject"].unique()) == ["chfdb/chf02", "mitdb/100", "nsrdb/16483"]
    # both leads (rows) of each record are recordings of one subject, 10 windows each (256 s at 128 Hz)
    assert table.groupby("subject")["recording"].nunique().eq(2).all()
    assert table.groupby("recording").size().eq(10).all()
    import h5py

    with h5py.File(tmp_path / "results/data/segments.h5", "r") as f:
        assert "MathWorks' resampled copy" in str(f.attrs["data_source"])
    # one subject per class cannot make subject-grouped folds: said so, as for any source
    r = snakemake(tmp_path, "results/data/folds.csv", configfiles=[cfg])
    assert r.returncode != 0 and "CHF has 1, NSR has 1 subject(s)" in r.output


def test_mathworks_layout_through_to_a_report(tmp_path):
    # a file of the same layout with enough records for two subject-grouped folds: each record of the six-row
    # file cut into four 64-s pieces, both leads cut alike (rows stay in pairs). The pieces stand in for
    # subjects, named by label and pair number (ARR01..ARR04): this checks the plumbing, not a model.
    import numpy as np
    import scipy.io

    from ecgcwt.data.mathworks import read_ecgdata

    data, labels = read_ecgdata(require_mathworks())
    rows, row_labels = [], []
    for pair in range(0, len(labels), 2):
        for piece in range(4):
            cut = slice(piece * 8192, (piece + 1) * 8192)
            rows += [data[pair, cut], data[pair + 1, cut]]
            row_labels += [labels[pair]] * 2
    cell = np.empty((len(row_labels), 1), dtype=object)
    cell[:, 0] = [np.array([lab]) for lab in row_labels]
    mat = tmp_path / "ECGData_pieces.mat"
    scipy.io.savemat(str(mat), {"ECGData": {"Data": np.array(rows), "Labels": cell}})
    cfg = write_config(
        tmp_path / "tiny.yaml",
        {
            "data": {"source": "mathworks", "path": str(mat)},
            "segments": {"window": 256, "hop": 256, "max_per_recording": 3},
            "folds": {"k": 2},
            "cwt": {"image": {"size": 32}},
            "training": {"backbones": ["resnet18"], "pretrained": "none", "epochs": 1, "batch_size": 8},
            "evaluate": {"bootstrap": 20},
            "models": {"cnn1d": None, "wavelet_svm": None},
            "leak_comparison": {"model": None},
        },
    )
    work = tmp_path / "run"
    work.mkdir()
    r = snakemake(work, "results/report/report.html", configfiles=[cfg])
    assert r.returncode == 0, r.output[-5000:]
    assert (work / "resources/mathworks/mitdb/RECORDS").read_text().split() == ["ARR01", "ARR02", "ARR03", "ARR04"]
    table = read_table(work / "results/data/segments.h5")
    assert table.groupby("label")["subject"].nunique().to_dict() == {"ARR": 4, "CHF": 4, "NSR": 4}
    md = (work / "results/report/report.md").read_text()
    # the provenance block says where the data came from
    assert f"MathWorks' ECGData.mat at {mat}: MathWorks' resampled copy of PhysioNet records (128 Hz, millivolts" in md
    assert "## Main table" in md and "resnet18" in md
    assert "MathWorks' resampled copy" in (work / "results/report/report.html").read_text()
