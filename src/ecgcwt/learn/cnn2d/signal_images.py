"""Training images computed per batch from augmented windows (``training.augment`` signal augmentations).

With a signal augmentation on, a window's image changes every epoch, so the
cache cannot hold it. :class:`SignalImageFeeder` keeps the training windows
of the job (float32, 4 bytes per sample: 4 kB per 1024-sample window,
against 50 kB per cached 224-px image) and, for each training batch, on the
training device: augments the windows (:func:`ecgcwt.learn.augment.augment_signals`,
the epoch's plan drawn from ``(seed, epoch)``), runs the cache's own
transform (:class:`ecgcwt.imaging.ScalogramTransform`, rebuilt from the cache's
attributes) and hands the uint8 index images to the job's
:class:`~ecgcwt.learn.cnn2d.feeding.BatchFeeder` for the time shift, colour
map and normalisation. Validation, test and prediction images still come from
the cache: only training windows are augmented.

The windows come from the segment store the cache was built from; its table
must be the cache's (same segments, subjects, recordings and labels, in the
same order), else the job stops with an error naming both files.
"""

from __future__ import annotations

import os
from typing import Iterator, Sequence

import h5py
import numpy as np
import pandas as pd
import torch

from ecgcwt.data import SEGMENTS_REBUILD, read_info, read_table
from ecgcwt.errors import DataError
from ecgcwt.learn.augment import AugmentPlan, AugmentSettings, augment_signals, draw_plan
from ecgcwt.learn.cnn2d.feeding import BatchFeeder

#: Columns that must agree between the segment store and the cache's table, row by row.
_SAME = ("segment", "subject", "recording", "label_index")
#: Windows read from the store per HDF5 call while loading (bounds the temporary copy: 32 MB at 1024 samples).
_READ_BLOCK = 8192


class SignalImageFeeder:
    """Model-ready training batches of augmented windows' scalograms, made on ``feeder``'s device.

    ``segments_h5``: the store the cache ``cache_table``/``cache_attrs`` was built
    from; ``rows``: the cache rows (= store rows) training may ask for.
    """

    def __init__(
        self,
        segments_h5: str | os.PathLike,
        cache_attrs: dict,
        cache_table: pd.DataFrame,
        rows: Sequence[int],
        feeder: BatchFeeder,
        settings: AugmentSettings,
        seed: int,
        *,
        cache_path: str | os.PathLike = "the scalogram cache",
    ) -> None:
        # here, not at the top: the transform imports scipy, which a job without signal augmentation never needs
        from ecgcwt.imaging import ScalogramTransform

        self.feeder, self.settings, self.seed = feeder, settings, int(seed)
        self.device = feeder.device
        check_same_windows(segments_h5, cache_path, cache_attrs, cache_table)
        self.fs = float(read_info(segments_h5).fs)
        self.transform = ScalogramTransform.from_attrs(cache_attrs, self.device, source=cache_path)
        wanted = np.unique(np.asarray(rows, dtype=np.int64))
        self._position = np.full(len(cache_table), -1, dtype=np.int64)
        self._position[wanted] = np.arange(len(wanted))
        self.signals = torch.from_numpy(read_rows(segments_h5, wanted)).to(self.device)

    @property
    def nbytes(self) -> int:
        return self.signals.numel() * self.signals.element_size()

    def epoch(self, epoch: int, order: np.ndarray) -> "EpochImages":
        """The feeder of epoch ``epoch`` whose training rows come in ``order``: its plan drawn from (seed, epoch)."""
        return EpochImages(
            self, np.asarray(order, dtype=np.int64), draw_plan(self.settings, len(order), self.seed, epoch)
        )

    def indices(self, rows: np.ndarray, plan: AugmentPlan) -> torch.Tensor:
        """uint8 index images (on the device) of the windows ``rows`` augmented as ``plan`` says."""
        pos = self._position[np.asarray(rows, dtype=np.int64)]
        if len(pos) and pos.min() < 0:
            raise KeyError(f"rows {np.asarray(rows)[pos < 0][:5].tolist()} were not loaded")
        with torch.no_grad():
            x = self.signals.index_select(0, torch.from_numpy(pos).to(self.device))
            return self.transform.indices(augment_signals(x, plan, self.fs))


class EpochImages:
    """One epoch's training batches: ``batches(row_batches, shifts)`` as :meth:`BatchFeeder.batches` takes them.

    The row batches must be consecutive slices of the epoch's order (the
    plan's entry ``i`` belongs to position ``i`` of the order).
    """

    def __init__(self, owner: SignalImageFeeder, order: np.ndarray, plan: AugmentPlan) -> None:
        self.owner, self.order, self.plan = owner, order, plan

    def batches(
        self, row_batches: Sequence[np.ndarray], shifts: Sequence[torch.Tensor | None] | None = None
    ) -> Iterator[torch.Tensor]:
        shifts = shifts if shifts is not None else [None] * len(row_batches)
        start = 0
        for rows, shift in zip(row_batches, shifts):
            rows = np.asarray(rows, dtype=np.int64)
            stop = start + len(rows)
            if not np.array_equal(rows, self.order[start:stop]):
                raise ValueError("training batches must follow the epoch's order, one consecutive slice after another")
            indices = self.owner.indices(rows, self.plan[start:stop])
            yield self.owner.feeder.model_input(indices, shift)
            start = stop


def read_rows(segments_h5: str | os.PathLike, rows: np.ndarray) -> np.ndarray:
    """float32 windows ``rows`` (sorted, unique) of a segment store, read in contiguous blocks."""
    with h5py.File(segments_h5, "r") as f:
        ds = f["signals"]
        out = np.empty((len(rows), ds.shape[1]), dtype=np.float32)
        i = 0
        while i < len(rows):
            lo = int(rows[i])
            j = int(np.searchsorted(rows, lo + _READ_BLOCK, side="left"))
            try:
                block = ds[lo : int(rows[j - 1]) + 1]
            except OSError as exc:  # HDF5's checksum or decompression of a damaged chunk
                raise DataError(
                    f"segment store {str(segments_h5)!r}: windows {lo}..{int(rows[j - 1])} cannot be read ({exc}); "
                    f"the file is damaged: {SEGMENTS_REBUILD}"
                ) from exc
            out[i:j] = block[rows[i:j] - lo]
            i = j
    return out


def check_same_windows(
    segments_h5: str | os.PathLike, cache_path: str | os.PathLike, cache_attrs: dict, cache_table: pd.DataFrame
) -> None:
    """The segment store holds the cache's windows: same rate, length and table, row for row."""
    if not os.path.exists(segments_h5):
        raise DataError(
            f"segment store {str(segments_h5)!r} does not exist: signal augmentation computes the training "
            "images from the segments; run the segment step first"
        )
    info = read_info(segments_h5)
    table = read_table(segments_h5)
    same = (
        float(cache_attrs.get("fs", -1)) == info.fs
        and int(cache_attrs.get("window", -1)) == info.window
        and len(table) == len(cache_table)
        and all(c in table and c in cache_table for c in _SAME)
        and all(np.array_equal(table[c].to_numpy(), cache_table[c].to_numpy()) for c in _SAME)
    )
    if not same:
        raise DataError(
            f"segment store {str(segments_h5)!r} does not hold the windows of the scalogram cache "
            f"{str(cache_path)!r} (rate, window length or segment table differ): the cache was built from "
            "other segments; rebuild the cache from this store (or give the store it was built from)"
        )
