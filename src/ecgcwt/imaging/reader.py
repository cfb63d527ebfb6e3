"""Random access to the images of ``scalograms.h5`` at the speed of the disk and zlib.

The cache stores one uint8 colour-index image per HDF5 chunk, compressed with
Zstandard or deflate (by default as row-to-row differences,
:data:`~ecgcwt.imaging.format.ROW_DELTA_CODECS`, decoded here by a cumulative
sum after decompression), and
the colour table beside them (``/colormap``); readers return index images
and the table, and the RGB image is ``colormap[index]``, applied where the
batch is assembled. A cache of the older RGB format is refused with
:data:`~ecgcwt.imaging.format.OLD_RGB_CACHE`. (Measurements below were made
on the RGB format; the code path is the same.) Reading a
batch of rows through h5py's fancy indexing (``images[sorted_rows]``) goes
through HDF5's selection machinery and its single-threaded filter: measured
on a 2-core machine, 306 ms for 32 images of 224 px, against 4.6 ms for 32
single-image reads and 1.7 ms for 32 raw chunk reads. So this reader fetches
each row's compressed chunk as raw bytes (``read_direct_chunk``, which holds
h5py's lock only for the read) and decompresses the batch in a thread pool
(``zlib`` and ``zstandard`` release the GIL), writing straight into the caller's
array; HDF5's Zstd filter plugin is not needed.

A cache laid out otherwise (no compression, LZF or other filters, several
images per chunk) is read image by image with ``read_direct``; slower, never wrong.
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence, TypeVar

import h5py
import numpy as np
import pandas as pd
import torch

from ecgcwt.data import decode_str, table_from_group
from ecgcwt.errors import DataError
from ecgcwt.imaging.format import CACHE_CODECS, CACHE_FORMAT, OLD_RGB_CACHE, ROW_DELTA_CODECS, ZSTD_FILTER_ID

T = TypeVar("T")

_REBUILD = "rebuild it with `snakemake --forcerun scalograms`"


def check_cache_format(path: str | os.PathLike, f: h5py.File) -> None:
    """DataError unless ``f`` is a scalogram cache of this format (index images and a colour table)."""
    images = f["images"] if "images" in f else None
    fmt = f.attrs.get("cache_format")
    if images is not None and images.ndim == 4 and images.shape[3] == 3 and fmt is None:
        raise DataError(f"scalogram cache {str(path)!r} was {OLD_RGB_CACHE}")
    if fmt is None or int(fmt) != CACHE_FORMAT:
        by = (
            ""
            if fmt is None
            else (" (built by an older ecgcwt)" if int(fmt) < CACHE_FORMAT else " (built by a newer ecgcwt)")
        )
        raise DataError(
            f"scalogram cache {str(path)!r} has format {fmt if fmt is not None else 'unknown'}{by}, this ecgcwt reads "
            f"format {CACHE_FORMAT}; delete results/scalograms/ and rerun"
        )
    codec = f.attrs.get("codec")
    if codec is not None and decode_str(codec) not in CACHE_CODECS:
        raise DataError(
            f"scalogram cache {str(path)!r} has codec {decode_str(codec)!r}, this ecgcwt reads "
            f"{', '.join(sorted(CACHE_CODECS))}; delete results/scalograms/ and rerun"
        )
    if images is None or images.ndim != 3 or images.dtype != np.uint8:
        found = "none" if images is None else f"{images.dtype} {images.shape}"
        raise DataError(f"{str(path)!r}: /images must be uint8 colour indices (N, H, W), found {found}; {_REBUILD}")
    cmap = f["colormap"] if "colormap" in f else None
    if cmap is None or cmap.ndim != 2 or cmap.shape[1] != 3 or cmap.dtype != np.uint8 or not 1 <= cmap.shape[0] <= 256:
        raise DataError(f"{str(path)!r}: /colormap must be a uint8 (colors, 3) table; {_REBUILD}")
    problem = _parts_problem(f)
    if problem:
        raise DataError(f"scalogram cache {str(path)!r} is inconsistent: {problem}; {_REBUILD}")


def check_cache_settings(path: str | os.PathLike, cwt_cfg: Mapping) -> None:
    """DataError unless the cache at ``path`` was built with the ``cwt:`` settings ``cwt_cfg`` of this run.

    Snakemake rebuilds the cache when a setting changes (a parameter of its
    rule), but not with ``--rerun-triggers mtime`` or a cache copied from
    another run: a training job checks, so its model never carries settings
    other than the run's.
    """
    from ecgcwt.config import validate_section
    from ecgcwt.imaging.image import image_to_attrs
    from ecgcwt.imaging.settings import CwtParams

    cfg = validate_section("cwt", dict(cwt_cfg))
    want = {**CwtParams.from_config(cfg).to_attrs(), **image_to_attrs(cfg["image"])}
    with _open_cache(path) as f:
        check_cache_format(path, f)
        have = {k: _plain(f.attrs[k]) for k in want if k in f.attrs}
    for key, value in want.items():
        stored = have.get(key)
        same = stored == value if not isinstance(value, float) else stored is not None and abs(stored - value) <= 1e-9
        if not same:
            raise DataError(
                f"scalogram cache {str(path)!r} was built with {key} {stored!r}, this run's cwt settings give "
                f"{value!r}; {_REBUILD}"
            )


def attrs_checksum(attrs) -> int:
    """CRC-32 of every root attribute but itself (names and values, in name order).

    The cache stores it as ``attrs_checksum`` when it is built; an attribute
    edited or damaged afterwards (``fs``, ``wavelet``, ``classes``...) no longer
    matches, and the cache is refused before its settings reach a model file.
    """
    items = {k: _plain(v) for k, v in attrs.items() if k != "attrs_checksum"}
    return zlib.crc32(json.dumps(items, sort_keys=True, default=str).encode("utf-8"))


def _parts_problem(f: h5py.File) -> str | None:
    """What in a cache of this format contradicts the rest (its attributes, images, colour table, checksums)."""
    from ecgcwt.imaging.image import image_colormap, image_from_attrs
    from ecgcwt.imaging.settings import CwtParams

    n, h, w = f["images"].shape
    sums = f["checksums"] if "checksums" in f else None
    if sums is None or sums.shape != (n,) or sums.dtype != np.uint32:
        found = "none" if sums is None else f"{sums.dtype} {sums.shape}"
        return f"/checksums must be uint32 ({n},), one per image, found {found}"
    stored = f.attrs.get("attrs_checksum")
    if stored is None or int(stored) != attrs_checksum(f.attrs):
        return "its attributes were changed after it was built (attrs_checksum does not match them)"
    try:
        CwtParams.from_attrs(f.attrs)
        image = image_from_attrs(f.attrs)
    except ValueError as exc:
        return f"its settings: {exc}"
    if image["size"] != h or image["size"] != w:
        return f"image_size is {image['size']} but /images holds {h} x {w} images"
    if not np.array_equal(f["colormap"][:], image_colormap(image["mode"], image["colors"])):
        return (
            f"/colormap is not the colour table its image_mode {image['mode']!r} and colors {image['colors']} give "
            "(training and predict colour images with that table)"
        )
    classes = [decode_str(c) for c in f.attrs.get("classes", [])]
    if not classes or len(set(classes)) != len(classes):
        return f"its classes attribute {classes} must list distinct class names"
    return None


def read_colormap(path: str | os.PathLike) -> np.ndarray:
    """The cache's (K, 3) uint8 colour table: RGB image = ``colormap[images[i]]``."""
    with _open_cache(path) as f:
        check_cache_format(path, f)
        return f["colormap"][:]


def row_delta_encode(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W) -> its row-to-row differences (row 0 as is), modulo 256."""
    d = np.empty_like(image)
    d[0] = image[0]
    np.subtract(image[1:], image[:-1], out=d[1:])
    return d


def row_delta_decode(deltas: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The inverse of :func:`row_delta_encode` (a uint8 cumulative sum down the rows), into ``out`` if given.

    The sum is torch's: it releases the GIL, so the reader's decoding threads
    run it in parallel (numpy's held it: on 2 cores, 2 threads decoded 224-px
    images at 13,400/s with torch against 6,600/s with numpy).
    """
    deltas = np.asarray(deltas, dtype=np.uint8)
    if out is None:
        out = np.empty(deltas.shape, dtype=np.uint8)
    if not deltas.flags.writeable:  # e.g. a view of decompressed bytes; torch wants writable memory
        deltas = deltas.copy()
    torch.cumsum(torch.from_numpy(deltas), dim=-2, dtype=torch.uint8, out=torch.from_numpy(out))
    return out


try:
    from zstandard import ZstdError as _ZstdError
except ImportError:  # pragma: no cover - zstandard is a dependency; without it only deflate caches are read

    class _ZstdError(Exception):
        pass


def per_thread(make: Callable[[], T]) -> Callable[[], T]:
    """A getter of one ``make()`` per calling thread: a zstd context must not be shared between threads."""
    local = threading.local()

    def get() -> T:
        obj = getattr(local, "obj", None)
        if obj is None:
            obj = local.obj = make()
        return obj

    return get


def _zstd_decompressor(image_bytes: int) -> Callable[[bytes], bytes]:
    """``decompress(frame) -> bytes`` of at most ``image_bytes``, callable from several threads (one context each)."""
    try:
        import zstandard
    except ImportError as exc:
        raise DataError(
            "this scalogram cache is compressed with Zstandard; install the zstandard package "
            "(pip install zstandard) or rebuild the cache"
        ) from exc
    context = per_thread(zstandard.ZstdDecompressor)
    return lambda data: context().decompress(data, max_output_size=image_bytes)


class ChunkReader:
    """Read rows of ``/images`` (uint8 colour indices, N x H x W) into numpy arrays.

    ``colormap`` is the cache's (K, 3) uint8 table; ``image_shape`` is (H, W).

    ``threads`` decompress chunks in parallel (1: inline, no pool). The file is
    opened read-only here and closed by :meth:`close` (or ``with``). One
    reader belongs to one process; it is not shared across ``fork``.

    Opening checks the cache's parts against each other (:func:`check_cache_format`);
    every read checks each chunk's CRC-32 against ``/checksums``: a damaged
    image is a :class:`DataError` naming the file, the image and the command
    that rebuilds the cache. (The checksum holds the bytes the build wrote, and
    the build writes indices below ``colors``; the device-side colouring
    reports an index past the table, :meth:`index_error`, without a per-image
    scan here.) ``verify=False`` skips the per-read check (for
    ``benchmarks/bench_cache.py``, which measures its cost).
    """

    def __init__(self, path: str | os.PathLike, threads: int = 1, *, verify: bool = True) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"scalogram cache {str(self.path)!r} does not exist; run the scalograms step first")
        try:
            self._file = h5py.File(self.path, "r")
            self._images = self._file["images"]
        except (OSError, KeyError) as exc:
            raise DataError(f"cannot read images of {str(self.path)!r} ({exc}); {_REBUILD}") from exc
        try:
            check_cache_format(self.path, self._file)
        except DataError:
            self._file.close()
            raise
        from ecgcwt.imaging.image import image_colormap, image_from_attrs

        # the table of the cache's image settings (equal to its /colormap, checked above): the one predict uses
        image = image_from_attrs(self._file.attrs)
        self.colormap = image_colormap(image["mode"], image["colors"])
        self.verify = bool(verify)
        self._checksums = self._file["checksums"][:]
        codec = self._file.attrs.get("codec")
        # stored as row deltas (format 3's rowdelta codecs): decoded after decompression
        self.row_delta = codec is not None and decode_str(codec) in ROW_DELTA_CODECS
        n, h, w = self._images.shape
        self.n_images, self.image_shape = int(n), (int(h), int(w))
        self.image_bytes = h * w
        self._decompress = self._raw_chunk_decoder()
        self.raw_chunks = self._decompress is not None
        # filter_mask has one bit per filter of the pipeline, in order: the compressor is the last one
        plist = self._images.id.get_create_plist()
        self._compressor_bit = 1 << max(0, plist.get_nfilters() - 1)
        self.threads = max(1, int(threads))
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 and self.raw_chunks else None

    def _raw_chunk_decoder(self):
        """``decompress(bytes) -> bytes`` when every chunk is one image compressed by deflate or Zstandard alone
        (the cache's own layouts), else None (read through HDF5's filters).

        Shuffle before deflate is accepted: on 1-byte elements it is the identity.
        """
        ds = self._images
        if ds.chunks != (1, *self.image_shape) or ds.dtype != np.uint8:
            return None
        plist = ds.id.get_create_plist()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        if filters in ([h5py.h5z.FILTER_DEFLATE], [h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_DEFLATE]):
            return lambda data: zlib.decompress(data, bufsize=self.image_bytes)
        if filters == [ZSTD_FILTER_ID]:
            return _zstd_decompressor(self.image_bytes)
        return None

    def read(self, rows: Sequence[int] | np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Index images ``rows`` (any order, repeats allowed) as uint8 ``(len(rows), H, W)``; into ``out`` if given."""
        rows = np.asarray(rows, dtype=np.int64)
        if out is None:
            out = np.empty((len(rows), *self.image_shape), dtype=np.uint8)
        if len(rows) == 0:
            return out
        if rows.min() < 0 or rows.max() >= self.n_images:
            bad = int(rows.max() if rows.max() >= self.n_images else rows.min())
            raise DataError(f"{str(self.path)!r}: image row {bad} requested, the cache has {self.n_images}")
        if not self.raw_chunks:
            for i, r in enumerate(rows):
                if self.verify:  # the checksum of the chunk holding the row
                    self._check_sum(int(r), self._read_chunk(int(r) - int(r) % self._images.chunks[0])[1])
                self._images.read_direct(out, np.s_[int(r) : int(r) + 1], np.s_[i : i + 1])
                if self.row_delta:
                    row_delta_decode(out[i].copy(), out=out[i])
            return out
        chunks = [self._read_chunk(int(r)) for r in rows]  # h5py holds its lock here; cheap
        flat = out.reshape(len(rows), -1)
        jobs = [(flat[i], r, mask, data) for i, (r, (mask, data)) in enumerate(zip(rows, chunks))]
        if self._pool is None:
            for job in jobs:
                self._decode(*job)
        else:
            # in contiguous slices, one per thread: fewer tasks, same parallelism
            step = -(-len(jobs) // self.threads)
            list(self._pool.map(self._decode_many, [jobs[i : i + step] for i in range(0, len(jobs), step)]))
        return out

    def _read_chunk(self, row: int) -> tuple[int, bytes]:
        try:
            return self._images.id.read_direct_chunk((row, 0, 0))
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(
                f"{str(self.path)!r}: image {row} cannot be read ({exc}); the file is damaged: {_REBUILD}"
            ) from exc

    def _decode_many(self, jobs) -> None:
        for job in jobs:
            self._decode(*job)

    def _check_sum(self, row: int, data: bytes) -> None:
        if zlib.crc32(data) != int(self._checksums[row]):
            raise DataError(
                f"{str(self.path)!r}: image {row} is damaged (its bytes do not match the checksum stored when the "
                f"cache was built); {_REBUILD}"
            )

    def index_error(self, found: int) -> DataError:
        """The error for a colour index ``found`` at or past the table's length in an image of this cache."""
        return DataError(
            f"{str(self.path)!r}: an image holds colour index {found}, the colour table has {len(self.colormap)} "
            f"colours; the file is damaged: {_REBUILD}"
        )

    def _decode(self, dest: np.ndarray, row, filter_mask: int, data: bytes) -> None:
        if self.verify:
            self._check_sum(int(row), data)
        try:
            # the compressor's bit set in filter_mask: HDF5 stored this chunk uncompressed
            raw = data if filter_mask & self._compressor_bit else self._decompress(data)
        except (zlib.error, _ZstdError) as exc:
            raise DataError(f"{str(self.path)!r}: image {int(row)} is corrupt ({exc}); {_REBUILD}") from exc
        if len(raw) != self.image_bytes:
            raise DataError(
                f"{str(self.path)!r}: image {int(row)} holds {len(raw)} bytes, expected {self.image_bytes}; {_REBUILD}"
            )
        if self.row_delta:
            row_delta_decode(
                np.frombuffer(raw, dtype=np.uint8).reshape(self.image_shape), out=dest.reshape(self.image_shape)
            )
        else:
            dest[:] = np.frombuffer(raw, dtype=np.uint8)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "ChunkReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
        check_cache_format(path, f)
        images = f["images"]
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
        classes = tuple(decode_str(c) for c in f.attrs.get("classes", []))
        if not classes:
            raise DataError(f"{str(path)!r}: root attribute 'classes' is missing or empty")
        n, h, w = images.shape
    return ScalogramInfo(n_images=int(n), height=int(h), width=int(w), classes=classes, attrs=attrs)


def read_scalogram_table(path: str | os.PathLike) -> pd.DataFrame:
    """The segment table stored beside the images (row ``i`` describes ``/images[i]``)."""
    with _open_cache(path) as f:
        check_cache_format(path, f)
        try:
            table = table_from_group(f["table"])
            n = f["images"].shape[0]
            classes = [decode_str(c) for c in f.attrs.get("classes", [])]
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(
                f"cannot read the segment table of {str(path)!r} ({exc}); the file is damaged: {_REBUILD}"
            ) from exc
    if len(table) != n:
        raise DataError(f"{str(path)!r}: table has {len(table)} rows but /images has {n}; {_REBUILD}")
    problem = label_problem(table, classes)
    if problem:
        raise DataError(f"scalogram cache {str(path)!r} is inconsistent: {problem}; {_REBUILD}")
    return table


def label_problem(table: pd.DataFrame, classes: Sequence[str]) -> str | None:
    """Where a segment table's ``label_index`` is not the position of its ``label`` in ``classes``, or None."""
    position = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(table["label"]) - set(position))
    if unknown:
        shown = ", ".join(map(repr, unknown[:5])) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        return f"/table/label holds {shown}, not in the classes attribute {list(classes)}"
    want = table["label"].map(position).to_numpy()
    bad = np.flatnonzero(want != table["label_index"].to_numpy())
    if len(bad):
        i = int(bad[0])
        return (
            f"/table/label_index disagrees with /table/label in {len(bad)} row(s) (row {i}: label "
            f"{table['label'].iloc[i]!r}, label_index {int(table['label_index'].iloc[i])}, classes {list(classes)})"
        )
    return None


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


def read_scalogram_attrs(path: str | os.PathLike) -> dict:
    """Root attributes of a scalogram cache as plain Python / numpy values."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"scalogram cache {path} does not exist; build it with the scalograms step")
    with _open_cache(path) as f:
        check_cache_format(path, f)
        out = {}
        for k, v in f.attrs.items():
            if isinstance(v, bytes):
                v = v.decode("utf-8")
            elif isinstance(v, np.ndarray) and v.dtype.kind in "OS":
                v = tuple(x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in v)
            elif isinstance(v, np.generic):
                v = v.item()
            out[k] = v
        out["n_images"] = int(f["images"].shape[0])
    return out


def _plain(v):
    """HDF5 attribute value as plain Python (for JSON metadata and hashing)."""
    if isinstance(v, np.ndarray):
        return [decode_str(x) if isinstance(x, (bytes, str)) else x.item() for x in v.ravel()]
    if isinstance(v, np.generic):
        return v.item()
    return decode_str(v) if isinstance(v, bytes) else v
