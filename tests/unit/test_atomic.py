"""Atomic writes: a failed write leaves the previous file (or nothing), never a partial one."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from ecgcwt.atomic import atomic_path, write_csv, write_text


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
