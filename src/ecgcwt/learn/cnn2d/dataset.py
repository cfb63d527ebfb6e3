"""Read scalogram images from ``scalograms.h5`` for training and inference.

``/images`` is uint8 colour indices (N, H, W), one gzip chunk per image, and
``/colormap`` the (K, 3) table that makes them RGB. The training
loop feeds batches through :mod:`ecgcwt.learn.cnn2d.feeding`; :class:`ScalogramDataset`
is the same data as a plain PyTorch ``Dataset`` for users' own loops. Both
read with :class:`~ecgcwt.imaging.reader.ChunkReader` (raw chunk reads and
parallel inflation; h5py fancy indexing was 60-180x slower).

The HDF5 file is opened read-only on first use in each process and reopened
when the process id changes: an h5py handle inherited through ``fork`` by a
DataLoader worker is not safe to use, and a handle cannot be pickled for
``spawn`` workers, so :class:`ScalogramDataset` holds none when it is copied.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ecgcwt.errors import DataError
from ecgcwt.imaging import ChunkReader, apply_colormap
from ecgcwt.learn.cnn2d.feeding import roll_columns


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
        rows: Sequence[int] | np.ndarray,
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
        reader = self._reader()
        x = torch.from_numpy(reader.read(rows))  # (B, H, W) uint8 colour indices, in batch order
        if self.augment:  # a random number of columns (time steps) per image
            x = roll_columns(x, torch.randint(0, x.shape[2], (x.shape[0],)))
        x = apply_colormap(x, torch.from_numpy(reader.colormap))  # (B, H, W, 3) uint8 RGB
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
