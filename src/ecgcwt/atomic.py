"""Write files atomically: to a temporary name in the same folder, renamed when complete.

An interrupted job then leaves either the previous complete file or nothing,
never a half-written output that a later rule would read as valid.

Every writer of the package (CSV, JSON, text, PNG, the HDF5 stores, model
files) writes through :func:`atomic_path`, so a full disk is translated into
one :class:`~ecgcwt.errors.DiskFullError` naming the final file in one place
(:func:`no_space_error`), whatever library the write failed in.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Iterator

from ecgcwt.errors import DiskFullError

#: errno -> the words of the message
_NO_SPACE = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "no space left on the device (disk quota exceeded)",
}
# the same failures as libraries that do not keep the errno report them in text (h5py: "errno = 28, error message
# = 'No space left on device'"; torch's zip writer keeps the OSError of a Python file object as the context)
_NO_SPACE_TEXT = {
    errno.ENOSPC: ("no space left on device", f"errno = {errno.ENOSPC},"),
    errno.EDQUOT: ("disk quota exceeded", f"errno = {errno.EDQUOT},"),
}


def no_space_error(exc: BaseException | None, path: str | os.PathLike) -> DiskFullError | None:
    """A :class:`DiskFullError` naming ``path`` when ``exc`` (or an exception it came from) is a full disk, else None.

    Follows ``__cause__`` and ``__context__``: h5py, pandas, joblib and torch
    raise their own errors on top of the ``OSError(ENOSPC)`` of the write.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, DiskFullError):
            return exc
        seen.add(id(exc))
        code = getattr(exc, "errno", None)
        if isinstance(exc, OSError) and code in _NO_SPACE:
            break
        text = str(exc).lower()
        code = next((c for c, words in _NO_SPACE_TEXT.items() if any(w.lower() in text for w in words)), None)
        if code is not None:
            break
        exc = exc.__cause__ or exc.__context__
    else:
        return None
    folder = Path(path).parent
    return DiskFullError(
        f"{path}: {_NO_SPACE[code]} while writing it; the partial file was removed. Free space in {folder} "
        f"(see df -h {folder}) or write the results elsewhere, then rerun.",
        str(path),
        code,
    )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched;
    a full disk (ENOSPC, EDQUOT) becomes one :class:`~ecgcwt.errors.DiskFullError` naming ``path``.
    HDF5 writers close their ``h5py.File`` inside the block (a ``with``), so
    its objects are closed before the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix if suffix is not None else ".tmp"
    remove_stale_temporaries(path, suffix)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    # mkstemp creates mode 0600; give the output the usual permissions (0666 less the umask)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except Exception as exc:
        full = no_space_error(exc, path)
        if full is None or full is exc:
            raise
        raise full from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


#: Disk space held back while an HDF5 file is written, released before it is closed (see :func:`hdf5_writer`).
HDF5_RESERVE_BYTES = 8 << 20


@contextlib.contextmanager
def hdf5_writer(tmp: str | os.PathLike, reserve_bytes: int = HDF5_RESERVE_BYTES):
    """``h5py.File(tmp, "w")`` that meets a full disk with a Python error, never a crash.

    HDF5 keeps metadata (and, with its chunk cache, data) in memory and writes
    it when the file is closed; when that write fails it crashes the
    interpreter (SIGSEGV in ``File.close``, measured with h5py 3.16 / HDF5 2.0
    on a full tmpfs). So: the chunk cache is off (every chunk is written when
    it is written, and a full disk raises there), and ``reserve_bytes`` are
    allocated in a file beside ``tmp`` for the time of the writes and freed just
    before the file is closed, so the final metadata write has room. Use it
    inside :func:`atomic_path` (the temporary's name: ``reserve`` files match
    its stale-file pattern).
    """
    import h5py

    tmp = Path(tmp)
    # ends as the temporary does, so remove_stale_temporaries finds one a killed job left
    reserve = tmp.with_name(f"{tmp.name}.reserve{''.join(tmp.suffixes[-2:])}")
    fd = os.open(reserve, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.posix_fallocate(fd, 0, reserve_bytes)
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            os.close(fd)
            reserve.unlink(missing_ok=True)  # a full disk: the reserve could not be held, nor kept
            raise
        # a file system without fallocate (EOPNOTSUPP, EINVAL): write without a reserve
    os.close(fd)
    try:
        # no chunk cache and no sieve buffer: HDF5 would write them when an object is closed (a failure
        # there is swallowed in h5py's dealloc, and the file's close then crashes); without them every
        # write happens, and fails with an exception, where the code writes
        fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
        fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
        fapl.set_sieve_buf_size(0)
        fapl.set_cache(0, 0, 0, 0.75)
        f = h5py.File(h5py.h5f.create(os.fsencode(tmp), h5py.h5f.ACC_TRUNC, fapl=fapl))
        try:
            yield f
        finally:
            reserve.unlink(missing_ok=True)
            f.close()
    finally:
        reserve.unlink(missing_ok=True)


def remove_stale_temporaries(path: str | os.PathLike, suffix: str = ".tmp") -> list[Path]:
    """Delete temporary files an interrupted writer of ``path`` left beside it; return them.

    Only one job writes a given output at a time (Snakemake's rule), so any
    ``.{name}.*{suffix}`` file there when a new write starts is a leftover of
    a killed run: it would never be renamed, only take disk space (a stray
    scalogram cache can be gigabytes).
    """
    path = Path(path)
    stale = [p for p in path.parent.glob(f".{glob.escape(path.name)}.*{glob.escape(suffix)}") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    if stale:
        logging.getLogger("ecgcwt").info(
            "removed %d stale temporary file(s) of %s: %s", len(stale), path, ", ".join(p.name for p in stale)
        )
    return stale


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write ``text`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(df, path: str | os.PathLike, **kwargs) -> None:
    """Atomically write a pandas DataFrame as CSV (index off unless asked)."""
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, **kwargs)


def write_torch(obj, path: str | os.PathLike) -> None:
    """``torch.save(obj)`` to ``path``, atomically.

    Through a Python file object, not a path: torch's own file writer reports
    a full disk only as ``unexpected pos ...``; writing through Python keeps the
    ``OSError(ENOSPC)`` that :func:`no_space_error` turns into a clear message.
    """
    import torch

    with atomic_path(path, suffix=".pt.tmp") as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)


def json_safe(obj):
    """NaN/inf -> null and numpy scalars -> Python, so a metrics file is strict JSON."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def write_json(obj, path: str | os.PathLike) -> None:
    """``obj`` as indented strict JSON (see :func:`json_safe`), written atomically."""
    write_text(path, json.dumps(json_safe(obj), indent=2) + "\n")
