"""Broken records and record names: what a user sees, under data.on_bad_record fail and skip.

Every broken case is made from a local copy of REAL PhysioNet records (mitdb 100
and 101, chfdb chf02, nsrdb 16483, from ../shared), one of them damaged; the
records that are not damaged must come through unchanged.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb

from ecgcwt.data.records import check_record_name, read_record, read_record_list
from ecgcwt.data.segmentation import DatabaseSource, SegmentSpec, segment_databases
from ecgcwt.errors import DataError, DownloadError, RecordError
from ecgcwt.evaluate.report_steps import build_report

from ..conftest import require_physionet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the fixture module
from fixtures_physionet import VERSION, physionet_mirror  # noqa: E402,F401

from ecgcwt.data.download import download_database  # noqa: E402

#: Small windows and the first 20 s only: every test here runs in well under a second.
SPEC = SegmentSpec(fs=128, window=512, hop=512, max_per_recording=2, max_duration_s=20)
LOCAL = {"mitdb": ["100", "101"], "chfdb": ["chf02"], "nsrdb": ["16483"]}
LABELS = {"mitdb": "ARR", "chfdb": "CHF", "nsrdb": "NSR"}


@pytest.fixture
def local(tmp_path) -> Path:
    """A data.path folder: copies of four real records, one class per database."""
    physionet = require_physionet()
    root = tmp_path / "data"
    for db, names in LOCAL.items():
        (root / db).mkdir(parents=True)
        for name in names:
            for ext in (".hea", ".dat"):
                shutil.copy(physionet / db / f"{name}{ext}", root / db / f"{name}{ext}")
        (root / db / "RECORDS").write_text("".join(f"{n}\n" for n in names))
    return root


def sources(root: Path, records: dict | None = None) -> list[DatabaseSource]:
    return [DatabaseSource(db, root / db, LABELS[db], (records or {}).get(db)) for db in LOCAL]


def _write_one_lead(folder: Path, name: str, sig: np.ndarray, fs=128) -> None:
    wfdb.wrsamp(
        name,
        fs=fs,
        units=["mV"],
        sig_name=["I"],
        p_signal=sig[:, None],
        fmt=["16"],
        adc_gain=[200.0],
        baseline=[0],
        write_dir=str(folder),
    )
    with open(folder / "RECORDS", "a") as fh:
        fh.write(f"{name}\n")


def delete_dat(db: Path) -> tuple[str, str]:
    (db / "101.dat").unlink()
    return "101", r"signal file \S*mitdb/101\.dat \(named in \S*mitdb/101\.hea\) not found"


def truncate_dat(db: Path) -> tuple[str, str]:
    dat = db / "101.dat"
    dat.write_bytes(dat.read_bytes()[:1000])
    return "101", r"signal file \S*mitdb/101\.dat is truncated: 1000 bytes"


def garbage_hea(db: Path) -> tuple[str, str]:
    (db / "101.hea").write_bytes(b"\x00\xffthis is not a header\n")
    return "101", r"cannot parse header \S*mitdb/101\.hea"


def empty_hea(db: Path) -> tuple[str, str]:
    (db / "101.hea").write_bytes(b"")
    return "101", r"cannot parse header \S*mitdb/101\.hea"


def entry_without_files(db: Path) -> tuple[str, str]:
    with open(db / "RECORDS", "a") as fh:
        fh.write("107\n")
    return "107", r"header file \S*mitdb/107\.hea not found \(record '107' is listed in \S*mitdb/RECORDS\)"


def shorter_than_a_window(db: Path) -> tuple[str, str]:
    _write_one_lead(db, "short", np.sin(np.arange(300) / 5.0))  # 300 samples < one window of 512
    return "short", r"record \S*mitdb/short lead 0 has 300 samples at 128 Hz .* shorter than one window of 512"


def all_nan(db: Path) -> tuple[str, str]:
    _write_one_lead(db, "nanrec", np.full(128 * 20, np.nan))
    return "nanrec", r"no usable window: every window failed the quality checks \(lead 0: 5 windows, dropped nan 5\)"


def flat(db: Path) -> tuple[str, str]:
    _write_one_lead(db, "flatrec", np.full(128 * 20, 0.25))
    return "flatrec", r"no usable window: every window failed the quality checks \(lead 0: 5 windows, dropped flat 5\)"


DAMAGE = [delete_dat, truncate_dat, garbage_hea, empty_hea, entry_without_files, shorter_than_a_window, all_nan, flat]
FILE_DAMAGE = [delete_dat, truncate_dat, garbage_hea, entry_without_files]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__)
def test_fail_names_the_file_and_gives_local_advice(local, damage):
    name, problem = damage(local / "mitdb")
    with pytest.raises(RecordError, match=problem) as info:
        segment_databases(sources(local), SPEC, data_source="local")
    message = str(info.value)
    assert "data.on_bad_record: skip" in message
    assert "download" not in message.lower() and "forcerun" not in message
    if damage in FILE_DAMAGE:
        assert f"Fix or remove record '{name}' in {local / 'mitdb'} (data.path)" in message
        assert "data.records" in message


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__)
def test_skip_segments_the_other_records_and_reports_the_reason(local, damage, caplog):
    name, problem = damage(local / "mitdb")
    signals, table, qc, classes = segment_databases(sources(local), SPEC, on_bad_record="skip", data_source="local")
    assert classes == ["ARR", "CHF", "NSR"]
    # the good records are all there, exactly as when data.records lists only them
    good = [n for n in (local / "mitdb" / "RECORDS").read_text().split() if n != name]
    assert sorted(table["subject"].unique()) == ["chfdb/chf02", *(f"mitdb/{n}" for n in good), "nsrdb/16483"]
    assert len(table) == len(signals) == (len(good) + 2) * 2 * 2
    clean_signals, clean_table, _, _ = segment_databases(sources(local, {"mitdb": good}), SPEC)
    pd.testing.assert_frame_equal(table, clean_table)
    np.testing.assert_array_equal(signals, clean_signals)
    skipped = qc[qc["status"] == "skipped"]
    assert set(zip(skipped["db"], skipped["record"])) == {("mitdb", name)}
    assert skipped["reason"].str.contains(problem).all()
    assert skipped["reason"].str.contains("data.on_bad_record").sum() == 0  # the reason, not the advice
    assert (qc.loc[qc["status"] == "ok", "kept"] == 2).all() and len(qc[qc["status"] == "ok"]) == len(table) // 2
    assert any(f"skipped record mitdb/{name}" in r.getMessage() for r in caplog.records)


def test_skipped_rows_keep_the_per_recording_columns(local, tmp_path):
    shorter_than_a_window(local / "mitdb")
    delete_dat(local / "mitdb")
    _, _, qc, _ = segment_databases(sources(local), SPEC, on_bad_record="skip", data_source="local")
    path = tmp_path / "qc.csv"
    qc.to_csv(path, index=False)
    text = path.read_text()
    assert text.startswith(
        "db,record,lead,recording,subject,label,seconds,windows,dropped_nan,dropped_flat,"
        "dropped_clipped,dropped_artefact,kept,status,reason,link_target\n"
    )
    back = pd.read_csv(path, dtype={"record": str})
    short = back[back["record"] == "short"].iloc[0]
    assert (short["lead"], short["windows"], short["status"]) == (0, 0, "skipped")  # read, then found too short
    gone = back[back["record"] == "101"].iloc[0]
    assert gone["status"] == "skipped" and pd.isna(gone["lead"]) and "101.dat" in gone["reason"]
    assert ",0.0," not in text.split("\n", 2)[1]  # integer counts stay integers beside the empty cells


def test_a_class_left_without_records_is_an_error_naming_it(local):
    (local / "chfdb" / "chf02.dat").unlink()  # the only CHF record
    with pytest.raises(DataError, match=r"no usable window left for class\(es\) \['CHF'\]") as info:
        segment_databases(sources(local), SPEC, on_bad_record="skip", data_source="local")
    assert "chfdb/chf02 (CHF): signal file" in str(info.value) and "chf02.dat" in str(info.value)
    with pytest.raises(RecordError, match=r"chfdb/chf02\.dat \(named in .*\) not found"):
        segment_databases(sources(local), SPEC, data_source="local")


def test_a_class_whose_records_have_no_usable_window(local):
    # all NaN: read fine, every window dropped; the class is empty under either setting
    (local / "chfdb" / "RECORDS").write_text("")
    all_nan(local / "chfdb")
    for mode in ("fail", "skip"):
        with pytest.raises(
            DataError,
            match=r"class\(es\) \['CHF'\]: every record of the class is .*\n"
            r"  chfdb/nanrec \(CHF\): no usable window",
        ):
            segment_databases(sources(local), SPEC, on_bad_record=mode, data_source="local")


@pytest.mark.parametrize(
    "data_source, advice",
    [
        (
            "physionet",
            r"Delete the folder's RECORDS file \(\S*chfdb/RECORDS\) and rerun the workflow, or run "
            r"`snakemake --forcerun download_physionet`",
        ),
        ("synthetic", r"rerun `snakemake --forcerun synthetic_database`"),
        ("local", r"Fix or remove record 'chf02' in \S*chfdb \(data.path\)"),
    ],
)
def test_advice_fits_the_source(local, data_source, advice):
    (local / "chfdb" / "chf02.dat").unlink()
    with pytest.raises(RecordError, match=advice):
        read_record(local / "chfdb", "chf02", data_source=data_source)
    with pytest.raises(RecordError, match=advice):
        segment_databases(sources(local), SPEC, data_source=data_source)


def test_config_record_without_files_names_the_config_key(local):
    with pytest.raises(
        RecordError,
        match=r"mitdb/999\.hea not found \(record '999' is listed in config "
        r"data.records.mitdb\)",
    ):
        segment_databases(sources(local, {"mitdb": ["100", "999"]}), SPEC, data_source="local")


BAD_NAMES = ["/abs/path", "../x", "a/../b", "a\\b", "a//b", "./a", "a/", "x y", "x;rm"]


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("mode", ["fail", "skip"])
def test_bad_name_in_records_is_refused_naming_file_and_entry(local, name, mode):
    (local / "mitdb" / "RECORDS").write_text(f"100\n{name}\n101\n")
    where = rf"{local / 'mitdb' / 'RECORDS'} \(line 2\)"
    with pytest.raises(
        RecordError,
        match=rf"invalid record name {re.escape(repr(name))} "
        rf"in {where}: .*Rule: a record name is a plain name",
    ):
        segment_databases(sources(local), SPEC, on_bad_record=mode, data_source="local")
    with pytest.raises(RecordError, match="no absolute path, no '..'"):
        read_record_list(local / "mitdb")


@pytest.mark.parametrize("name", ["", *BAD_NAMES])
@pytest.mark.parametrize("mode", ["fail", "skip"])
def test_bad_name_in_config_records_is_refused_naming_the_key(local, name, mode):
    with pytest.raises(RecordError) as info:
        segment_databases(sources(local, {"mitdb": ["100", name]}), SPEC, on_bad_record=mode, data_source="local")
    assert f"invalid record name {name!r} in config data.records.mitdb" in str(info.value)


def test_the_reader_never_leaves_the_folder(local, tmp_path):
    # a real record outside data.path, reachable by an absolute name or by '..': refused, never read
    outside = tmp_path / "outside"
    outside.mkdir()
    for ext in (".hea", ".dat"):
        shutil.copy(local / "mitdb" / f"100{ext}", outside / f"100{ext}")
    for name in (str(outside / "100"), "../../outside/100"):
        (local / "mitdb" / "RECORDS").write_text(f"100\n{name}\n")
        with pytest.raises(RecordError, match="invalid record name"):
            segment_databases(sources(local), SPEC, on_bad_record="skip", data_source="local")
        with pytest.raises(RecordError, match="invalid record name"):
            read_record(local / "mitdb", name)


def test_names_in_subfolders_are_read(local):
    # PhysioNet's layout for large databases: RECORDS lists p00/p000123; the header names its .dat beside it
    sub = local / "mitdb" / "p00"
    sub.mkdir()
    for ext in (".hea", ".dat"):
        shutil.move(local / "mitdb" / f"101{ext}", sub / f"101{ext}")
    (local / "mitdb" / "RECORDS").write_text("100\np00/101\n")
    assert read_record_list(local / "mitdb") == ["100", "p00/101"]
    _, table, _, _ = segment_databases(sources(local), SPEC, data_source="local")
    assert "mitdb/p00/101" in set(table["subject"])


@pytest.mark.parametrize("name", ["100", "p00/p000123", "chf02", "a.b-c_d"])
def test_good_names_pass(name):
    assert check_record_name(name, "here") == name


def test_downloader_refuses_bad_names_in_config_before_any_request(tmp_path):
    for name in ["../x", "/abs/path", "a\\b", ""]:
        with pytest.raises(DownloadError, match=r"invalid record name .* in data.records.mitdb \(config.yaml\)"):
            download_database(
                "mitdb",
                VERSION,
                tmp_path / "m",
                records=["100", name],
                index_url="http://127.0.0.1:9/",
                log=lambda line: None,
            )


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a//b", "a\\b"])
def test_downloader_refuses_bad_names_in_the_server_listing(physionet_mirror, tmp_path, name):  # noqa: F811
    physionet_mirror.path("mitdb", "RECORDS").write_text(f"100\n{name}\n")
    with pytest.raises(DownloadError) as info:
        download_database(
            "mitdb", VERSION, tmp_path / "m", index_url=physionet_mirror.url, backoff_s=0, log=lambda line: None
        )
    assert f"invalid record name {name!r} in {physionet_mirror.url}mitdb/1.0.0/RECORDS" in str(info.value)
    assert physionet_mirror.hits(".hea") == [] and not (tmp_path / "m" / "RECORDS").exists()


def test_report_lists_skipped_records(tmp_path):
    from ecgcwt.evaluate.report import ModelRuns

    from .test_report import CLASSES, write_fold_predictions

    preds = []
    for fold in range(3):
        p = tmp_path / f"p{fold}.csv"
        write_fold_predictions(p, fold)
        preds.append((fold, p))
    models = [ModelRuns(name="resnet18", kind="cnn2d", predictions=preds)]
    qc = pd.DataFrame(
        {
            "db": ["mitdb", "mitdb", "mitdb"],
            "record": ["100", "101", "101"],
            "lead": [0, 0, 1],
            "kept": [10, 0, 0],
            "label": ["ARR"] * 3,
            "status": ["ok", "skipped", "skipped"],
            "reason": [
                "",
                "signal file /data/mitdb/101.dat is truncated: 1000 bytes",
                "signal file /data/mitdb/101.dat is truncated: 1000 bytes",
            ],
        }
    )
    qc_path = tmp_path / "segments_qc.csv"
    qc.to_csv(qc_path, index=False)
    build_report(models, tmp_path / "with", classes=CLASSES, n_boot=20, segments_qc=qc_path)
    md = (tmp_path / "with" / "report.md").read_text()
    assert "## Skipped records" in md and "1 record(s) could not be used" in md
    assert "| mitdb | 101 | ARR | signal file /data/mitdb/101.dat is truncated: 1000 bytes |" in md
    # said before any result, and listed in its own section
    assert md.index("1 record(s) could not be used and are left out of every result") < md.index("## Main table")
    page = (tmp_path / "with" / "report.html").read_text()
    assert '<h2 id="skipped-records">Skipped records</h2>' in page and "101.dat is truncated" in page
    # nothing skipped (or an older QC table without a status column): no section
    build_report(
        models,
        tmp_path / "without",
        classes=CLASSES,
        n_boot=20,
        segments_qc=qc.assign(status="ok").drop(columns="status"),
    )
    assert "Skipped records" not in (tmp_path / "without" / "report.md").read_text()
