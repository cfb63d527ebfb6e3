"""The scalogram cache ``scalograms.h5``: one uint8 CWT image per segment.

Layout (the contract with training; one writer, read-only readers):

``/images``
    uint8 (N, H, W, 3), chunks (1, H, W, 3) (one image per chunk, so a random
    read decompresses exactly one image), gzip level 1 (~33 MB per 1000
    224-px RGB images; level 1 costs little time and reads fast).
``/table``
    the segment table of ``segments.h5`` (same row order as /images), copied
    with :func:`write_table_group`.
root attributes
    every CWT parameter (wavelet, morse_gamma, morse_time_bandwidth,
    amor_omega0, voices_per_octave, fmin_hz, fmax_hz, boundary, image_size,
    image_mode, colors, log), ``frequencies`` (float64 Hz, high to low = image
    row order), ``fs``, ``window``, ``classes``, ``ecgcwt_version``; ``hop`` and the
    segment store's segmentation settings (``leads``, ``max_per_recording``,
    ``max_duration_s``, ``quality_*``: :data:`ecgcwt.data.segmentation.SEGMENT_ATTRS`),
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
from ecgcwt.imaging.cwt import CwtParams, FilterBank
from ecgcwt.imaging.image import scalogram_images, validate_image_config


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
) -> Path:
    """Compute one scalogram image per segment of ``segments_h5`` into ``out_h5``.

    ``cwt_cfg`` is the ``cwt:`` mapping of config.yaml. ``batch_size`` (default:
    ``cwt_cfg["batch_size"]``, else 256) segments are transformed at a time;
    ``threads`` sets torch's intra-op threads for the call (restored after) and
    how many chunks of each batch the CPU transform runs at once (see
    :meth:`FilterBank.transform`'s ``workers``);
    ``progress(done, total)`` is called after every batch.
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
                images = f.create_dataset(
                    "images",
                    shape=(info.n_segments, size, size, 3),
                    dtype=np.uint8,
                    chunks=(1, size, size, 3),
                    compression="gzip",
                    compression_opts=1,
                )
                write_table_group(f.create_group("table"), table)
                _write_attrs(f, fb, params, image, info, columns)
                _copy_segment_attrs(segments_h5, f)
                done = 0
                # Chunks are deflated here, in parallel (zlib releases the GIL), and
                # written as is: the same bytes HDF5's gzip filter would produce and
                # read back, at twice the speed of the filter's single thread.
                workers = max(1, torch.get_num_threads())
                with torch.inference_mode(), ThreadPoolExecutor(workers) as pool:
                    for rows, signals in iter_signal_batches(segments_h5, batch):
                        mag = fb.magnitude(
                            torch.from_numpy(np.ascontiguousarray(signals, dtype=np.float32)), columns, workers=workers
                        )
                        imgs = scalogram_images(
                            mag, size=size, mode=image["mode"], colors=int(image["colors"]), log=bool(image["log"])
                        )
                        for r, payload in zip(rows, pool.map(_deflate, imgs)):
                            images.id.write_direct_chunk((int(r), 0, 0, 0), payload)
                        done += len(rows)
                        if progress is not None:
                            progress(done, info.n_segments)
    finally:
        torch.set_num_threads(previous_threads)
    return out_h5


def _deflate(img: np.ndarray) -> bytes:
    return zlib.compress(np.ascontiguousarray(img).tobytes(), 1)


def _write_attrs(f: h5py.File, fb: FilterBank, params: CwtParams, image: dict, info, columns: np.ndarray) -> None:
    a = f.attrs
    a["wavelet"] = params.wavelet
    a["morse_gamma"] = float(params.morse_gamma)
    a["morse_time_bandwidth"] = float(params.morse_time_bandwidth)
    a["amor_omega0"] = float(params.amor_omega0)
    a["voices_per_octave"] = int(params.voices_per_octave)
    a["fmin_hz"] = float(fb.fmin_hz)
    a["fmax_hz"] = float(fb.fmax_hz)
    a["freq_limits_source"] = "matlab_default" if params.freq_limits is None else "config"
    a["boundary"] = params.boundary
    a["image_size"] = int(image["size"])
    a["image_mode"] = str(image["mode"])
    a["colors"] = int(image["colors"])
    a["log"] = bool(image["log"])
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
        for k in ("hop", *SEGMENT_ATTRS):
            if k in src.attrs:
                f.attrs[k] = src.attrs[k]
