"""Read scalogram images from ``scalograms.h5`` for training and inference.

``/images`` is uint8 (N, H, W, 3), one gzip chunk per image. The training
loop feeds batches through :mod:`ecgcwt.feeding`; :class:`ScalogramDataset`
is the same data as a plain PyTorch ``Dataset`` for users' own loops. Both
read with :class:`~ecgcwt.image_reader.ChunkReader` (raw chunk reads and
parallel inflation; h5py fancy indexing was 60-180x slower).

The HDF5 file is opened read-only on first use in each process and reopened
when the process id changes: an h5py handle inherited through ``fork`` by a
DataLoader worker is not safe to use, and a handle cannot be pickled for
``spawn`` workers, so :class:`ScalogramDataset` holds none when it is copied.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from .errors import DataError
from .feeding import roll_columns
from .image_reader import ChunkReader
from .segment_store import decode_str, table_from_group


@dataclass(frozen=True)
class ScalogramInfo:
    """What a reader needs to know about a scalogram cache, without its images."""

    n_images: int
    height: int
    width: int
    classes: tuple[str, ...]
    attrs: dict


def read_scalogram_info(path: str | os.PathLike) -> ScalogramInfo:
    """Check that ``path`` is a scalogram cache and return its shape, classes and attributes."""
    path = Path(path)
    with _open_cache(path) as f:
        if "images" not in f or "table" not in f:
            raise DataError(f"{str(path)!r} is not a scalogram cache: it lacks /images or /table")
        images = f["images"]
        if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
            raise DataError(f"{str(path)!r}: /images must be uint8 (N, H, W, 3), found {images.dtype} {images.shape}")
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
        classes = tuple(decode_str(c) for c in f.attrs.get("classes", []))
        if not classes:
            raise DataError(f"{str(path)!r}: root attribute 'classes' is missing or empty")
        n, h, w, _ = images.shape
    return ScalogramInfo(n_images=int(n), height=int(h), width=int(w), classes=classes, attrs=attrs)


def read_scalogram_table(path: str | os.PathLike) -> pd.DataFrame:
    """The segment table stored beside the images (row ``i`` describes ``/images[i]``)."""
    with _open_cache(path) as f:
        try:
            table = table_from_group(f["table"])
            n = f["images"].shape[0]
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(
                f"cannot read the segment table of {str(path)!r} ({exc}); the file is damaged: {_REBUILD}"
            ) from exc
    if len(table) != n:
        raise DataError(f"{str(path)!r}: table has {len(table)} rows but /images has {n}")
    return table


_REBUILD = "rebuild it with `snakemake --forcerun scalograms`"


def _open_cache(path: str | os.PathLike) -> h5py.File:
    """Open a scalogram cache read-only; a truncated or damaged file is a DataError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"scalogram cache {str(path)!r} does not exist; run the scalograms step first")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(
            f"cannot open scalogram cache {str(path)!r} ({exc}); the file is truncated or damaged "
            f"(an interrupted copy or a full disk?): {_REBUILD}"
        ) from exc


class ScalogramDataset(Dataset):
    """Images ``rows`` of a scalogram cache as normalised float CHW tensors with their labels.

    ``rows`` index ``/images``; ``label_index`` gives each one's class index.
    ``mean``/``std`` normalise [0, 1] RGB per channel (the backbone's weights'
    normalisation). ``augment`` applies a random circular shift along the time
    axis (image columns): a rhythm does not depend on where the window starts,
    while flips or vertical shifts would change frequency or time direction.

    Item ``i`` is ``(image, label, row)``. :meth:`__getitems__` reads a whole
    batch in one HDF5 call and returns it already stacked; use it through
    :func:`make_loader`.
    """

    def __init__(
        self,
        h5_path: str | os.PathLike,
        rows: Sequence[int],
        label_index: Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        augment: bool = False,
    ) -> None:
        self.h5_path = str(h5_path)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = np.asarray(label_index, dtype=np.int64)
        if self.rows.shape != self.labels.shape or self.rows.ndim != 1:
            raise ValueError(f"rows ({self.rows.shape}) and label_index ({self.labels.shape}) must be equal-length 1-D")
        if len(self.rows) and self.rows.min() < 0:
            raise DataError(f"{self.h5_path!r}: negative image row requested")
        self.mean = torch.tensor([float(m) for m in mean], dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor([float(s) for s in std], dtype=torch.float32).view(1, 3, 1, 1)
        self.augment = bool(augment)
        self._file: ChunkReader | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        x, y, r = self.__getitems__([i])
        return x[0], int(y[0]), int(r[0])

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Read items ``indices`` as one batch: ``(images (B,3,H,W), labels (B,), rows (B,))``."""
        idx = np.asarray(indices, dtype=np.int64)
        rows = self.rows[idx]
        x = torch.from_numpy(self._reader().read(rows))  # (B, H, W, 3) uint8, in batch order
        if self.augment:  # a random number of columns (time steps) per image
            x = roll_columns(x, torch.randint(0, x.shape[2], (x.shape[0],)))
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        x = x.sub_(self.mean).div_(self.std)
        return x.contiguous(), torch.from_numpy(self.labels[idx]), torch.from_numpy(rows)

    def _reader(self) -> ChunkReader:
        if self._file is None or self._pid != os.getpid():
            self._file = ChunkReader(self.h5_path)
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
        self._pid = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: h5py may already be gone
            pass


def make_loader(
    dataset: ScalogramDataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader that fetches whole batches through :meth:`ScalogramDataset.__getitems__`.

    The order is drawn from a generator seeded with ``seed`` (give a different
    seed per epoch), so it does not depend on the global RNG, on workers, or on
    whether training was resumed.
    """
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return DataLoader(
        dataset,
        batch_size=int(batch_size),
        shuffle=shuffle,
        generator=generator,
        num_workers=int(num_workers),
        collate_fn=_already_batched,
        drop_last=drop_last,
        persistent_workers=False,
    )


def _already_batched(batch):
    """``__getitems__`` returns a stacked batch; nothing left to collate."""
    return batch


def _plain(v):
    """HDF5 attribute value as plain Python (for JSON metadata and hashing)."""
    if isinstance(v, np.ndarray):
        return [decode_str(x) if isinstance(x, (bytes, str)) else x.item() for x in v.ravel()]
    if isinstance(v, np.generic):
        return v.item()
    return decode_str(v) if isinstance(v, bytes) else v
