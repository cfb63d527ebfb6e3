"""What the downloader verifies, and what it cannot, against a local PhysioNet mirror.

Each test damages something the way a user could meet it -- a mirror serving
a ``.dat`` with 1,000 bytes zeroed, a transfer corrupted in flight, a file
damaged on disk after a complete download, a mirror without
``SHA256SUMS.txt`` -- and checks what the user sees (error message, log,
manifest) and that nothing damaged is kept. The mirror (tests/fixtures_physionet.py)
serves REAL PhysioNet records; expected signals are read with wfdb from the
same original files, never hard-coded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import wfdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the fixture module
from fixtures_physionet import SHARED_PHYSIONET, VERSION, physionet_mirror, write_sha256sums  # noqa: E402,F401

from ecgcwt.data.download import MANIFEST_NAME, download_database, partial_download_path  # noqa: E402
from ecgcwt.errors import DownloadError  # noqa: E402

# mitdb is format 212 at 360 Hz, 2 signals: 3 bytes per frame. The first 30 s
# are bytes 0-32,399 of the .dat.
MITDB_30S_BYTES = 30 * 360 * 3


class LogSpy(list):
    def __call__(self, line: str) -> None:
        self.append(line)


def fetch(mirror, db, dest, **kwargs):
    kwargs.setdefault("backoff_s", 0)
    kwargs.setdefault("log", LogSpy())
    kwargs.setdefault("verify", "strict")  # the workflow's default (data.verify)
    return download_database(db, VERSION, dest, index_url=mirror.url, **kwargs)


def zero_bytes(path: Path, offset: int, length: int = 1000) -> None:
    """The issue's damage: ``length`` bytes zeroed in place (size unchanged)."""
    data = bytearray(path.read_bytes())
    assert any(data[offset : offset + length]), "the bytes chosen must not already be zero"
    data[offset : offset + length] = bytes(length)
    path.write_bytes(bytes(data))


def manifest(dest: Path) -> dict:
    return json.loads((dest / MANIFEST_NAME).read_text())["records"]


def signal(path: Path, sampto=None) -> np.ndarray:
    return wfdb.rdrecord(str(path), sampto=sampto, physical=False).d_signal


def original_signal(db: str, name: str, sampto=None) -> np.ndarray:
    return signal(SHARED_PHYSIONET / db / name, sampto)


# --------------------------------------------------------------------------
# What each mode checks (no damage)


def test_manifest_records_what_was_verified(physionet_mirror, tmp_path):
    fetch(physionet_mirror, "mitdb", tmp_path / "full", records=["100"], max_duration_s=None, annotations=True)
    fetch(physionet_mirror, "mitdb", tmp_path / "part", records=["100"], max_duration_s=30)
    fetch(physionet_mirror, "chfdb", tmp_path / "chf", max_duration_s=512)  # chf02 here is 262 s: all read

    full = manifest(tmp_path / "full")["100"]
    assert full["verified"] is True and full["unverified"] == {} and full["verify"] == "strict"
    assert full["checks"] == {
        "100.atr": ["sha256sums"],
        "100.dat": ["sha256sums", "header_checksum"],
        "100.hea": ["sha256sums"],
    }
    part = manifest(tmp_path / "part")["100"]
    # A prefix is covered by no published checksum: only the second read vouches for it.
    assert part["verified"] is True and part["checks"] == {"100.dat": ["second_read"], "100.hea": ["sha256sums"]}
    chf = manifest(tmp_path / "chf")["chf02"]
    assert chf["checks"] == {"chf02.dat": ["second_read", "header_checksum"], "chf02.hea": ["sha256sums"]}


def test_partial_mode_reads_the_same_range_twice_independently(physionet_mirror, tmp_path):
    log = LogSpy()
    fetch(physionet_mirror, "mitdb", tmp_path / "m", records=["100"], max_duration_s=30, log=log)
    reads = physionet_mirror.reads("/100.dat")
    assert [r.range for r in reads] == [f"bytes=0-{MITDB_30S_BYTES - 1}"] * 2
    # The second read carries a fresh query string, so a URL-keyed cache cannot replay the first.
    assert "?" not in reads[0].path and "?ecgcwt-verify=" in reads[1].path
    # The user is told what partial mode cannot verify.
    assert any("NOT detected" in line and "max_duration_s: null" in line for line in log)


# --------------------------------------------------------------------------
# (a) a server or mirror that serves a damaged .dat


def test_damaged_dat_served_in_full_mode_fails_naming_the_file(physionet_mirror, tmp_path):
    zero_bytes(physionet_mirror.path("mitdb", "100.dat"), 200_000)  # SHA256SUMS.txt still has the true sum
    dest = tmp_path / "m"
    with pytest.raises(DownloadError) as info:
        fetch(physionet_mirror, "mitdb", dest, max_duration_s=None, retries=2)
    message = str(info.value)
    assert "100.dat" in message and "SHA256 mismatch" in message and "after 2 tries" in message
    assert not (dest / "100.dat").exists() and not partial_download_path(dest, "100.dat").exists()
    assert not (dest / "RECORDS").exists()


def test_partial_mode_cannot_detect_a_damaged_dat_on_the_server(physionet_mirror, tmp_path):
    """Documents the limit: the damaged bytes lie in the range read, the record is longer
    than max_duration_s, both reads return the same wrong bytes and no published checksum
    covers a prefix. The download succeeds with the damaged samples; the manifest says the
    .dat was vouched for by the second read only, and the log says this is not detected."""
    zero_bytes(physionet_mirror.path("mitdb", "100.dat"), 3000)  # inside the first 30 s
    dest = tmp_path / "m"
    log = LogSpy()
    summary = fetch(physionet_mirror, "mitdb", dest, records=["100"], max_duration_s=30, log=log)
    assert summary.fetched == ["100"]
    got, want = signal(dest / "100"), original_signal("mitdb", "100", 30 * 360)
    assert got.shape == want.shape and not np.array_equal(got, want)  # damaged samples were accepted
    assert manifest(dest)["100"]["checks"]["100.dat"] == ["second_read"]
    assert any("NOT detected" in line for line in log)


def test_partial_mode_ignores_damage_outside_the_range_read(physionet_mirror, tmp_path):
    zero_bytes(physionet_mirror.path("mitdb", "100.dat"), 500_000)  # far beyond the first 30 s
    fetch(physionet_mirror, "mitdb", tmp_path / "m", records=["100"], max_duration_s=30)
    np.testing.assert_array_equal(signal(tmp_path / "m" / "100"), original_signal("mitdb", "100", 30 * 360))


@pytest.mark.parametrize("db,name", [("nsrdb", "16483"), ("chfdb", "chf02")])
def test_partial_mode_reading_the_whole_record_detects_a_damaged_dat_by_header_checksum(
    physionet_mirror, tmp_path, db, name
):
    # These records are no longer than 512 s, so every sample is read and the
    # header's per-signal checksums can be checked.
    zero_bytes(physionet_mirror.path(db, f"{name}.dat"), 10_000)
    dest = tmp_path / db
    with pytest.raises(DownloadError) as info:
        fetch(physionet_mirror, db, dest, max_duration_s=512, retries=3)
    message = str(info.value)
    assert f"{name}.dat does not match the WFDB checksums in {name}.hea" in message
    assert "server's copy" in message and "damaged" in message
    assert len(physionet_mirror.reads(f"/{name}.dat")) == 2  # both reads agree: not retried
    assert not (dest / f"{name}.dat").exists() and not (dest / "RECORDS").exists()


def test_header_checksum_mismatch_in_full_mode_is_an_error(physionet_mirror, tmp_path):
    # A mirror that computed its SHA256SUMS.txt from its own damaged files: the
    # SHA-256 check passes, the header's per-signal checksums do not.
    folder = physionet_mirror.path("mitdb", "100.dat").parent
    zero_bytes(folder / "100.dat", 200_000)
    write_sha256sums(folder)
    dest = tmp_path / "m"
    with pytest.raises(DownloadError) as info:
        fetch(physionet_mirror, "mitdb", dest, max_duration_s=None, retries=3)
    message = str(info.value)
    assert "mitdb/100: 100.dat does not match the WFDB checksums in 100.hea" in message
    assert "signal 0 (MLII)" in message and "match SHA256SUMS.txt" in message
    assert len(physionet_mirror.hits("/100.dat")) == 1  # the published files disagree: no retry
    assert not (dest / "100.dat").exists() and not (dest / "RECORDS").exists()


def test_header_checksum_catches_a_damaged_dat_when_sha256sums_is_missing(physionet_mirror, tmp_path):
    zero_bytes(physionet_mirror.path("mitdb", "100.dat"), 200_000)
    physionet_mirror.path("mitdb", "SHA256SUMS.txt").unlink()
    dest = tmp_path / "m"
    with pytest.raises(DownloadError) as info:
        fetch(physionet_mirror, "mitdb", dest, max_duration_s=None, verify="warn", retries=2)
    message = str(info.value)
    assert "100.dat does not match the WFDB checksums in 100.hea" in message and "after 2 tries" in message
    assert "could not be checked against SHA256SUMS.txt" in message
    assert len(physionet_mirror.hits("/100.dat")) == 2  # unverified: perhaps a bad transfer, so retried
    assert not (dest / "100.dat").exists() and not (dest / "RECORDS").exists()


# --------------------------------------------------------------------------
# A transfer corrupted in flight


@pytest.mark.parametrize("plan", [(True,), (False, True)], ids=["first_read", "second_read"])
def test_transfer_corrupted_in_flight_is_detected_and_retried(physionet_mirror, tmp_path, plan):
    physionet_mirror.corrupt("/100.dat", *plan, offset=100)
    log = LogSpy()
    summary = fetch(physionet_mirror, "mitdb", tmp_path / "m", max_duration_s=30, retries=3, log=log)
    assert summary.fetched == ["100", "101"]
    assert len(physionet_mirror.reads("/100.dat")) == 4  # two attempts of two reads
    assert any("disagree" in line and "retrying" in line for line in log)
    np.testing.assert_array_equal(signal(tmp_path / "m" / "100"), original_signal("mitdb", "100", 30 * 360))


def test_transfer_corrupted_every_time_fails_with_a_clear_message(physionet_mirror, tmp_path):
    physionet_mirror.corrupt("/101.dat", True, False, True, False, offset=100)  # wfdb's read, every try
    dest = tmp_path / "m"
    with pytest.raises(DownloadError) as info:
        fetch(physionet_mirror, "mitdb", dest, max_duration_s=30, retries=2)
    message = str(info.value)
    assert "mitdb/101" in message and "after 2 tries" in message
    assert "two independent reads" in message and "101.dat" in message and "corrupted in transfer" in message
    assert "corrupting the data" in message and "data.physionet_url" in message
    assert not (dest / "101.dat").exists() and not (dest / "RECORDS").exists()
    np.testing.assert_array_equal(signal(dest / "100"), original_signal("mitdb", "100", 30 * 360))  # kept


def test_transfer_corrupted_in_flight_in_full_mode_without_sha256sums(physionet_mirror, tmp_path):
    # No SHA256SUMS.txt (verify: warn): the header's checksums catch it and the file is fetched again.
    physionet_mirror.path("mitdb", "SHA256SUMS.txt").unlink()
    physionet_mirror.corrupt("/100.dat", True, offset=200_000)
    dest = tmp_path / "m"
    fetch(physionet_mirror, "mitdb", dest, records=["100"], max_duration_s=None, verify="warn")
    assert len(physionet_mirror.hits("/100.dat")) == 2
    assert (dest / "100.dat").read_bytes() == (SHARED_PHYSIONET / "mitdb" / "100.dat").read_bytes()
    assert manifest(dest)["100"]["checks"]["100.dat"] == ["header_checksum"]


# --------------------------------------------------------------------------
# (b) a file damaged on disk after a complete download


@pytest.mark.parametrize("max_duration_s", [None, 30], ids=["full", "partial"])
@pytest.mark.parametrize("damage", ["zero_1000_bytes", "truncate"])
def test_file_damaged_on_disk_is_detected_on_rerun_and_fetched_again(
    physionet_mirror, tmp_path, max_duration_s, damage
):
    dest = tmp_path / "m"
    fetch(physionet_mirror, "mitdb", dest, max_duration_s=max_duration_s)
    before = (dest / "100.dat").read_bytes()
    if damage == "zero_1000_bytes":
        zero_bytes(dest / "100.dat", 3000)
    else:
        (dest / "100.dat").write_bytes(before[:-1000])
    physionet_mirror.clear()
    log = LogSpy()

    summary = fetch(physionet_mirror, "mitdb", dest, max_duration_s=max_duration_s, log=log)

    assert summary.fetched == ["100"] and summary.skipped == ["101"]
    expected = "no longer has the SHA-256" if damage == "zero_1000_bytes" else "bytes, the manifest recorded"
    assert any(line.startswith("[download] mitdb/100: 100.dat on disk") and expected in line for line in log)
    assert (dest / "100.dat").read_bytes() == before
    assert physionet_mirror.reads("/101.dat") == []


# --------------------------------------------------------------------------
# SHA256SUMS.txt missing: data.verify strict | warn


@pytest.mark.parametrize("max_duration_s", [None, 30], ids=["full", "partial"])
def test_missing_sha256sums_with_strict_fails_with_advice(physionet_mirror, tmp_path, max_duration_s):
    physionet_mirror.path("mitdb", "SHA256SUMS.txt").unlink()
    dest = tmp_path / "m"
    with pytest.raises(DownloadError) as info:
        fetch(physionet_mirror, "mitdb", dest, max_duration_s=max_duration_s, verify="strict")
    message = str(info.value)
    assert f"mitdb {VERSION}" in message and f"{physionet_mirror.url}mitdb/{VERSION}/SHA256SUMS.txt" in message
    assert "404" in message and "data.verify: warn" in message and "mirror that has SHA256SUMS.txt" in message
    assert physionet_mirror.hits(".dat") == [] and not (dest / "RECORDS").exists()


def test_missing_sha256sums_with_warn_proceeds_and_marks_records_unverified(physionet_mirror, tmp_path):
    sums = physionet_mirror.path("mitdb", "SHA256SUMS.txt")
    saved = sums.read_bytes()
    sums.unlink()
    dest = tmp_path / "m"
    log = LogSpy()

    summary = fetch(physionet_mirror, "mitdb", dest, max_duration_s=30, verify="warn", log=log)

    assert summary.fetched == ["100", "101"] and summary.unverified == ["100", "101"]
    assert any("WARNING" in line and "SHA256SUMS.txt is not available" in line for line in log)
    assert "NOT verified" in log[-1] and MANIFEST_NAME in log[-1]
    entry = manifest(dest)["100"]
    assert entry["verified"] is False and entry["verify"] == "warn"
    assert set(entry["unverified"]) == {"100.hea"} and "no SHA256SUMS.txt" in entry["unverified"]["100.hea"]
    assert entry["checks"] == {"100.dat": ["second_read"]}
    # A warn rerun keeps them (still flagged); a strict rerun will not trust them ...
    assert fetch(physionet_mirror, "mitdb", dest, max_duration_s=30, verify="warn").unverified == ["100", "101"]
    with pytest.raises(DownloadError, match="data.verify: warn"):
        fetch(physionet_mirror, "mitdb", dest, max_duration_s=30, verify="strict")
    # ... and fetches them again, verified, once the checksums are there.
    sums.write_bytes(saved)
    log = LogSpy()
    again = fetch(physionet_mirror, "mitdb", dest, max_duration_s=30, verify="strict", log=log)
    assert again.fetched == ["100", "101"] and again.unverified == []
    assert any("downloaded unverified (data.verify: warn)" in line for line in log)
    assert manifest(dest)["100"]["verified"] is True


def test_file_missing_from_sha256sums_with_strict_fails_naming_it(physionet_mirror, tmp_path):
    sums = physionet_mirror.path("chfdb", "SHA256SUMS.txt")
    sums.write_text("".join(line for line in sums.read_text().splitlines(True) if "chf02.dat" not in line))
    with pytest.raises(DownloadError) as info:
        fetch(physionet_mirror, "chfdb", tmp_path / "c", max_duration_s=None)
    assert "chf02.dat is not listed in" in str(info.value) and "data.verify: warn" in str(info.value)
    log = LogSpy()
    fetch(physionet_mirror, "chfdb", tmp_path / "c", max_duration_s=None, verify="warn", log=log)
    assert manifest(tmp_path / "c")["chf02"]["unverified"] == {"chf02.dat": "not listed in SHA256SUMS.txt"}
    assert any("WARNING: chf02.dat is not listed" in line for line in log)


def test_manifest_entry_from_before_verification_is_fetched_again_when_strict(physionet_mirror, tmp_path):
    dest = tmp_path / "c"
    fetch(physionet_mirror, "chfdb", dest, max_duration_s=10)
    data = json.loads((dest / MANIFEST_NAME).read_text())
    for key in ("verify", "verified", "checks", "unverified"):
        del data["records"]["chf02"][key]
    (dest / MANIFEST_NAME).write_text(json.dumps(data))
    assert fetch(physionet_mirror, "chfdb", dest, max_duration_s=10, verify="warn").skipped == ["chf02"]
    log = LogSpy()
    assert fetch(physionet_mirror, "chfdb", dest, max_duration_s=10, log=log).fetched == ["chf02"]
    assert any("predates download verification" in line for line in log)


def test_unknown_verify_value_is_rejected(tmp_path):
    with pytest.raises(DownloadError, match="verify must be one of strict, warn"):
        download_database("mitdb", VERSION, tmp_path / "m", verify="lenient", log=LogSpy())
