"""Atomic writes: a failed write leaves the previous file (or nothing), never a partial one."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ecgcwt.atomic import atomic_path, no_space_error, write_csv, write_json, write_text, write_torch
from ecgcwt.errors import DiskFullError


def test_success_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    write_text(target, "one")
    write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_failure_keeps_the_previous_file(tmp_path):
    target = tmp_path / "out.csv"
    write_csv(pd.DataFrame({"a": [1]}), target)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("a\n1\n2\n")  # half of a new version
            raise RuntimeError("killed")
    assert target.read_text() == "a\n1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_failure_without_previous_file_leaves_nothing(tmp_path):
    with pytest.raises(KeyError):
        with atomic_path(tmp_path / "new.h5", suffix=".h5.tmp") as tmp:
            assert tmp.name.startswith(".new.h5.") and tmp.name.endswith(".h5.tmp")
            tmp.write_bytes(b"partial")
            raise KeyError("x")
    assert list(tmp_path.iterdir()) == []


def test_outputs_get_umask_permissions_not_mkstemp_0600(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "scalograms.h5"
    stray = tmp_path / ".scalograms.h5.k1ll3d.h5.tmp"  # what a kill during the write leaves
    stray.write_bytes(b"x" * 1000)
    other = tmp_path / ".segments.h5.abc.h5.tmp"  # another output's: not ours to touch
    other.write_bytes(b"y")
    with atomic_path(target, suffix=".h5.tmp") as tmp:
        tmp.write_bytes(b"complete")
    assert target.read_bytes() == b"complete"
    assert not stray.exists() and other.exists()


# ---------------------------------------------------------------- a full disk

NO_SPACE = "no space left on the device"


def _enospc():
    return OSError(errno.ENOSPC, "No space left on device")


def _only(folder, name=None):
    """The folder's files: no temporary (nor reserve) file is ever left behind."""
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("writer", ["text", "json", "csv"])
def test_enospc_in_a_table_or_text_writer_is_one_clear_error(tmp_path, monkeypatch, writer):
    def half_then_full(self, *args, **kwargs):
        path = args[0] if writer == "csv" else self
        open(path, "w").write("half")
        raise _enospc()

    if writer == "csv":
        monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_full)
    else:
        monkeypatch.setattr(Path, "write_text", half_then_full)
    target = tmp_path / f"out.{writer}"
    with pytest.raises(DiskFullError) as err:
        {"text": lambda: write_text(target, "x"), "json": lambda: write_json({"a": 1}, target)}.get(
            writer, lambda: write_csv(pd.DataFrame({"a": [1]}), target)
        )()
    assert str(err.value).startswith(f"{target}: {NO_SPACE} while writing it")
    assert err.value.path == str(target) and err.value.errno == errno.ENOSPC
    assert _only(tmp_path) == []


def test_enospc_in_torch_save_names_the_model_file(tmp_path, monkeypatch):
    import torch

    def full(obj, fh):
        fh.write(b"PK\x03\x04")
        try:
            raise _enospc()
        except OSError:  # what torch's zip writer does with the OSError of a Python file object
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 46 vs 0") from None

    monkeypatch.setattr(torch, "save", full)
    target = tmp_path / "model.pt"
    with pytest.raises(DiskFullError, match=f"model.pt: {NO_SPACE}"):
        write_torch({"w": torch.zeros(3)}, target)
    assert _only(tmp_path) == []


def test_quota_exceeded_is_named_too(tmp_path):
    with pytest.raises(DiskFullError, match=rf"{NO_SPACE} \(disk quota exceeded\)"):
        with atomic_path(tmp_path / "x.bin"):
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
    assert _only(tmp_path) == []


def test_other_errors_are_not_called_a_full_disk(tmp_path):
    with pytest.raises(PermissionError):
        with atomic_path(tmp_path / "x.bin"):
            raise PermissionError(errno.EACCES, "Permission denied")
    assert no_space_error(ValueError("bad value"), tmp_path / "x") is None


FULL_DISK_SCRIPT = r"""
import sys, numpy as np, pandas as pd, torch
from ecgcwt.errors import DiskFullError
from ecgcwt.atomic import write_csv, write_torch
from ecgcwt.data import write_segment_store
from ecgcwt.data.segment_store import TABLE_COLUMNS
from ecgcwt.imaging import build_scalogram_cache

d, which, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(0)
table = pd.DataFrame({c: [str(i) for i in range(n)] for c in TABLE_COLUMNS})
for c in ("segment", "lead", "start", "label_index"):
    table[c] = np.arange(n) % 2
table["label"] = np.array(["A", "B"])[np.arange(n) % 2]
try:
    if which == "segments":
        write_segment_store(f"{d}/segments.h5", rng.normal(size=(n, 256)), table, fs=128, window=256, hop=256,
                            classes=["A", "B"])
    elif which == "scalograms":
        write_segment_store(f"{sys.argv[4]}/segments.h5", rng.normal(size=(n, 256)), table, fs=128, window=256,
                            hop=256, classes=["A", "B"])
        build_scalogram_cache(f"{sys.argv[4]}/segments.h5", f"{d}/scalograms.h5",
                              {"image": {"size": 64, "mode": "jet"}, "voices_per_octave": 4}, threads=1)
    elif which == "csv":
        write_csv(pd.DataFrame({"a": rng.normal(size=n * 100)}), f"{d}/table.csv")
    elif which == "model":
        write_torch({"w": torch.randn(n * 1000)}, f"{d}/model.pt")
    print("written")
except DiskFullError as exc:
    print("DiskFullError:", exc)
"""


def _tmpfs_available():
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _tmpfs_available(), reason="needs unshare -rm (a user namespace) for a small tmpfs")
@pytest.mark.parametrize("which, n", [("segments", 24_000), ("scalograms", 8_000), ("csv", 12_000), ("model", 6_000)])
def test_a_real_full_disk_is_a_clear_error_and_never_a_crash(tmp_path, which, n):
    """Each writer fills a 16 MiB tmpfs: a Python error naming the file, no crash (h5py SIGSEGV'd), no leftovers."""
    script = tmp_path / "full.py"
    script.write_text(FULL_DISK_SCRIPT)
    src = Path(__file__).resolve().parents[2] / "src"
    inner = f'd=$(mktemp -d -p "{tmp_path}") && mount -t tmpfs -o size=16m tmpfs "$d" && cd "$d" && '
    inner += f'PYTHONPATH="{src}" "{sys.executable}" "{script}" "$d" {which} {n} "{tmp_path}"; '
    inner += 'rc=$?; ls -A "$d"; exit $rc'
    res = subprocess.run(["unshare", "-rm", "sh", "-c", inner], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]  # -11 / 139 was the SIGSEGV
    out = res.stdout.strip().splitlines()
    assert out[0].startswith("DiskFullError: ") and NO_SPACE in out[0], res.stdout + res.stderr[-2000:]
    final = {"segments": "segments.h5", "scalograms": "scalograms.h5", "csv": "table.csv", "model": "model.pt"}[which]
    assert f"/{final}: {NO_SPACE} while writing it" in out[0]
    assert out[1:] == []  # nothing left in the full folder: no temporary, no reserve, no final file


def test_a_disk_too_full_for_the_hdf5_reserve_leaves_no_file(tmp_path, monkeypatch):
    import numpy as np

    from ecgcwt.data import write_segment_store
    from ecgcwt.data.segment_store import TABLE_COLUMNS

    def full(fd, offset, length):
        raise _enospc()

    monkeypatch.setattr(os, "posix_fallocate", full)
    table = pd.DataFrame({c: pd.Series([], dtype=object if k == "str" else k) for c, k in TABLE_COLUMNS.items()})
    target = tmp_path / "segments.h5"
    with pytest.raises(DiskFullError) as err:
        write_segment_store(target, np.empty((0, 8), np.float32), table, fs=128, window=8, hop=8, classes=["A"])
    assert str(err.value).startswith(f"{target}: {NO_SPACE} while writing it")
    assert _only(tmp_path) == []  # neither the temporary nor its .reserve file
