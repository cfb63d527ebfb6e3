"""The data stages in one call, for notebooks, benchmarks and tests: records -> segments -> scalogram cache.

The workflow runs the same functions as separate rules (``segment``,
``scalograms``); this is a convenience over them, not another implementation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Mapping

import pandas as pd

from ecgcwt.data import DatabaseSource, SegmentSpec, segment_to_store
from ecgcwt.imaging.cache import build_scalogram_cache


def build_data(
    sources: Iterable[DatabaseSource],
    spec: SegmentSpec,
    cwt_cfg: Mapping,
    out_dir: str | os.PathLike,
    *,
    subject_map: Mapping[str, str] | None = None,
    edit_table: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    threads: int | None = None,
) -> tuple[Path, pd.DataFrame]:
    """Segment ``sources`` into ``out_dir/segments.h5`` and build ``out_dir/scalograms.h5``.

    ``edit_table`` may rewrite the segment table before it is stored (e.g. to
    regroup subjects for an experiment); it must keep the rows and their order.
    Returns the cache's path and the segment table.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table, _, _ = segment_to_store(
        out_dir / "segments.h5", sources, spec, dict(subject_map or {}), edit_table=edit_table
    )
    cache = build_scalogram_cache(out_dir / "segments.h5", out_dir / "scalograms.h5", cwt_cfg, threads=threads)
    return cache, table
