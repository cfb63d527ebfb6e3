"""Symbolic links in data.path: allowed, recorded in segments_qc.csv (link_target), a broken one named.

The data folder is made of links to REAL PhysioNet records (mitdb 100, chfdb
chf02, nsrdb 16483, from ../shared): a linked database folder, linked files
in a plain folder, and plain copies; its windows must equal those of a plain
copy of the same records.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ecgcwt.atomic import write_csv
from ecgcwt.cli import main as cli_main
from ecgcwt.data.records import UnusableRecord
from ecgcwt.data.segmentation import DatabaseSource, SegmentSpec, segment_databases
from ecgcwt.errors import RecordError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the fixture module
from fixtures_physionet import require_shared_physionet  # noqa: E402

SPEC = SegmentSpec(fs=128, window=512, hop=512, max_per_recording=2, max_duration_s=20)
RECORDS = {"mitdb": "100", "chfdb": "chf02", "nsrdb": "16483"}
LABELS = {"mitdb": "ARR", "chfdb": "CHF", "nsrdb": "NSR"}


@pytest.fixture
def archive(tmp_path) -> Path:
    """A shared archive outside the data folder: plain copies of the real records."""
    physionet = require_shared_physionet()
    root = tmp_path / "archive"
    for db, name in RECORDS.items():
        (root / db).mkdir(parents=True)
        for ext in (".hea", ".dat"):
            shutil.copy(physionet / db / f"{name}{ext}", root / db / f"{name}{ext}")
        (root / db / "RECORDS").write_text(f"{name}\n")
    return root


@pytest.fixture
def linked(tmp_path, archive) -> Path:
    """data.path: mitdb is a link to the archive's folder, chfdb a folder of linked files, nsrdb plain copies."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "mitdb").symlink_to(archive / "mitdb", target_is_directory=True)
    (root / "chfdb").mkdir()
    for f in ("chf02.hea", "chf02.dat", "RECORDS"):
        (root / "chfdb" / f).symlink_to(archive / "chfdb" / f)
    shutil.copytree(archive / "nsrdb", root / "nsrdb")
    return root


def sources(root: Path) -> list[DatabaseSource]:
    return [DatabaseSource(db, root / db, LABELS[db]) for db in RECORDS]


def written_qc(qc: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The QC table as the segment step writes segments_qc.csv, read back as a user would."""
    write_csv(qc, path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_links_are_followed_and_their_targets_recorded(tmp_path, archive, linked):
    signals, table, qc, _ = segment_databases(sources(linked), SPEC)
    plain_signals, plain_table, _, _ = segment_databases(sources(archive), SPEC)
    assert np.array_equal(signals, plain_signals)  # the same windows, bit for bit
    assert table.equals(plain_table)
    qc = written_qc(qc, tmp_path / "segments_qc.csv")
    assert qc.columns[-1] == "link_target"
    target = dict(zip(qc["db"], qc["link_target"]))
    real = Path(os.path.realpath(archive))
    assert target["mitdb"] == f"{real}/mitdb/100.hea;{real}/mitdb/100.dat"  # through the linked folder
    assert target["chfdb"] == f"{real}/chfdb/chf02.hea;{real}/chfdb/chf02.dat"  # linked files
    assert target["nsrdb"] == ""  # plain files
    assert (qc["status"] == "ok").all()


def test_a_broken_link_is_named_with_its_target(tmp_path, archive, linked):
    gone = tmp_path / "gone" / "16483.dat"
    dat = linked / "nsrdb" / "16483.dat"
    dat.unlink()
    dat.symlink_to(gone)
    expected = (
        f"signal file {dat} (named in {linked / 'nsrdb' / '16483.hea'}) cannot be read: {dat} is a link to "
        f"{gone}, which does not exist (a broken link)."
    )
    with pytest.raises(UnusableRecord) as info:
        segment_databases(sources(linked), SPEC, data_source="local")
    assert str(info.value).startswith(expected), str(info.value)
    # skipped: the reason names the link and its target, link_target the missing file
    sources_ = sources(linked) + [DatabaseSource("nsr2", archive / "nsrdb", "NSR")]
    _, table, qc, _ = segment_databases(sources_, SPEC, on_bad_record="skip", data_source="local")
    qc = written_qc(qc, tmp_path / "segments_qc.csv")
    skipped = qc[qc["status"] == "skipped"]
    assert skipped["db"].tolist() == ["nsrdb"] and skipped["reason"].iloc[0] == expected
    assert skipped["link_target"].iloc[0] == str(gone)
    # a linked header whose target is gone
    hea = linked / "chfdb" / "chf02.hea"
    (archive / "chfdb" / "chf02.hea").unlink()
    with pytest.raises(UnusableRecord, match=f"header file {hea} cannot be read: {hea} is a link to "):
        segment_databases(sources(linked), SPEC, data_source="local")


def test_a_broken_database_folder_link_is_named_by_the_config_check_and_the_reader(tmp_path, archive, linked, capsys):
    shutil.rmtree(archive / "mitdb")
    cfg = tmp_path / "local.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"source": "local", "path": str(linked)}}))
    assert cli_main(["config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"ecgcwt config: error: data.path {linked}: {linked / 'mitdb'} is a link to {archive / 'mitdb'}, which "
        "does not exist (a broken link). Fix the link(s) or point data.path elsewhere."
    ]
    with pytest.raises(RecordError, match=f"{linked / 'mitdb'} is a link to {archive / 'mitdb'}, which does not"):
        segment_databases(sources(linked), SPEC, data_source="local")
