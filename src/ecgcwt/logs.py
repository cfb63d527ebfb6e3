"""Logging set-up shared by the workflow scripts and the command line."""

from __future__ import annotations

import logging
import sys


def log_to(path: str | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send stderr (tracebacks included) and the package's log records to ``path``.

    Snakemake keeps a job's log file when the job fails, so the traceback of a
    failing script lands where the user is told to look.
    """
    if path:
        sys.stderr = open(path, "w", buffering=1)
    logging.basicConfig(
        stream=sys.stderr,
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    return logging.getLogger("ecgcwt")
