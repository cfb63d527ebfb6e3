"""The scalogram cache ``scalograms.h5``: one uint8 CWT image per segment.

Layout (the contract with training; one writer, read-only readers):

``/images``
    uint8 colour indices (N, H, W), chunks (1, H, W) (one image per chunk, so a
    random read decompresses exactly one image), compressed with
    :data:`~ecgcwt.imaging.format.DEFAULT_CODEC` (chosen by
    ``benchmarks/bench_cache.py``): each image stored as its row-to-row
    differences, then Zstandard level 3 (HDF5 filter 32015); read the images
    through :class:`~ecgcwt.imaging.reader.ChunkReader`, which decodes them
    (with h5py: ``import hdf5plugin`` for the filter, then
    ``numpy.cumsum(images[i], axis=0, dtype=numpy.uint8)``). The RGB image is
    ``colormap[index_image]``, applied where the batch is assembled (on the training device): a third of
    the bytes of the RGB images the format-1 cache stored.
``/colormap``
    uint8 (K, 3): the colour table (``jet(colors)`` rounded, or 256 greys for
    ``gray3``; :func:`~ecgcwt.imaging.image.image_colormap`).
``/checksums``
    uint32 (N,): the CRC-32 (``zlib.crc32``) of each image's chunk as stored
    (compressed), checked by :class:`~ecgcwt.imaging.reader.ChunkReader` on
    every read, so a damaged chunk is an error naming the file, never a
    plausible wrong image (``benchmarks/bench_cache.py`` measures the cost).
``/table``
    the segment table of ``segments.h5`` (same row order as /images), copied
    with :func:`write_table_group`.
root attributes
    every CWT parameter (wavelet, morse_gamma, morse_time_bandwidth,
    amor_omega0, voices_per_octave, fmin_hz, fmax_hz, boundary, image_size,
    image_mode, colors, log), ``cache_format`` (:data:`~ecgcwt.imaging.format.CACHE_FORMAT`),
    ``codec``, ``frequencies`` (float64 Hz, high to low = image
    row order), ``fs``, ``window``, ``classes``, ``ecgcwt_version``; ``hop`` and the
    segment store's segmentation settings (``leads``, ``max_per_recording``,
    ``max_duration_s``, ``quality_*``: :data:`ecgcwt.data.settings.SEGMENT_ATTRS`),
    when it has them; also
    ``freq_limits_source`` ("matlab_default" or "config"), ``time_columns``
    (the signal samples the CWT was evaluated at before resizing) and ``n_fft``.

Written in batches (memory bounded by ``batch_size``, not by N) to a temporary
file beside the target, renamed when complete: a failed or killed build leaves
no file, or the previous complete one.
"""

from __future__ import annotations

import os
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Mapping

import h5py
import numpy as np
import torch

from ecgcwt import __version__
from ecgcwt.atomic import atomic_path, hdf5_writer
from ecgcwt.config import validate_section
from ecgcwt.data import STR_DTYPE, iter_signal_batches, read_info, read_table, write_table_group
from ecgcwt.errors import ConfigError, DataError
from ecgcwt.imaging.cwt import _PER_THREAD_INTRAOP, CwtParams, FilterBank
from ecgcwt.imaging.format import (
    CACHE_CODECS,
    CACHE_FORMAT,
    CHECKSUM_ALGORITHM,
    DEFAULT_CODEC,
    ROW_DELTA_CODECS,
    ZSTD_FILTER_ID,
)
from ecgcwt.imaging.image import image_colormap, image_to_attrs, scalogram_indices, validate_image_config
from ecgcwt.imaging.reader import attrs_checksum, label_problem, per_thread, row_delta_encode


def parse_cwt_config(cwt_cfg: Mapping) -> tuple[CwtParams, dict, int]:
    """Validate the ``cwt:`` mapping; return (transform params, image params, batch size).

    Keys, allowed values and defaults come from the config schema (one place);
    :class:`CwtParams` and :func:`validate_image_config` add the checks that
    need the values together. Raises :class:`ConfigError` naming the key.
    """
    if not isinstance(cwt_cfg, Mapping):
        raise ConfigError(f"cwt must be a mapping, got {type(cwt_cfg).__name__}")
    cfg = validate_section("cwt", cwt_cfg)
    params = CwtParams.from_config(cfg)
    image = cfg["image"]
    validate_image_config(image["size"], image["mode"], image["colors"], image["log"])
    return params, image, cfg["batch_size"]


def build_scalogram_cache(
    segments_h5: str | os.PathLike,
    out_h5: str | os.PathLike,
    cwt_cfg: Mapping,
    *,
    batch_size: int | None = None,
    threads: int | None = None,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    codec: str = DEFAULT_CODEC,
) -> Path:
    """Compute one scalogram image per segment of ``segments_h5`` into ``out_h5``.

    ``cwt_cfg`` is the ``cwt:`` mapping of config.yaml. ``batch_size`` (default:
    ``cwt_cfg["batch_size"]``, else 256) segments are transformed at a time;
    ``threads`` sets torch's intra-op threads for the call (restored after) and
    how many chunks of each batch the CPU transform runs at once (see
    :meth:`FilterBank.transform`'s ``workers``);
    ``progress(done, total)`` is called after every batch; ``codec`` is one of
    :data:`~ecgcwt.imaging.format.CACHE_CODECS`.
    """
    params, image, cfg_batch = parse_cwt_config(cwt_cfg)
    batch = cfg_batch if batch_size is None else int(batch_size)
    if batch < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    segments_h5, out_h5 = Path(segments_h5), Path(out_h5)
    if not segments_h5.exists():
        raise DataError(f"segment store {segments_h5} does not exist; run the segment step first")
    info = read_info(segments_h5)
    table = read_table(segments_h5)
    problem = label_problem(table, info.classes)
    if problem:
        raise DataError(
            f"segment store {str(segments_h5)!r} is inconsistent: {problem}; rebuild it with "
            "`snakemake --forcerun segment`"
        )
    if info.n_segments == 0:
        raise DataError(f"segment store {segments_h5} holds no segments; nothing to transform")

    previous_threads = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))
    try:
        fb = FilterBank(info.window, info.fs, params, device=device)
        size = int(image["size"])
        columns = fb.image_columns(size)
        with atomic_path(out_h5, suffix=".h5.tmp") as tmp:
            with hdf5_writer(tmp) as f:
                colormap = image_colormap(image["mode"], int(image["colors"]))
                workers = max(1, torch.get_num_threads())
                writer = IndexImageWriter(f, info.n_segments, size, colormap, codec=codec, workers=workers)
                write_table_group(f.create_group("table"), table)
                _write_attrs(f, fb, params, image, info, columns)
                _copy_segment_attrs(segments_h5, f)
                to_indices = lambda mag: scalogram_indices(
                    mag, size=size, mode=image["mode"], colors=int(image["colors"]), log=bool(image["log"])
                )
                batches = iter_signal_batches(segments_h5, batch)
                build = _build_on_cpu_workers if fb.device.type == "cpu" and _PER_THREAD_INTRAOP else _build_on_device
                with writer:
                    build(batches, fb, columns, to_indices, writer, workers, info.n_segments, progress)
                # last: any attribute changed after the build no longer matches it (checked by every reader)
                f.attrs["attrs_checksum"] = attrs_checksum(f.attrs)
    finally:
        torch.set_num_threads(previous_threads)
    return out_h5


def _as_signals(signals: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(signals, dtype=np.float32))


def _build_on_cpu_workers(batches, fb, columns, to_indices, writer, workers, total, progress) -> None:
    """Each of ``workers`` threads takes spans of a batch through every stage: CWT, image, encoding.

    One torch intra-op thread per worker, so the threads never wait on each
    other inside an op, and the main thread only reads signals and writes the
    encoded chunks; the next batch is queued before a batch is written, so the
    workers never wait on the writes. Measured on a 2-core Intel Xeon (20,000
    windows, 224 px, zstd, 3 interleaved rounds): 2,416-2,510 img/s with the
    stages one after another, each split over the threads (the CWT's chunks,
    torch's intra-op threads, the writer's pool), 2,581-2,609 img/s this way.
    Every image is computed the same way, so the cache does not depend on
    ``workers``.
    """

    def encode(signals: torch.Tensor) -> list:
        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)  # this thread's own count (OpenMP backend)
        with torch.inference_mode():
            return writer.encode(to_indices(fb.magnitude(signals, columns, workers=1)))

    done = 0
    with ThreadPoolExecutor(workers, thread_name_prefix="ecgcwt-cache") as pool:
        queued: deque = deque()
        for rows, signals in batches:
            x = _as_signals(signals)
            # at most _SPAN signals per task, and at least one task per worker
            span = max(1, min(_SPAN, -(-len(rows) // workers)))
            spans = [slice(i, i + span) for i in range(0, len(rows), span)]
            queued.append((rows, spans, [pool.submit(encode, x[sl]) for sl in spans]))
            if len(queued) > 1:
                done = _write_queued(queued.popleft(), writer, done, total, progress)
        while queued:
            done = _write_queued(queued.popleft(), writer, done, total, progress)


def _write_queued(item, writer, done: int, total: int, progress) -> int:
    rows, spans, futures = item
    for span, future in zip(spans, futures):
        writer.write_encoded(rows[span], future.result())  # raises the worker's error, if any
    done += len(rows)
    if progress is not None:
        progress(done, total)
    return done


def _build_on_device(batches, fb, columns, to_indices, writer, workers, total, progress) -> None:
    """The transform and images on ``fb``'s device, a batch at a time; encoding and writes on the CPU.

    A batch is compressed and written in the background while the next one is
    transformed (one batch in flight).
    """
    done = 0
    with torch.inference_mode(), ThreadPoolExecutor(1) as background:
        pending = None
        for rows, signals in batches:
            idx = to_indices(fb.magnitude(_as_signals(signals), columns, workers=workers))
            if pending is not None:
                pending.result()  # raises the write's error, if any
            pending = background.submit(writer.write, rows, idx)
            done += len(rows)
            if progress is not None:
                progress(done, total)
        if pending is not None:
            pending.result()


#: signals per task of a CPU worker: small enough to balance the threads, large
#: enough that a task's overhead (about 0.1 ms) is under 1% of its work
_SPAN = 32


class IndexImageWriter:
    """Creates ``/images`` (uint8 N x size x size, one image per chunk) and ``/colormap`` in an open file; writes rows.

    Deflate and Zstandard codecs compress each chunk here, in ``workers``
    threads (zlib and zstandard release the GIL), and write it as is
    (``write_direct_chunk``): for deflate the same bytes HDF5's gzip filter would
    produce (shuffle of 1-byte elements is the identity), for Zstandard one
    zstd frame per chunk, what HDF5's Zstd filter (id 32015) writes and reads;
    a row-delta codec (:data:`~ecgcwt.imaging.format.ROW_DELTA_CODECS`) first
    replaces each row by its difference to the row above. Other codecs go
    through HDF5's filter.
    """

    def __init__(
        self, f: h5py.File, n: int, size: int, colormap: np.ndarray, *, codec: str = DEFAULT_CODEC, workers: int = 1
    ) -> None:
        if codec not in CACHE_CODECS:
            raise ConfigError(f"unknown scalogram cache codec {codec!r}; choose one of {sorted(CACHE_CODECS)}")
        opts = CACHE_CODECS[codec]
        shape, chunks = (int(n), int(size), int(size)), (1, int(size), int(size))
        self._compress = None
        if opts.get("compression") == ZSTD_FILTER_ID:
            level = int(opts["compression_opts"][0])
            self._compress = _zstd_compressor(level)
            self.images = _create_zstd_dataset(f, "images", shape, chunks, level)
        else:
            if opts.get("compression") == "gzip":
                level = int(opts["compression_opts"])
                self._compress = lambda raw: zlib.compress(raw, level)
            self.images = f.create_dataset("images", shape=shape, dtype=np.uint8, chunks=chunks, **opts)
        f.create_dataset("colormap", data=np.asarray(colormap, dtype=np.uint8))
        f.attrs["cache_format"] = CACHE_FORMAT
        f.attrs["codec"] = codec
        self._row_delta = codec in ROW_DELTA_CODECS
        if self._row_delta and self._compress is None:
            raise ConfigError(f"codec {codec!r}: row deltas are written with deflate or Zstandard only")
        self._workers = max(1, int(workers))
        self._pool = ThreadPoolExecutor(self._workers) if self._compress is not None else None
        self._file = f
        # CRC-32 of each image's stored chunk, written as /checksums when every image is written
        self.checksums = np.zeros(shape[0], dtype=np.uint32)

    def write(self, rows, indices: np.ndarray) -> None:
        """Index images ``indices`` (len(rows), size, size) into rows ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        if self._pool is None:
            if len(rows) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
                self.images[int(rows[0]) : int(rows[0]) + len(rows)] = indices  # one call for a contiguous block
            else:
                for r, img in zip(rows, indices):
                    self.images[int(r)] = img
            return
        # one contiguous slice of the batch per thread: measured with zstd 3 on 2 threads, 4,500 img/s
        # against 3,750 with one pool task per image
        step = max(1, -(-len(rows) // self._workers))
        spans = [slice(i, i + step) for i in range(0, len(rows), step)]
        for payloads, span in zip(self._pool.map(lambda sl: self.encode(indices[sl]), spans), spans):
            self.write_encoded(rows[span], payloads)

    def encode(self, indices: np.ndarray) -> list:
        """What :meth:`write_encoded` stores for each image of ``indices``: its compressed chunk, or the
        image itself for a codec HDF5's filter compresses. Safe to call from several threads."""
        if self._compress is None:
            return [np.ascontiguousarray(img, dtype=np.uint8) for img in indices]
        return [self._encode(img) for img in indices]

    def write_encoded(self, rows, payloads: list) -> None:
        """Rows ``rows`` from :meth:`encode`'s payloads (call from one thread at a time)."""
        for r, payload in zip(rows, payloads):
            if self._compress is None:
                self.images[int(r)] = payload  # its checksum is taken from the stored chunk in finish()
            else:
                self.images.id.write_direct_chunk((int(r), 0, 0), payload)
                self.checksums[int(r)] = zlib.crc32(payload)

    def _encode(self, img: np.ndarray) -> bytes:
        img = np.ascontiguousarray(img, dtype=np.uint8)
        return self._compress((row_delta_encode(img) if self._row_delta else img).tobytes())

    def finish(self) -> None:
        """Write ``/checksums`` (call once every image is written): the CRC-32 of each stored chunk.

        Chunks HDF5's own filters compressed are read back as stored for theirs.
        """
        if self._compress is None:
            for r in range(self.images.shape[0]):
                self.checksums[r] = zlib.crc32(self.images.id.read_direct_chunk((r, 0, 0))[1])
        ds = self._file.create_dataset("checksums", data=self.checksums)
        ds.attrs["algorithm"] = CHECKSUM_ALGORITHM

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> "IndexImageWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close()
        if exc_type is None:
            self.finish()


def seal_cache(f: h5py.File) -> None:
    """Write ``/checksums`` (CRC-32 of every ``/images`` chunk as stored) and ``attrs_checksum``: the last step of
    :func:`build_scalogram_cache`, for a cache assembled by other code (a test, a conversion tool) in ``f``."""
    images = f["images"]
    per = images.chunks[0]  # a row's checksum is its chunk's
    sums = np.array([zlib.crc32(images.id.read_direct_chunk((r - r % per, 0, 0))[1]) for r in range(images.shape[0])])
    if "checksums" in f:
        del f["checksums"]
    f.create_dataset("checksums", data=sums.astype(np.uint32)).attrs["algorithm"] = CHECKSUM_ALGORITHM
    f.attrs["attrs_checksum"] = attrs_checksum(f.attrs)


def _zstd_compressor(level: int) -> Callable[[bytes], bytes]:
    """``compress(raw) -> zstd frame`` at ``level``, safe to call from several threads (one context per thread)."""
    import zstandard

    context = per_thread(lambda: zstandard.ZstdCompressor(level=level))
    return lambda raw: context().compress(raw)


def _create_zstd_dataset(f: h5py.File, name: str, shape, chunks, level: int) -> h5py.Dataset:
    """A uint8 chunked dataset that declares HDF5's Zstd filter (id 32015, level as its one parameter).

    The filter is declared optional: HDF5 then accepts it without the plugin
    loaded, since this writer compresses the chunks itself; a reader without
    the plugin gets an error naming the missing filter, never wrong bytes.
    """
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk(tuple(int(c) for c in chunks))
    dcpl.set_filter(ZSTD_FILTER_ID, h5py.h5z.FLAG_OPTIONAL, (int(level),))
    space = h5py.h5s.create_simple(tuple(int(s) for s in shape))
    h5py.h5d.create(f.id, name.encode(), h5py.h5t.NATIVE_UINT8, space, dcpl=dcpl)
    return f[name]


def _write_attrs(f: h5py.File, fb: FilterBank, params: CwtParams, image: dict, info, columns: np.ndarray) -> None:
    a = f.attrs
    for k, v in {**params.to_attrs((fb.fmin_hz, fb.fmax_hz)), **image_to_attrs(image)}.items():
        a[k] = v
    a["frequencies"] = np.asarray(fb.frequencies, dtype=np.float64)
    a["time_columns"] = np.asarray(columns, dtype=np.int64)
    a["n_fft"] = int(fb.n_fft)
    a["fs"] = float(info.fs)
    a["window"] = int(info.window)
    a.create("classes", np.array([str(c) for c in info.classes], dtype=object), dtype=STR_DTYPE)
    a["ecgcwt_version"] = __version__


def _copy_segment_attrs(segments_h5: Path, f: h5py.File) -> None:
    """The segmentation settings of the segment store (hop, leads, quality limits...), so a model can redo them."""
    from ecgcwt.data import SEGMENT_ATTRS

    with h5py.File(segments_h5, "r") as src:
        # data_source: what the records were (synthetic, a local folder, PhysioNet), carried on to the models
        for k in ("hop", "data_source", *SEGMENT_ATTRS):
            if k in src.attrs:
                f.attrs[k] = src.attrs[k]
