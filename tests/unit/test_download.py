"""Offline tests of ecgcwt.data.download against a local PhysioNet mirror.

The mirror (tests/fixtures_physionet.py) serves REAL PhysioNet records (mitdb
100 and 101, chfdb chf02, nsrdb 16483, copied at test time from
../shared/data/physionet) in PhysioNet's URL layout with a correct
SHA256SUMS.txt and HTTP Range support. Expected values are never hard-coded
golden numbers: every downloaded record is compared with ``wfdb.rdrecord`` of
the same original file read locally (``sampto`` = the number of samples the
download should keep), and full-length files byte-for-byte with the originals.
"""

from __future__ import annotations

import json
import math
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import wfdb
from wfdb.io import download as wfdb_download

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the fixture module
from fixtures_physionet import SHARED_PHYSIONET, VERSION, physionet_mirror, write_sha256sums  # noqa: E402,F401

from ecgcwt.data.download import ENV_INDEX_URL, MANIFEST_NAME, download_database, partial_download_path  # noqa: E402
from ecgcwt.errors import DownloadError  # noqa: E402


class LogSpy(list):
    """A ``log`` callback that keeps the lines."""

    def __call__(self, line: str) -> None:
        self.append(line)


def fetch(mirror, db, dest, **kwargs):
    kwargs.setdefault("backoff_s", 0)
    kwargs.setdefault("log", LogSpy())
    return download_database(db, VERSION, dest, index_url=mirror.url, **kwargs)


def original(db: str, name: str, sampto=None) -> wfdb.Record:
    return wfdb.rdrecord(str(SHARED_PHYSIONET / db / name), sampto=sampto)


def assert_same_signal(path: Path, db: str, name: str, n_samples: int) -> None:
    got = wfdb.rdrecord(str(path))
    want = original(db, name, sampto=n_samples)
    assert got.fmt == ["16"] * want.n_sig
    assert got.sig_len == n_samples
    assert got.fs == want.fs and got.sig_name == want.sig_name and got.units == want.units
    assert got.adc_gain == want.adc_gain and got.baseline == want.baseline
    np.testing.assert_array_equal(got.p_signal, want.p_signal)  # exact, not approximate
    assert (path.parent / f"{name}.dat").stat().st_size == n_samples * want.n_sig * 2


def test_first_samples_equal_the_original_exactly(physionet_mirror, tmp_path):
    dest = tmp_path / "mitdb"
    log = LogSpy()
    summary = fetch(physionet_mirror, "mitdb", dest, max_duration_s=512, log=log)

    n = 512 * 360  # mitdb is 360 Hz
    for name in ("100", "101"):
        assert_same_signal(dest / name, "mitdb", name, n)
        # Only the needed byte range of the format-212 .dat was requested, not the whole file.
        dat_hits = physionet_mirror.hits(f"/mitdb/{VERSION}/{name}.dat")
        assert [h.range for h in dat_hits] == [f"bytes=0-{n * 2 * 3 // 2 - 1}"]
        assert sum(h.body_bytes for h in dat_hits) < (SHARED_PHYSIONET / "mitdb" / f"{name}.dat").stat().st_size
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        ["100.hea", "100.dat", "101.hea", "101.dat", "RECORDS", MANIFEST_NAME]
    )
    assert (dest / "RECORDS").read_text() == "100\n101\n"
    # RECORDS is written after every record file.
    records_mtime = (dest / "RECORDS").stat().st_mtime_ns
    assert all(p.stat().st_mtime_ns <= records_mtime for p in dest.glob("10?.*"))
    assert summary.records == ["100", "101"] and summary.fetched == ["100", "101"]
    assert summary.skipped == [] and summary.db == "mitdb" and summary.version == VERSION
    assert summary.bytes == sum(p.stat().st_size for p in dest.glob("10?.*"))
    assert any("mitdb/100" in line for line in log)


def test_records_shorter_than_max_duration_keep_their_full_length(physionet_mirror, tmp_path):
    # chf02 here is 65,536 samples at 250 Hz (262 s) < 512 s; nsrdb 16483 is
    # 65,536 samples at 128 Hz, exactly the MathWorks design's 512 s.
    chf = fetch(physionet_mirror, "chfdb", tmp_path / "chfdb", max_duration_s=512)
    nsr = fetch(physionet_mirror, "nsrdb", tmp_path / "nsrdb", max_duration_s=512)
    assert chf.fetched == ["chf02"] and nsr.fetched == ["16483"]
    assert_same_signal(tmp_path / "chfdb" / "chf02", "chfdb", "chf02", 65536)
    assert_same_signal(tmp_path / "nsrdb" / "16483", "nsrdb", "16483", 65536)


def test_duration_rounds_up_to_whole_samples(physionet_mirror, tmp_path):
    fetch(physionet_mirror, "chfdb", tmp_path / "chfdb", max_duration_s=1.001)
    assert_same_signal(tmp_path / "chfdb" / "chf02", "chfdb", "chf02", math.ceil(1.001 * 250))


def test_explicit_records_are_written_in_physionet_order(physionet_mirror, tmp_path):
    summary = fetch(physionet_mirror, "mitdb", tmp_path / "m", records=["101", "100"], max_duration_s=2)
    assert summary.records == ["100", "101"]
    assert (tmp_path / "m" / "RECORDS").read_text() == "100\n101\n"


def test_subset_fetches_only_the_requested_records(physionet_mirror, tmp_path):
    fetch(physionet_mirror, "mitdb", tmp_path / "m", records=["101"], max_duration_s=2)
    assert physionet_mirror.hits("/100.hea") == [] and physionet_mirror.hits("/100.dat") == []
    assert (tmp_path / "m" / "RECORDS").read_text() == "101\n"


def test_resume_skips_complete_records(physionet_mirror, tmp_path):
    dest = tmp_path / "mitdb"
    fetch(physionet_mirror, "mitdb", dest, max_duration_s=30)
    physionet_mirror.clear()

    summary = fetch(physionet_mirror, "mitdb", dest, max_duration_s=30)

    assert summary.skipped == ["100", "101"] and summary.fetched == [] and summary.bytes == 0
    # Only the record list was asked for: no header, signal or checksum request.
    assert [r.path for r in physionet_mirror.requests] == [f"/files/mitdb/{VERSION}/RECORDS"]
    assert (dest / "RECORDS").read_text() == "100\n101\n"


@pytest.mark.parametrize(
    "damage",
    ["truncate_dat", "flip_byte", "delete_dat", "delete_header", "drop_manifest_entry"],
)
def test_damaged_local_record_is_fetched_again(physionet_mirror, tmp_path, damage):
    dest = tmp_path / "mitdb"
    fetch(physionet_mirror, "mitdb", dest, max_duration_s=30)
    dat = dest / "100.dat"
    if damage == "truncate_dat":
        dat.write_bytes(dat.read_bytes()[:1000])
    elif damage == "flip_byte":
        data = bytearray(dat.read_bytes())
        data[500] ^= 0xFF
        dat.write_bytes(bytes(data))
    elif damage == "delete_dat":
        dat.unlink()
    elif damage == "delete_header":
        (dest / "100.hea").unlink()
    else:
        manifest = json.loads((dest / MANIFEST_NAME).read_text())
        del manifest["records"]["100"]
        (dest / MANIFEST_NAME).write_text(json.dumps(manifest))
    physionet_mirror.clear()

    summary = fetch(physionet_mirror, "mitdb", dest, max_duration_s=30)

    assert summary.fetched == ["100"] and summary.skipped == ["101"]
    assert physionet_mirror.hits("/101.dat") == []
    assert_same_signal(dest / "100", "mitdb", "100", 30 * 360)


def test_changed_max_duration_fetches_again(physionet_mirror, tmp_path):
    dest = tmp_path / "chfdb"
    fetch(physionet_mirror, "chfdb", dest, max_duration_s=20)
    changed = fetch(physionet_mirror, "chfdb", dest, max_duration_s=10)
    same = fetch(physionet_mirror, "chfdb", dest, max_duration_s=10)
    assert changed.fetched == ["chf02"]
    assert same.skipped == ["chf02"]
    assert_same_signal(dest / "chf02", "chfdb", "chf02", 10 * 250)


def test_full_length_downloads_verified_original_files(physionet_mirror, tmp_path):
    dest = tmp_path / "mitdb"
    log = LogSpy()
    summary = fetch(physionet_mirror, "mitdb", dest, max_duration_s=None, annotations=True, log=log)

    assert summary.fetched == ["100", "101"]
    for name in ("100", "101"):
        for ext in (".hea", ".dat", ".atr"):
            assert (dest / f"{name}{ext}").read_bytes() == (SHARED_PHYSIONET / "mitdb" / f"{name}{ext}").read_bytes()
    assert not list(dest.glob(".*.part")) and not [p for p in dest.iterdir() if p.is_dir()]
    assert physionet_mirror.hits("/SHA256SUMS.txt")
    assert not any("WARNING" in line for line in log)
    # A resume after a full-length download skips everything; switching to a
    # partial download fetches again.
    assert fetch(physionet_mirror, "mitdb", dest, max_duration_s=None, annotations=True).skipped == ["100", "101"]
    assert fetch(physionet_mirror, "mitdb", dest, max_duration_s=5).fetched == ["100", "101"]
    assert not list(dest.glob("*.atr"))  # the truncated records no longer carry full-length annotations
    assert_same_signal(dest / "100", "mitdb", "100", 5 * 360)


def test_full_length_without_annotations_in_the_database(physionet_mirror, tmp_path):
    # chfdb's fixture record has no .atr (and SHA256SUMS.txt does not list one).
    summary = fetch(physionet_mirror, "chfdb", tmp_path / "c", max_duration_s=None, annotations=True)
    assert summary.fetched == ["chf02"]
    assert sorted(p.name for p in (tmp_path / "c").glob("chf02.*")) == ["chf02.dat", "chf02.hea"]


def test_tampered_served_file_fails_after_retries_naming_it(physionet_mirror, tmp_path):
    served = physionet_mirror.path("mitdb", "101.dat")
    data = bytearray(served.read_bytes())
    data[12345] ^= 0x01  # SHA256SUMS.txt still lists the true checksum
    served.write_bytes(bytes(data))
    dest = tmp_path / "mitdb"

    with pytest.raises(DownloadError) as info:
        fetch(physionet_mirror, "mitdb", dest, max_duration_s=None, retries=3)

    message = str(info.value)
    assert "101.dat" in message and "SHA256 mismatch" in message and "after 3 tries" in message
    assert len(physionet_mirror.hits("/101.dat")) == 3
    assert not (dest / "RECORDS").exists()
    assert not (dest / "101.dat").exists() and not partial_download_path(dest, "101.dat").exists()
    # The record completed before the failure is kept and skipped on the next run.
    served.write_bytes((SHARED_PHYSIONET / "mitdb" / "101.dat").read_bytes())
    assert fetch(physionet_mirror, "mitdb", dest, max_duration_s=None).skipped == ["100"]


def test_tampered_header_fails_in_partial_mode(physionet_mirror, tmp_path):
    # Headers are downloaded whole in both modes, so they are checked too.
    served = physionet_mirror.path("chfdb", "chf02.hea")
    served.write_text(served.read_text().replace("ECG2", "ECGX"))
    with pytest.raises(DownloadError, match=r"SHA256 mismatch for chf02\.hea"):
        fetch(physionet_mirror, "chfdb", tmp_path / "c", max_duration_s=10, retries=2)
    assert len(physionet_mirror.hits("/chf02.hea")) == 2


def test_missing_sha256sums_warns_and_continues(physionet_mirror, tmp_path):
    physionet_mirror.path("mitdb", "SHA256SUMS.txt").unlink()
    log = LogSpy()
    summary = fetch(
        physionet_mirror, "mitdb", tmp_path / "m", max_duration_s=None, annotations=True, log=log, verify="warn"
    )
    assert summary.fetched == ["100", "101"]
    assert any("WARNING" in line and "SHA256SUMS.txt" in line for line in log)
    assert len(physionet_mirror.hits("/SHA256SUMS.txt")) == 1  # a 404 is not retried
    assert (tmp_path / "m" / "100.atr").exists()


def test_interrupted_full_length_file_resumes_with_range(physionet_mirror, tmp_path):
    dest = tmp_path / "mitdb"
    dest.mkdir()
    full = (SHARED_PHYSIONET / "mitdb" / "100.dat").read_bytes()
    partial_download_path(dest, "100.dat").write_bytes(full[:700_000])  # left by a killed run

    fetch(physionet_mirror, "mitdb", dest, records=["100"], max_duration_s=None)

    assert [h.range for h in physionet_mirror.hits("/100.dat")] == ["bytes=700000-"]
    assert (dest / "100.dat").read_bytes() == full


def test_transient_server_errors_are_retried(physionet_mirror, tmp_path):
    physionet_mirror.fail("/100.dat", 503, 502)
    log = LogSpy()
    summary = fetch(physionet_mirror, "mitdb", tmp_path / "m", max_duration_s=5, retries=3, log=log)
    assert summary.fetched == ["100", "101"]
    assert len(physionet_mirror.hits("/100.dat")) == 3
    assert sum("retrying" in line for line in log) == 2
    assert_same_signal(tmp_path / "m" / "100", "mitdb", "100", 5 * 360)


def test_persistent_server_error_fails_after_retries(physionet_mirror, tmp_path):
    physionet_mirror.fail("/101.dat", always=503)
    dest = tmp_path / "m"
    with pytest.raises(DownloadError) as info:
        fetch(physionet_mirror, "mitdb", dest, max_duration_s=5, retries=3)
    message = str(info.value)
    assert "could not download mitdb/101" in message and "after 3 tries" in message
    assert "503" in message and "rerun the same command to resume" in message
    assert len(physionet_mirror.hits("/101.dat")) == 3
    assert not (dest / "RECORDS").exists()
    assert_same_signal(dest / "100", "mitdb", "100", 5 * 360)  # completed record kept


def test_missing_file_fails_at_once_with_a_clear_message(physionet_mirror, tmp_path):
    # A 404 cannot be fixed by asking again, so it is not retried.
    physionet_mirror.path("mitdb", "101.dat").unlink()
    with pytest.raises(DownloadError) as info:
        fetch(physionet_mirror, "mitdb", tmp_path / "m", max_duration_s=5, retries=3)
    message = str(info.value)
    assert "mitdb/101" in message and "404" in message and f"{physionet_mirror.url}mitdb/{VERSION}" in message
    assert len(physionet_mirror.hits("/101.dat")) == 1
    assert not (tmp_path / "m" / "RECORDS").exists()


def test_unknown_database_version(physionet_mirror, tmp_path):
    with pytest.raises(DownloadError) as info:
        download_database("mitdb", "9.9.9", tmp_path / "m", index_url=physionet_mirror.url, backoff_s=0, log=LogSpy())
    message = str(info.value)
    assert "mitdb/9.9.9/RECORDS does not exist" in message and "version" in message
    assert len(physionet_mirror.hits("/RECORDS")) == 1  # a 404 is not retried


def test_server_down_fails_after_retries(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = LogSpy()
    dest = tmp_path / "m"
    dest.mkdir()
    (dest / "RECORDS").write_text("stale\n")  # from an earlier run: must not survive a failure
    with pytest.raises(DownloadError) as info:
        download_database(
            "mitdb", VERSION, dest, index_url=f"http://127.0.0.1:{port}/files/", retries=2, backoff_s=0, log=log
        )
    message = str(info.value)
    assert "after 2 tries" in message and f"127.0.0.1:{port}" in message
    assert "Check your internet connection" in message
    assert sum("retrying" in line for line in log) == 1
    assert not (dest / "RECORDS").exists()


def test_stalled_server_times_out(physionet_mirror, tmp_path):
    physionet_mirror.stall("/100.dat", 1.5)
    log = LogSpy()
    with pytest.raises(DownloadError, match=r"after 2 tries: .*timed out"):
        fetch(physionet_mirror, "mitdb", tmp_path / "m", max_duration_s=5, retries=2, timeout_s=0.3, log=log)
    assert sum("retrying" in line for line in log) == 1


def test_unknown_record_name(physionet_mirror, tmp_path):
    with pytest.raises(DownloadError) as info:
        fetch(physionet_mirror, "mitdb", tmp_path / "m", records=["100", "999"])
    assert "999" in str(info.value) and "mitdb" in str(info.value)
    assert physionet_mirror.hits(".hea") == [] and physionet_mirror.hits(".dat") == []


def test_environment_variable_selects_the_mirror_and_wfdb_url_is_restored(physionet_mirror, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_INDEX_URL, physionet_mirror.url)
    before = wfdb_download.config.db_index_url
    summary = download_database("nsrdb", VERSION, tmp_path / "n", max_duration_s=2, backoff_s=0, log=LogSpy())
    assert summary.fetched == ["16483"]
    assert physionet_mirror.hits("/16483.dat")
    assert wfdb_download.config.db_index_url == before


@pytest.mark.parametrize(
    "kwargs",
    [{"max_duration_s": 0}, {"max_duration_s": -1}, {"retries": 0}, {"records": "100"}, {"index_url": "ftp://x/"}],
)
def test_bad_arguments_are_rejected(tmp_path, kwargs):
    with pytest.raises(DownloadError):
        download_database("mitdb", VERSION, tmp_path / "m", log=LogSpy(), **kwargs)
