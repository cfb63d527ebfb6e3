"""data.source mathworks: MathWorks' ECGData.mat layout read, checked, and written as WFDB records."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from ecgcwt.config import default_config, describe_data_source
from ecgcwt.data import (
    MATHWORKS_RECORDS,
    DatabaseSource,
    SegmentSpec,
    read_ecgdata,
    read_record,
    resample,
    row_records,
    segment_databases,
    write_mathworks_database,
)
from ecgcwt.errors import ConfigError

from ..conftest import require_mathworks, require_physionet

DATABASES = default_config()["data"]["databases"]
SUBJECT_MAP = default_config()["data"]["subject_map"]


def write_mat(path, data, labels):
    labels_cell = np.empty((len(labels), 1), dtype=object)
    for i, lab in enumerate(labels):
        labels_cell[i, 0] = np.array([lab])
    scipy.io.savemat(str(path), {"ECGData": {"Data": np.asarray(data, float), "Labels": labels_cell}})
    return path


def mathworks_like(path, samples=1024, seed=0):
    """A file with the rows of MathWorks' 162 (96 ARR, 30 CHF, 36 NSR) and each record's two leads alike."""
    rng = np.random.default_rng(seed)
    labels = ["ARR"] * 96 + ["CHF"] * 30 + ["NSR"] * 36
    t = np.arange(samples) / 128.0
    rows = []
    for pair in range(81):
        base = np.sin(2 * np.pi * (0.8 + pair / 100) * t) + 0.05 * rng.standard_normal(samples)
        rows += [base, 0.7 * base]
    return write_mat(path, np.array(rows), labels)


def test_the_six_row_file_reads_and_its_pairs_become_two_lead_records(tmp_path):
    path = require_mathworks()
    data, labels = read_ecgdata(path)
    assert data.shape == (6, 32768) and labels == ["ARR", "ARR", "CHF", "CHF", "NSR", "NSR"]
    # not MathWorks' 162 rows: names by label and pair number
    assert row_records(labels, DATABASES) == [
        ("mitdb", "ARR01"),
        ("mitdb", "ARR01"),
        ("chfdb", "CHF01"),
        ("chfdb", "CHF01"),
        ("nsrdb", "NSR01"),
        ("nsrdb", "NSR01"),
    ]
    listed = ["mitdb/100", "chfdb/chf02", "nsrdb/16483"]
    for db, name in (("mitdb", "100"), ("chfdb", "chf02"), ("nsrdb", "16483")):
        assert write_mathworks_database(path, db, tmp_path / db, DATABASES, records=listed) == [name]
        assert (tmp_path / db / "RECORDS").read_text() == f"{name}\n"
        rec = read_record(tmp_path / db, name, data_source="mathworks")
        assert rec.fs == 128 and rec.units == ["mV", "mV"] and rec.signal.shape == (32768, 2)
        rows = {"mitdb": [0, 1], "chfdb": [2, 3], "nsrdb": [4, 5]}[db]
        # 16-bit samples at 1 uV steps: the rows come back to within half a microvolt
        assert np.abs(rec.signal - data[rows].T).max() <= 0.0005 + 1e-9


def test_the_rows_are_the_physionet_record_resampled(tmp_path):
    # the six-row file's first pair is mitdb 100 (MLII, V5) at 128 Hz: our own resampling of the real record agrees
    path, physionet = require_mathworks(), require_physionet()
    write_mathworks_database(path, "mitdb", tmp_path / "mitdb", DATABASES, records=["mitdb/100", "chfdb/x", "nsrdb/y"])
    ours = read_record(tmp_path / "mitdb", "100", data_source="mathworks").signal
    real = read_record(physionet / "mitdb", "100", max_duration_s=256)
    theirs = resample(real.signal, real.fs, 128.0)[: ours.shape[0]]
    for lead in range(2):
        a, b = ours[1000:-1000, lead], theirs[1000:-1000, lead]
        assert np.corrcoef(a, b)[0, 1] > 0.99
        assert abs(a.std() / b.std() - 1) < 0.05  # millivolts both


def test_mathworks_162_rows_get_mathworks_record_names_and_the_subject_map(tmp_path):
    path = mathworks_like(tmp_path / "ECGData.mat")
    _, labels = read_ecgdata(path)
    names = row_records(labels, DATABASES)
    assert names[0] == names[1] == ("mitdb", "100")
    assert names[48] == names[49] == ("mitdb", "201") and names[50] == names[51] == ("mitdb", "202")
    assert names[96] == ("chfdb", "chf01") and names[125] == ("chfdb", "chf15")
    assert names[126] == ("nsrdb", "16265") and names[161] == ("nsrdb", "19830")
    assert len({n for n in names}) == 81 == sum(len(v) for v in MATHWORKS_RECORDS.values())
    for db in DATABASES:
        write_mathworks_database(path, db, tmp_path / "out" / db, DATABASES)
    sources = [DatabaseSource(db, tmp_path / "out" / db, spec["label"]) for db, spec in DATABASES.items()]
    spec = SegmentSpec(window=256, hop=256, max_per_recording=1, max_duration_s=None)
    _, table, _, classes = segment_databases(sources, spec, SUBJECT_MAP, data_source="mathworks")
    assert classes == ["ARR", "CHF", "NSR"]
    # 81 records, two leads each, 80 subjects: mitdb 201 and 202 are one person
    assert table["recording"].nunique() == 162 and table["subject"].nunique() == 80
    assert set(table.loc[table["record"].isin(["201", "202"]), "subject"]) == {"mitdb/201"}


def test_records_may_be_listed_per_row_pair_or_per_row(tmp_path):
    path = write_mat(tmp_path / "f.mat", np.ones((8, 300)), ["ARR"] * 4 + ["CHF"] * 2 + ["NSR"] * 2)
    _, labels = read_ecgdata(path)
    pairs = ["mitdb/201", "mitdb/202", "chfdb/chf03", "nsrdb/16265"]
    assert [n for n, _ in zip(row_records(labels, DATABASES, pairs), range(8))][::2] == [
        ("mitdb", "201"),
        ("mitdb", "202"),
        ("chfdb", "chf03"),
        ("nsrdb", "16265"),
    ]
    per_row = ["mitdb/201", "mitdb/202", "mitdb/201", "mitdb/202", "chfdb/a", "chfdb/a", "nsrdb/b", "nsrdb/b"]
    names = row_records(labels, DATABASES, per_row)
    assert names[0] == names[2] == ("mitdb", "201")
    assert write_mathworks_database(path, "mitdb", tmp_path / "mitdb", DATABASES, records=per_row) == ["201", "202"]
    assert read_record(tmp_path / "mitdb", "202", data_source="mathworks").signal.shape == (300, 2)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "does not exist"),
        ("not_mat", "cannot be read as a MATLAB .mat file"),
        ("no_struct", "has no variable ECGData (it has: ['other'])"),
        ("no_labels", "fields Data and Labels"),
        ("odd", "even number of rows (two per record, one per lead); ARR has 3"),
        ("mixed", "ECGData.mat: rows [(3, 4), (5, 6)] (1-based) pair two labels"),
        ("unknown_label", "rows labelled ['AFIB']"),
        ("missing_class", "has no rows labelled ['NSR']"),
        ("mismatch", "one label per row"),
        ("nan", "missing or infinite samples in rows [2]"),
        ("records_count", "lists 2 records, but the file has 6 rows (3 row pairs)"),
        ("records_db", "row 3 (1-based) is labelled CHF, whose database is chfdb, but it is listed as nsrdb/x"),
        ("records_name", "write '{db}/{record}'"),
    ],
)
def test_a_file_that_is_not_this_layout_is_refused_naming_what_is_wrong(tmp_path, case, expected):
    f = tmp_path / "ECGData.mat"
    ok_labels = ["ARR", "ARR", "CHF", "CHF", "NSR", "NSR"]
    records = None
    data = np.zeros((6, 200))
    labels = ok_labels
    if case == "missing":
        f = tmp_path / "nope.mat"
    elif case == "not_mat":
        f.write_text("not a MATLAB file\n")
    elif case == "no_struct":
        scipy.io.savemat(str(f), {"other": np.zeros(3)})
    elif case == "no_labels":
        scipy.io.savemat(str(f), {"ECGData": {"Data": np.zeros((2, 10))}})
    else:
        if case == "odd":
            labels = ["ARR"] * 3 + ["CHF", "NSR", "NSR"]
        elif case == "mixed":
            labels = ["ARR", "ARR", "CHF", "NSR", "CHF", "NSR"]
        elif case == "unknown_label":
            labels = ["ARR", "ARR", "AFIB", "AFIB", "NSR", "NSR"]
        elif case == "missing_class":
            labels = ["ARR", "ARR", "CHF", "CHF", "ARR", "ARR"]
        elif case == "mismatch":
            data = np.zeros((4, 200))
        elif case == "nan":
            data[1, 5] = np.nan
        elif case == "records_count":
            records = ["mitdb/100", "chfdb/chf01"]
        elif case == "records_db":
            records = ["mitdb/100", "nsrdb/x", "nsrdb/16483"]
        elif case == "records_name":
            records = ["mitdb/100", "chfdb/../x", "nsrdb/16483"]
        write_mat(f, data, labels)
    with pytest.raises(ConfigError) as err:
        write_mathworks_database(f, "mitdb", tmp_path / "out", DATABASES, records=records)
    assert expected in str(err.value)
    assert not (tmp_path / "out" / "RECORDS").exists()


def test_provenance_says_it_is_mathworks_resampled_copy():
    config = default_config()
    config["data"].update(source="mathworks", path="/data/ECGData.mat")
    text = describe_data_source(config)
    assert text.startswith("MathWorks' ECGData.mat at /data/ECGData.mat: MathWorks' resampled copy")
    assert "128 Hz, millivolts" in text and "mitdb (ARR)" in text


def pieces_file(path, swap=False):
    """The six-row file with each record cut into two 128-s pieces (12 rows, two records per class); ``swap``
    exchanges the second leads of mitdb 100's two pieces, so that rows 2 and 4 (1-based) sit in the wrong pairs."""
    data, labels = read_ecgdata(require_mathworks())
    rows, out_labels = [], []
    for pair in range(0, 6, 2):
        for piece in range(2):
            cut = slice(piece * 16384, (piece + 1) * 16384)
            rows += [data[pair, cut], data[pair + 1, cut]]
            out_labels += [labels[pair]] * 2
    if swap:
        rows[1], rows[3] = rows[3], rows[1]
    return write_mat(path, np.array(rows), out_labels)


def test_a_records_two_rows_must_beat_together(tmp_path, caplog):
    from ecgcwt.data.mathworks import check_lead_pairs

    # the real pairs: every record's two leads beat together, no warning
    data, labels = read_ecgdata(require_mathworks())
    assert check_lead_pairs(data, row_records(labels, DATABASES), 128.0) == []
    good = pieces_file(tmp_path / "good.mat")
    assert write_mathworks_database(good, "mitdb", tmp_path / "good", DATABASES) == ["ARR01", "ARR02"]
    # rows paired wrongly: refused, naming the rows and the row they do beat with
    bad = pieces_file(tmp_path / "bad.mat", swap=True)
    with pytest.raises(ConfigError) as err:
        write_mathworks_database(bad, "mitdb", tmp_path / "bad", DATABASES)
    msg = str(err.value)
    assert "rows 1 and 2 (1-based), named mitdb/ARR01, beat together weakly" in msg
    assert "but row 1 beats with row 4" in msg and "data.mathworks.records" in msg and "pair_check: warn" in msg
    assert not (tmp_path / "bad" / "RECORDS").exists()
    # warn: logged, and the rows are converted as asked
    with caplog.at_level("WARNING"):
        assert write_mathworks_database(bad, "mitdb", tmp_path / "warn", DATABASES, pair_check="warn") == [
            "ARR01",
            "ARR02",
        ]
    assert "may not be one record's two leads" in caplog.text
    # none: no check at all
    caplog.clear()
    assert write_mathworks_database(bad, "mitdb", tmp_path / "none", DATABASES, pair_check="none") == ["ARR01", "ARR02"]
    assert "may not be" not in caplog.text
    # each row given its record: the pairs the file really holds, no complaint
    per_row = ["mitdb/a", "mitdb/b", "mitdb/b", "mitdb/a", *[f"chfdb/c{i // 2}" for i in range(4)]]
    per_row += [f"nsrdb/n{i // 2}" for i in range(4)]
    assert write_mathworks_database(bad, "mitdb", tmp_path / "listed", DATABASES, records=per_row) == ["a", "b"]
