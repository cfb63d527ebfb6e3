"""A local folder with one broken record, through real snakemake: data.on_bad_record fail and skip.

The folder is a copy of four REAL PhysioNet records (mitdb 100 and 101, chfdb
chf02, nsrdb 16483) in tmp_path, with mitdb/101.dat truncated; small windows
and the first 20 s keep each run to seconds.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from ecgcwt.data.segment_store import read_table

from ..conftest import require_physionet
from .runner import snakemake, write_config

pytestmark = pytest.mark.workflow

RECORDS = {"mitdb": ["100", "101"], "chfdb": ["chf02"], "nsrdb": ["16483"]}


@pytest.fixture
def broken_folder(tmp_path):
    physionet = require_physionet()
    root = tmp_path / "wfdb"
    for db, names in RECORDS.items():
        (root / db).mkdir(parents=True)
        for name in names:
            for ext in (".hea", ".dat"):
                shutil.copy(physionet / db / f"{name}{ext}", root / db / f"{name}{ext}")
        (root / db / "RECORDS").write_text("".join(f"{n}\n" for n in names))
    dat = root / "mitdb" / "101.dat"
    dat.write_bytes(dat.read_bytes()[:1000])
    return root


def config(tmp_path, root, **data):
    return write_config(
        tmp_path / "local.yaml",
        {
            "data": {"source": "local", "path": str(root), "max_duration_s": 20, **data},
            "segments": {"window": 512, "hop": 512, "max_per_recording": 2},
        },
    )


def test_skip_goes_on_and_lists_the_record(tmp_path, broken_folder):
    work = tmp_path / "run"
    work.mkdir()
    cfg = config(tmp_path, broken_folder, on_bad_record="skip")
    r = snakemake(work, "results/data/segments.h5", configfiles=[cfg])
    assert r.returncode == 0, r.output
    table = read_table(work / "results/data/segments.h5")
    assert sorted(table["subject"].unique()) == ["chfdb/chf02", "mitdb/100", "nsrdb/16483"]
    qc = pd.read_csv(work / "results/data/segments_qc.csv", dtype={"record": str}, keep_default_na=False)
    assert list(qc.columns[:8]) == ["db", "record", "lead", "recording", "subject", "label", "seconds", "windows"]
    skipped = qc[qc["status"] == "skipped"]
    assert list(zip(skipped["db"], skipped["record"])) == [("mitdb", "101")]
    assert f"signal file {broken_folder}/mitdb/101.dat is truncated: 1000 bytes" in skipped["reason"].iloc[0]
    assert (qc.loc[qc["status"] == "ok", "kept"].astype(int) == 2).all() and (qc["status"] == "ok").sum() == 6
    log = (work / "logs/segment.log").read_text()
    assert "skipped record mitdb/101 (ARR): signal file" in log and "101.dat is truncated" in log
    assert "data.on_bad_record: skip left out 1 record(s)" in log


def test_fail_stops_naming_the_file_with_local_advice(tmp_path, broken_folder):
    work = tmp_path / "run"
    work.mkdir()
    r = snakemake(work, "results/data/segments.h5", configfiles=[config(tmp_path, broken_folder)])
    assert r.returncode != 0
    assert not (work / "results/data/segments.h5").exists() and not (work / "results/data/segments_qc.csv").exists()
    log = (work / "logs/segment.log").read_text()
    assert f"signal file {broken_folder}/mitdb/101.dat is truncated: 1000 bytes" in log
    assert f"Fix or remove record '101' in {broken_folder}/mitdb (data.path)" in log
    assert "data.on_bad_record: skip" in log
    assert "download" not in log.lower() and "Delete the folder's RECORDS" not in log


def test_record_name_outside_the_folder_is_refused_even_with_skip(tmp_path, broken_folder):
    work = tmp_path / "run"
    work.mkdir()
    (broken_folder / "mitdb" / "RECORDS").write_text(f"100\n{require_physionet() / 'mitdb' / '103'}\n")
    r = snakemake(work, "results/data/segments.h5", configfiles=[config(tmp_path, broken_folder, on_bad_record="skip")])
    assert r.returncode != 0
    log = (work / "logs/segment.log").read_text()
    assert f"in {broken_folder}/mitdb/RECORDS (line 2): it is an absolute path" in log
    assert not (work / "results/data/segments.h5").exists()
    # one line naming the file, the line and what to do; no traceback, in the log or snakemake's output
    lines = log.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR RecordError: invalid record name"), log
    assert f"Edit line 2 of {broken_folder}/mitdb/RECORDS to name a record inside {broken_folder}/mitdb" in log
    assert "Traceback" not in log and "Traceback" not in r.output


def test_bad_name_in_config_records_stops_before_any_job(tmp_path, broken_folder):
    cfg = config(tmp_path, broken_folder, on_bad_record="skip", records={"mitdb": ["100", "../chfdb/chf02"]})
    r = snakemake(tmp_path, "-n", configfiles=[cfg])
    assert r.returncode != 0
    assert "invalid record name '../chfdb/chf02' in config data.records.mitdb" in r.output
    assert "Job stats" not in r.output


#: A folder name with what the configuration allows in a path that HTML and JSON must escape.
ODD_FOLDER = "wfdb \"q\" & 'a'; `x` $HOME"


def test_skipped_record_is_listed_in_the_report_and_no_path_reaches_either_report_raw(tmp_path):
    # the whole workflow, kept tiny: synthetic records in a local folder, one damaged, one epoch of one backbone;
    # the folder's name has quotes, an ampersand and a backtick, which rule parameters carry into both reports
    from ecgcwt.data.synthetic import generate_database

    root = tmp_path / ODD_FOLDER
    for db, label in (("mitdb", "ARR"), ("chfdb", "CHF"), ("nsrdb", "NSR")):
        generate_database(db, label, root / db, subjects=4, duration_s=16, seed=0)
    (root / "mitdb" / "syn002.hea").write_text("not a header\n")
    cfg = write_config(
        tmp_path / "tiny.yaml",
        {
            "data": {"source": "local", "path": str(root), "max_duration_s": None, "on_bad_record": "skip"},
            "segments": {"window": 256, "hop": 256, "max_per_recording": 2},
            "folds": {"k": 3},
            "cwt": {"image": {"size": 32}},
            "training": {
                "backbones": ["resnet18"],
                "pretrained": "none",
                "epochs": 1,
                "batch_size": 8,
                "precision": "fp32",
            },
            "evaluate": {"bootstrap": 20},
            # this test is about the skipped record: no baselines, no leaky run
            "models": {"cnn1d": None, "wavelet_svm": None},
            "leak_comparison": {"model": None},
        },
    )
    work = tmp_path / "run"
    work.mkdir()
    r = snakemake(work, "results/report/report.html", configfiles=[cfg])
    assert r.returncode == 0, r.output[-5000:]
    md = (work / "results/report/report.md").read_text()
    assert "## Skipped records" in md and "1 record(s) could not be used" in md
    assert f"| mitdb | syn002 | ARR | cannot parse header {root}/mitdb/syn002.hea" in md
    html = (work / "results/report/report.html").read_text()
    assert '<h2 id="skipped-records">Skipped records</h2>' in html
    # Snakemake's own report holds every rule's parameters (data.path among them)
    r = snakemake(work, "--report", str(work / "snakemake_report.html"), configfiles=[cfg])
    assert r.returncode == 0, r.output[-5000:]
    smk = (work / "snakemake_report.html").read_text()
    for page, text in (("report.html", html), ("snakemake --report", smk)):
        assert ODD_FOLDER not in text, page  # escaped wherever the path appears, never as it is
    assert ODD_FOLDER.replace("&", "&amp;") in html  # in text: the ampersand escaped (quotes are text there)
    # in the report's script data: the path is there with its quotes escaped, so no string ends early
    assert "wfdb \\" in smk and 'wfdb "q"' not in smk

    # a cache edited after it was built: the job reading it stops with advice, and the advice works
    import h5py
    import numpy as np

    with h5py.File(work / "results/scalograms/scalograms.h5", "r+") as f:
        f.attrs["classes"] = np.array(["NSR", "CHF", "ARR"], dtype=object)
    gallery = "results/report/figures/scalogram_gallery.png"
    r = snakemake(work, gallery, "--forcerun", "gallery", configfiles=[cfg])
    assert r.returncode != 0 and "scalograms.h5' is inconsistent" in r.output, r.output[-3000:]
    advice = r.output.split("rebuild it with `", 1)[1].split("`", 1)[0]
    assert advice == "snakemake --forcerun scalograms"
    r = snakemake(work, gallery, "--forcerun", "scalograms", configfiles=[cfg])
    assert r.returncode == 0, r.output[-3000:]
