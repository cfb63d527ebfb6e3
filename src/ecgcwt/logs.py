"""Logging set-up shared by the workflow scripts and the command line."""

from __future__ import annotations

import logging
import sys
from typing import Callable


def log_to(path: str | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send stderr (tracebacks included) and the package's log records to ``path``.

    Snakemake keeps a job's log file when the job fails, so the traceback of a
    failing script lands where the user is told to look. An error this package
    raises on purpose (:class:`ecgcwt.errors.EcgCwtError`: bad input, with the
    file and what to do) ends the job as its message alone, no traceback;
    anything else keeps its traceback.
    """
    if path:
        sys.stderr = open(path, "w", buffering=1)
    sys.excepthook = _one_line_errors
    logging.basicConfig(
        stream=sys.stderr,
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    return logging.getLogger("ecgcwt")


def _one_line_errors(kind, exc, tb) -> None:
    from ecgcwt.errors import EcgCwtError

    if isinstance(exc, EcgCwtError):
        print(f"ERROR {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return
    sys.__excepthook__(kind, exc, tb)


def progress_echo(log: Callable[[str], None], label: str) -> Callable[[str], None]:
    """``log``, and each epoch's line (and the final "done in" line) also on stdout as ``label: line``.

    A job's log file holds everything; the terminal, where Snakemake shows a local job's stdout,
    gets one short line per epoch, so a long training job is never silent for minutes.
    """
    out = sys.stdout

    def both(message: str) -> None:
        log(message)
        if message.startswith("epoch ") or ": done in " in message:
            print(f"{label}: {message}", file=out, flush=True)

    return both
