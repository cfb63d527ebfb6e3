"""The segment store ``segments.h5``: fixed-length ECG windows and their table.

Layout (one writer, any number of read-only readers):

``/signals``
    float32, shape (n_segments, window), one chunk per block of rows; the
    resampled, un-normalised signal in the record's physical units (mV).
    Each chunk carries HDF5's Fletcher-32 checksum (of its compressed bytes),
    which HDF5 checks on every read: a damaged chunk is an error
    (:func:`iter_signal_batches` names the file and the rebuild command),
    never wrong samples.
``/table/<column>``
    one 1-D dataset per column of :data:`TABLE_COLUMNS`, row ``i`` describes
    ``signals[i]``. Strings are stored as UTF-8 variable-length strings.
attributes on ``/``
    ``fs`` (Hz), ``window`` and ``hop`` (samples at ``fs``), ``classes``
    (class names, in label-index order), ``ecgcwt_version``.

The table is small (a few columns per window) and is read whole into pandas;
the signals are only ever read in slices, so memory stays bounded. Written
whole from arrays (:func:`write_segment_store`) or record by record
(:class:`SegmentStoreWriter`, what the segment step does: memory one chunk of
windows), the two give the same datasets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import h5py
import numpy as np
import pandas as pd

from ecgcwt import __version__
from ecgcwt.atomic import atomic_path, hdf5_writer
from ecgcwt.errors import DataError

#: How to rebuild a damaged or inconsistent segment store.
SEGMENTS_REBUILD = "rebuild it with `snakemake --forcerun segment`"

#: Columns of the segment table, with their numpy kinds ("str" or a dtype).
TABLE_COLUMNS: dict[str, str] = {
    "segment": "int64",  # row number in /signals, kept explicit for joins after filtering
    "db": "str",  # database name, e.g. "mitdb"
    "record": "str",  # record name inside the database, e.g. "100"
    "subject": "str",  # person id; both leads of a record and known duplicates share it
    "recording": "str",  # "{db}/{record}/{lead}": one lead of one record
    "lead": "int64",  # channel index in the WFDB record
    "lead_name": "str",  # channel name from the header, e.g. "MLII"
    "start": "int64",  # first sample of the window, at the target rate fs
    "label": "str",  # class name, e.g. "ARR"
    "label_index": "int64",  # position of label in the file's ``classes`` attribute
}

#: HDF5 type of every string this package stores (variable-length UTF-8).
STR_DTYPE = h5py.string_dtype("utf-8")


@dataclass(frozen=True)
class SegmentStoreInfo:
    fs: float
    window: int
    hop: int
    classes: tuple[str, ...]
    n_segments: int


def write_segment_store(
    path: str | os.PathLike,
    signals: np.ndarray,
    table: pd.DataFrame,
    *,
    fs: float,
    window: int,
    hop: int,
    classes: Sequence[str],
    extra_attrs: dict | None = None,
) -> None:
    """Write signals and table atomically to ``path``."""
    signals = np.asarray(signals, dtype=np.float32)
    if signals.ndim != 2 or signals.shape[1] != window:
        raise ValueError(f"signals must have shape (n, {window}), got {signals.shape}")
    if len(table) != len(signals):
        raise ValueError(f"table has {len(table)} rows but there are {len(signals)} signals")
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"segment table lacks columns {missing}")
    with atomic_path(path, suffix=".h5.tmp") as tmp:
        with hdf5_writer(tmp) as f:
            rows = max(1, min(len(signals), signal_chunk_rows(window)))
            f.create_dataset(
                "signals",
                data=signals,
                chunks=(rows, window) if len(signals) else None,
                compression="gzip" if len(signals) else None,
                compression_opts=1 if len(signals) else None,
                shuffle=bool(len(signals)),
                fletcher32=bool(len(signals)),
            )
            _write_table_and_attrs(f, table, fs, window, hop, classes, extra_attrs)


def signal_chunk_rows(window: int) -> int:
    """Rows per chunk of ``/signals`` in a store of at least that many rows: 1 MiB of float32 windows."""
    return max(1, (1 << 20) // (4 * int(window)))


class SegmentStoreWriter:
    """Append windows to ``/signals`` of an open, new file, record by record; the table and attributes last.

    Memory is one chunk of windows (1 MiB), whatever the number of records:
    rows are buffered until a chunk is full and written as whole chunks. The
    file it gives is the one :func:`write_segment_store` writes from the same
    arrays (same values, dtype, chunk shape and filters; only ``/signals`` may
    grow, so its maximum shape is unlimited).
    """

    def __init__(self, f: h5py.File, window: int) -> None:
        self.f = f
        self.window = int(window)
        self.chunk_rows = signal_chunk_rows(window)
        self._buffer = np.empty((self.chunk_rows, self.window), np.float32)
        self._buffered = 0
        self._signals: h5py.Dataset | None = None  # created when the first chunk is full, or at finish
        self.n_rows = 0

    def append(self, windows: np.ndarray) -> None:
        """Windows (n, window) after the rows written so far."""
        windows = np.asarray(windows, dtype=np.float32)
        if windows.ndim != 2 or windows.shape[1] != self.window:
            raise ValueError(f"windows must have shape (n, {self.window}), got {windows.shape}")
        i = 0
        while i < len(windows):
            take = min(len(windows) - i, self.chunk_rows - self._buffered)
            self._buffer[self._buffered : self._buffered + take] = windows[i : i + take]
            self._buffered += take
            i += take
            if self._buffered == self.chunk_rows:
                self._flush()
        self.n_rows += len(windows)

    def _flush(self) -> None:
        if self._signals is None:
            rows = max(
                1, self._buffered
            )  # fewer rows than a chunk in all: one chunk of that many, as write_segment_store
            self._signals = self.f.create_dataset(
                "signals",
                shape=(0, self.window),
                maxshape=(None, self.window),
                dtype=np.float32,
                chunks=(min(rows, self.chunk_rows), self.window),
                compression="gzip",
                compression_opts=1,
                shuffle=True,
                fletcher32=True,
            )
        if self._buffered:
            start = self._signals.shape[0]
            self._signals.resize(start + self._buffered, axis=0)
            self._signals[start : start + self._buffered] = self._buffer[: self._buffered]
            self._buffered = 0

    def finish(
        self,
        table: pd.DataFrame,
        *,
        fs: float,
        hop: int,
        classes: Sequence[str],
        extra_attrs: dict | None = None,
    ) -> None:
        """The last rows, the table (one row per window appended, in order) and the root attributes."""
        if len(table) != self.n_rows:
            raise ValueError(f"table has {len(table)} rows but {self.n_rows} windows were appended")
        if self.n_rows == 0:
            self.f.create_dataset("signals", data=np.empty((0, self.window), np.float32))
        else:
            self._flush()
        _write_table_and_attrs(self.f, table, fs, self.window, hop, classes, extra_attrs)


def _write_table_and_attrs(f: h5py.File, table, fs, window, hop, classes, extra_attrs) -> None:
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"segment table lacks columns {missing}")
    write_table_group(f.create_group("table"), table)
    f.attrs["fs"] = float(fs)
    f.attrs["window"] = int(window)
    f.attrs["hop"] = int(hop)
    f.attrs.create("classes", np.array([str(c) for c in classes], dtype=object), dtype=STR_DTYPE)
    f.attrs["ecgcwt_version"] = __version__
    for k, v in (extra_attrs or {}).items():
        f.attrs[k] = v


def read_info(path: str | os.PathLike) -> SegmentStoreInfo:
    with h5py.File(path, "r") as f:
        return SegmentStoreInfo(
            fs=float(f.attrs["fs"]),
            window=int(f.attrs["window"]),
            hop=int(f.attrs["hop"]),
            classes=tuple(decode_str(c) for c in f.attrs["classes"]),
            n_segments=int(f["signals"].shape[0]),
        )


def read_source_facts(path: str | os.PathLike) -> dict:
    """What a model trained on this store must record to cut new recordings alike (``model file meta``).

    ``{"preprocessing": ...}`` (:func:`ecgcwt.data.settings.preprocessing_from_attrs`: rate, window,
    leads, quality limits) and ``{"data_source": ...}`` (synthetic, a local folder, PhysioNet; "unknown"
    for a store written without it).
    """
    from ecgcwt.data.settings import preprocessing_from_attrs

    with h5py.File(path, "r") as f:
        attrs = {k: (decode_str(v) if isinstance(v, bytes) else v) for k, v in f.attrs.items() if k != "classes"}
    # plain values only: a model.pt is read back with torch.load(weights_only=True)
    return {"preprocessing": preprocessing_from_attrs(attrs), "data_source": str(attrs.get("data_source", "unknown"))}


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read the whole segment table (small) as a DataFrame, one row per segment."""
    with h5py.File(path, "r") as f:
        return table_from_group(f["table"])


def table_from_group(g: h5py.Group) -> pd.DataFrame:
    data = {}
    for col, kind in TABLE_COLUMNS.items():
        arr = g[col][()]
        data[col] = [decode_str(v) for v in arr] if kind == "str" else arr.astype(kind)
    return pd.DataFrame(data)


def write_table_group(g: h5py.Group, table: pd.DataFrame) -> None:
    """Copy a segment table into an HDF5 group (used by other caches to keep it alongside)."""
    for col, kind in TABLE_COLUMNS.items():
        values = table[col].to_numpy()
        if kind == "str":
            g.create_dataset(col, data=np.array([str(v) for v in values], dtype=object), dtype=STR_DTYPE)
        else:
            g.create_dataset(col, data=values.astype(kind))


def iter_signal_batches(
    path: str | os.PathLike, batch_size: int, rows: Sequence[int] | np.ndarray | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(row_indices, signals)`` in batches without loading the whole store."""
    with h5py.File(path, "r") as f:
        ds = f["signals"]
        idx = np.arange(ds.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
        for i in range(0, len(idx), batch_size):
            b = idx[i : i + batch_size]
            try:
                if len(b) and np.all(np.diff(b) == 1):
                    block = ds[int(b[0]) : int(b[-1]) + 1]
                else:
                    block = np.stack([ds[int(j)] for j in b]) if len(b) else np.empty((0, ds.shape[1]), np.float32)
            except OSError as exc:  # HDF5's checksum or decompression of a damaged chunk
                raise DataError(
                    f"segment store {str(path)!r}: windows {int(b[0])}..{int(b[-1])} cannot be read ({exc}); the "
                    f"file is damaged: {SEGMENTS_REBUILD}"
                ) from exc
            yield b, block


def decode_str(v) -> str:
    """An HDF5 string value (bytes or str) as str."""
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)
