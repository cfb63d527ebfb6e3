"""The download manifest ``.download.json``: what is in ``dest``, with its SHA-256, and whether it is stale.

One entry per record: the request it was downloaded with, the size and SHA-256
of every file taken when it was written, and how its source was verified. A
rerun fetches a record again whenever :func:`_stale_reason` gives a reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import wfdb

from ecgcwt import __version__
from ecgcwt.atomic import write_text

#: Manifest of what was downloaded, per record (JSON, in ``dest``).
MANIFEST_NAME = ".download.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclasses.dataclass
class _Manifest:
    path: Path
    db: str
    records: dict[str, dict]

    @classmethod
    def load(cls, dest: Path, db: str) -> "_Manifest":
        path = dest / MANIFEST_NAME
        records: dict[str, dict] = {}
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and data.get("db") == db and isinstance(data.get("records"), dict):
                records = data["records"]
        except (OSError, ValueError):
            pass  # missing or unreadable: every record is checked from scratch
        return cls(path, db, records)

    def save(self) -> None:
        write_text(
            self.path,
            json.dumps({"db": self.db, "ecgcwt_version": __version__, "records": self.records}, indent=1) + "\n",
        )


def _stale_reason(dest: Path, name: str, entry: dict | None, request: dict, verify: str) -> str | None:
    """None when ``name`` in ``dest`` is exactly what ``request`` would download, else why not.

    Every file is checked against the size and SHA-256 the manifest recorded
    when it was written, so a file damaged on disk after a complete download
    (truncated, edited, bytes zeroed) is detected and fetched again.
    """
    if not isinstance(entry, dict):
        return "not in the download manifest"
    changed = [key for key, value in request.items() if entry.get(key) != value]
    if changed:
        return f"downloaded with different settings ({', '.join(changed)})"
    files, sizes = entry.get("files"), entry.get("sizes")
    if not isinstance(files, dict) or not isinstance(sizes, dict) or f"{name}.hea" not in files:
        return "its manifest entry is incomplete"  # a hand-edited or foreign manifest
    for file_name, digest in files.items():
        path = dest / file_name
        if not path.is_file():
            return f"{file_name} is missing"
        if path.stat().st_size != sizes.get(file_name):
            return (
                f"{file_name} on disk has {path.stat().st_size} bytes, the manifest recorded "
                f"{sizes.get(file_name)} when it was written (damaged after the download)"
            )
        if _sha256(path) != digest:
            return (
                f"{file_name} on disk no longer has the SHA-256 recorded when it was written "
                f"(damaged after the download)"
            )
    try:
        header = wfdb.rdheader(str(dest / name))
    except Exception:  # any parse failure means "fetch again"
        return f"{name}.hea does not read as a WFDB header"
    if entry.get("max_duration_s") is not None:
        expected = header.sig_len * header.n_sig * 2  # format 16, one file
        if (dest / f"{name}.dat").stat().st_size != expected:
            return f"{name}.dat does not hold the {header.sig_len} samples its header announces"
    if verify == "strict" and entry.get("verified") is not True:
        if "verified" not in entry:
            return "its manifest entry predates download verification and data.verify is 'strict'"
        return "it was downloaded unverified (data.verify: warn) and data.verify is now 'strict'"
    return None


def _install(tmp_dir: Path, dest: Path, names: list[str]) -> None:
    """Move finished files into ``dest``, the header last.

    A run killed between two renames leaves files whose checksums no longer
    match the manifest, so the next run fetches that record again.
    """
    for file_name in names:
        os.replace(tmp_dir / file_name, dest / file_name)


def _remove_stale_files(dest: Path, name: str, old: dict | None, new: dict) -> None:
    """Delete files of an earlier download of ``name`` that the new one does not have
    (e.g. ``.atr`` after switching from full length to the first samples)."""
    old_files = old.get("files") if isinstance(old, dict) else None
    for file_name in old_files if isinstance(old_files, dict) else ():
        if file_name not in new["files"] and file_name.startswith(f"{name}.") and "/" not in file_name:
            (dest / file_name).unlink(missing_ok=True)


def _entry(tmp_dir: Path, names: list[str], **fields) -> dict:
    return {
        "files": {n: _sha256(tmp_dir / n) for n in names},
        "sizes": {n: (tmp_dir / n).stat().st_size for n in names},
        **fields,
    }
