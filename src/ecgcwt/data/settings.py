"""Segmentation settings as plain values: what cut a segment store, stored beside it and read back.

:class:`SegmentSpec` (with :class:`QualityLimits`) is what the segment step
runs with; :func:`segment_attrs` stores it as HDF5 attributes of
``segments.h5`` (copied into the scalogram cache and ``model.pt``);
:func:`preprocessing_from_attrs` reads it back, so that a trained model cuts
new recordings the same way. Light on purpose (numpy only): a training job
reads these settings, and importing the segmentation code (scipy, wfdb) cost
it 1.4 s of start-up on 2 cores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class QualityLimits:
    flat_std_mv: float = 0.01
    clip_fraction: float = 0.05
    max_abs_mv: float = 10.0


@dataclass(frozen=True)
class SegmentSpec:
    fs: float = 128.0
    window: int = 1024
    hop: int = 1024
    max_per_recording: int | None = 10
    leads: Sequence[int] | None = None  # None = all leads
    max_duration_s: float | None = 512.0
    quality: QualityLimits = field(default_factory=QualityLimits)


#: Segmentation settings stored as attributes of ``segments.h5`` (beside ``fs``, ``window``, ``hop``) and
#: copied into the scalogram cache, so that a trained model can cut new recordings the same way.
SEGMENT_ATTRS = (
    "leads",
    "max_per_recording",
    "max_duration_s",
    "quality_flat_std_mv",
    "quality_clip_fraction",
    "quality_max_abs_mv",
)


def segment_attrs(spec: SegmentSpec) -> dict:
    """:data:`SEGMENT_ATTRS` of ``spec`` as HDF5-storable values (no leads = all, -1 / NaN = no limit)."""
    return {
        "leads": np.asarray([] if spec.leads is None else list(spec.leads), dtype=np.int64),
        "max_per_recording": -1 if spec.max_per_recording is None else int(spec.max_per_recording),
        "max_duration_s": float("nan") if spec.max_duration_s is None else float(spec.max_duration_s),
        "quality_flat_std_mv": float(spec.quality.flat_std_mv),
        "quality_clip_fraction": float(spec.quality.clip_fraction),
        "quality_max_abs_mv": float(spec.quality.max_abs_mv),
    }


def preprocessing_from_attrs(attrs: dict) -> dict:
    """The segmentation a model was trained with, from a scalogram cache's attributes (plain values).

    ``defaulted`` lists what the attributes lacked (caches built before these
    attributes existed): then the hop is the window, every lead is used and
    the quality limits are :class:`QualityLimits`' defaults (the config's).
    """
    defaulted = [k for k in ("hop", *SEGMENT_ATTRS) if k not in attrs]
    q = QualityLimits()
    leads = attrs.get("leads")
    leads = None if leads is None or len(np.atleast_1d(leads)) == 0 else [int(v) for v in np.atleast_1d(leads)]
    cap = attrs.get("max_per_recording", -1)
    dur = attrs.get("max_duration_s", float("nan"))
    return {
        "fs": float(attrs["fs"]),
        "window": int(attrs["window"]),
        "hop": int(attrs.get("hop", attrs["window"])),
        "leads": leads,
        "max_per_recording": None if cap is None or int(cap) < 0 else int(cap),
        "max_duration_s": None if dur is None or not np.isfinite(float(dur)) else float(dur),
        "quality": {
            "flat_std_mv": float(attrs.get("quality_flat_std_mv", q.flat_std_mv)),
            "clip_fraction": float(attrs.get("quality_clip_fraction", q.clip_fraction)),
            "max_abs_mv": float(attrs.get("quality_max_abs_mv", q.max_abs_mv)),
        },
        "defaulted": defaulted,
    }


def synthetic_record_names(subjects: int) -> list[str]:
    """The record names the synthetic generator writes for ``subjects`` subjects (one record each)."""
    return [f"syn{i + 1:03d}" for i in range(int(subjects))]
