"""Write files atomically: to a temporary name in the same folder, renamed when complete.

An interrupted job then leaves either the previous complete file or nothing,
never a half-written output that a later rule would read as valid.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
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
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


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
