"""Benchmark: the scalogram cache's codec, measured on realistic colour-index images.

Builds about 1,000 index images of 224 px through the real pipeline
(synthetic WFDB records -> segmentation -> CWT -> colour indices, the
workflow's defaults), then, per codec of ``ecgcwt.imaging.CACHE_CODECS`` (and
Blosc/LZ4 and Blosc/Zstd through ``hdf5plugin`` when it is importable; it is
not a dependency), writes them to a fresh cache file and reads them back:

``mb_per_1000`` / ``kb_per_image``
    stored bytes of ``/images`` (HDF5's storage size: compressed chunks).
``build_img_s``
    compress + write, as :class:`ecgcwt.imaging.IndexImageWriter` does in the
    cache build (batches of 256; deflate and Zstandard codecs compress in
    ``threads`` threads and write raw chunks, LZF goes through HDF5's filter);
    the CWT is not included.
``read_img_s``
    single-image random reads through :class:`ecgcwt.imaging.ChunkReader`
    (one thread): a raw chunk read and decompression for deflate and
    Zstandard codecs, HDF5's filter for LZF, in a shuffled order over every image.
``read_batch_img_s``
    the streaming feeder's read: shuffled batches of 32 with ``threads``
    decompressing in parallel.

``rgb_gzip_1`` is the same measurement for the RGB images the format-1
cache stored (jet applied on the host, gzip 1, raw chunks): the "before".

Candidates that are not cache codecs, measured to size what another format
could gain (each decodes back to the index image; checked):

``rowdelta-gzip-<level>``
    the row-delta coding of the ``rowdelta-gzip-1`` codec (each row minus the
    row above, uint8) at higher deflate levels, raw chunks, inflated in threads.
``gzip-1-chunk<k>``
    plain gzip 1 with ``k`` images per chunk, through HDF5's filter (a random
    image read inflates its whole chunk; h5py's chunk cache keeps the last).
``zstd-<level>``, ``rowdelta-zstd-3-hdf5-filter``, ``blosc-lz4``, ``blosc-zstd-1``
    ``hdf5plugin`` filters (when it is importable), one image per chunk,
    through HDF5's filter (single-threaded under h5py's lock); the second is the
    default codec's bytes, which the cache writer and reader compress and
    decompress themselves in threads (raw chunks), here through the filter.

``checksum_verification``
    the streaming read (shuffled batches of 32, ``threads`` decoding) of a
    default-codec cache with the reader's per-read checks (each chunk's CRC-32
    against ``/checksums``, every index below the colour table's length) and
    without (``ChunkReader(verify=False)``), in ``--verify-rounds`` interleaved
    rounds in one run: both rates and the median of the paired ratios
    (target: at least 0.95), in wall-clock images/s and in images per CPU
    second of the process (all its threads; steadier on a shared machine).

Each rate is the median of ``--rounds`` rounds. Prints one JSON object.

    python benchmarks/bench_cache.py [--subjects 17] [--rounds 3] [--threads 2] [--only NAME,...] [--verify-rounds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

SIZE = 224
WRITE_BATCH = 256
READ_BATCH = 32


def build_indices(work: Path, subjects_per_class: int, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Index images and their colour table, made by the real pipeline from synthetic ECG."""
    from ecgcwt.data import DatabaseSource, SegmentSpec, generate_database
    from ecgcwt.imaging import ChunkReader, build_data

    sources = []
    for db, label in (("mitdb", "ARR"), ("chfdb", "CHF"), ("nsrdb", "NSR")):
        generate_database(db, label, work / "records" / db, subjects=subjects_per_class, duration_s=90, seed=0)
        sources.append(DatabaseSource(db, work / "records" / db, label))
    spec = SegmentSpec(fs=128, window=1024, hop=1024, max_per_recording=10, max_duration_s=None)
    cache, _ = build_data(sources, spec, {"image": {"size": SIZE}}, work / "data", threads=threads)
    with ChunkReader(cache, threads=threads) as reader:
        return reader.read(np.arange(reader.n_images)), reader.colormap


def _hdf5plugin_codecs() -> tuple[dict, str | None]:
    """Blosc/LZ4, Blosc/Zstd and Zstd filter keywords when hdf5plugin is importable."""
    try:
        import hdf5plugin
    except ImportError:
        return {}, None
    return {
        "blosc-lz4": dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.NOSHUFFLE)),
        "blosc-zstd-1": dict(hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.NOSHUFFLE)),
        "zstd-3": dict(hdf5plugin.Zstd(clevel=3)),
        "zstd-9": dict(hdf5plugin.Zstd(clevel=9)),
    }, hdf5plugin.version


def _write_cache(path: Path, indices: np.ndarray, colormap: np.ndarray, codec: str, threads: int):
    """A cache codec, written as the cache build writes it (:class:`ecgcwt.imaging.IndexImageWriter`)."""
    import h5py

    from ecgcwt.imaging import IndexImageWriter

    n = len(indices)
    t0 = time.perf_counter()
    with h5py.File(path, "w") as f:
        with IndexImageWriter(f, n, SIZE, colormap, codec=codec, workers=threads) as w:
            for i in range(0, n, WRITE_BATCH):
                w.write(np.arange(i, min(n, i + WRITE_BATCH)), indices[i : i + WRITE_BATCH])
        _cache_attrs(f, colormap)
    elapsed = time.perf_counter() - t0
    with h5py.File(path, "r") as f:
        stored = f["images"].id.get_storage_size()
    return n / elapsed, stored


def _cache_attrs(f, colormap: np.ndarray) -> None:
    """The attributes a reader checks (the default CWT's and image settings, classes, their checksum)."""
    from ecgcwt.imaging import CwtParams, attrs_checksum, image_to_attrs

    f.attrs.update(CwtParams().to_attrs())
    f.attrs.update(image_to_attrs({"size": SIZE, "mode": "jet", "colors": len(colormap), "log": False}))
    f.attrs["classes"] = np.array(["ARR", "CHF", "NSR"], dtype=object)
    f.attrs["attrs_checksum"] = attrs_checksum(f.attrs)


def _verification_rates(path: Path, n: int, threads: int, rounds: int) -> dict:
    """The streaming read (shuffled batches of 32, ``threads`` decoding) with and without the per-read checks
    (CRC-32 of each chunk, indices below the table's length), in interleaved rounds on the same file."""
    from ecgcwt.imaging import ChunkReader

    rates: dict[bool, list[float]] = {True: [], False: []}
    cpu_rates: dict[bool, list[float]] = {True: [], False: []}
    for k in range(rounds):
        order = np.random.default_rng(k).permutation(n)
        for verify in (k % 2 == 0, k % 2 == 1):  # alternate which goes first
            with ChunkReader(path, threads=threads, verify=verify) as reader:
                out = np.empty((READ_BATCH, *reader.image_shape), dtype=np.uint8)
                t0, c0 = time.perf_counter(), time.process_time()
                for i in range(0, n - READ_BATCH + 1, READ_BATCH):
                    reader.read(order[i : i + READ_BATCH], out=out)
                done = (n // READ_BATCH) * READ_BATCH
                rates[verify].append(done / (time.perf_counter() - t0))
                # the process's CPU seconds (every thread): what the checks cost, whatever else the machine runs
                cpu_rates[verify].append(done / (time.process_time() - c0))
    ratios = [a / b for a, b in zip(rates[True], rates[False])]
    cpu_ratios = [a / b for a, b in zip(cpu_rates[True], cpu_rates[False])]
    return {
        "stream_img_s_verified": round(statistics.median(rates[True])),
        "stream_img_s_unverified": round(statistics.median(rates[False])),
        "ratio_verified_over_unverified": round(statistics.median(ratios), 3),
        "ratio_min_max": [round(min(ratios), 3), round(max(ratios), 3)],
        "img_per_cpu_s_verified": round(statistics.median(cpu_rates[True])),
        "img_per_cpu_s_unverified": round(statistics.median(cpu_rates[False])),
        "cpu_ratio_verified_over_unverified": round(statistics.median(cpu_ratios), 3),
        "cpu_ratio_min_max": [round(min(cpu_ratios), 3), round(max(cpu_ratios), 3)],
        "rounds": rounds,
        "target": ">= 0.95 (checks cost at most 5% of the streaming rate)",
    }


def _write_rgb_cache(path: Path, rgb: np.ndarray, threads: int):
    """The format-1 cache's write: jet RGB, zlib level 1 in threads, raw chunks."""
    import h5py

    n = len(rgb)
    t0 = time.perf_counter()
    with h5py.File(path, "w") as f, ThreadPoolExecutor(threads) as pool:
        ds = f.create_dataset(
            "images", shape=rgb.shape, dtype=np.uint8, chunks=(1, SIZE, SIZE, 3), compression="gzip", compression_opts=1
        )
        for i in range(0, n, WRITE_BATCH):
            block = rgb[i : i + WRITE_BATCH]
            for k, payload in enumerate(pool.map(lambda im: zlib.compress(im.tobytes(), 1), block)):
                ds.id.write_direct_chunk((i + k, 0, 0, 0), payload)
    elapsed = time.perf_counter() - t0
    with h5py.File(path, "r") as f:
        stored = f["images"].id.get_storage_size()
    return n / elapsed, stored


def _row_delta(im: np.ndarray) -> np.ndarray:
    d = np.empty_like(im)
    d[..., 0, :] = im[..., 0, :]
    np.subtract(im[..., 1:, :], im[..., :-1, :], out=d[..., 1:, :])  # uint8 wraps: exact inverse of the cumsum
    return d


def _write_delta_cache(path: Path, indices: np.ndarray, threads: int, level: int = 1):
    import h5py

    n = len(indices)

    def encode(im):
        return zlib.compress(_row_delta(im).tobytes(), level)

    t0 = time.perf_counter()
    with h5py.File(path, "w") as f, ThreadPoolExecutor(threads) as pool:
        ds = f.create_dataset(
            "images",
            shape=indices.shape,
            dtype=np.uint8,
            chunks=(1, SIZE, SIZE),
            compression="gzip",
            compression_opts=level,
        )
        for i in range(0, n, WRITE_BATCH):
            for k, payload in enumerate(pool.map(encode, indices[i : i + WRITE_BATCH])):
                ds.id.write_direct_chunk((i + k, 0, 0), payload)
    elapsed = time.perf_counter() - t0
    with h5py.File(path, "r") as f:
        stored = f["images"].id.get_storage_size()
    return n / elapsed, stored


def _read_delta_rates(path: Path, n: int, threads: int, seed: int, check: np.ndarray) -> tuple[float, float]:
    import h5py

    order = np.random.default_rng(seed).permutation(n)
    out = np.empty((READ_BATCH, SIZE, SIZE), dtype=np.uint8)

    def decode(job):
        k, data = job
        d = np.frombuffer(zlib.decompress(data, bufsize=SIZE * SIZE), dtype=np.uint8).reshape(SIZE, SIZE)
        np.cumsum(d, axis=0, dtype=np.uint8, out=out[k])

    with h5py.File(path, "r") as f, ThreadPoolExecutor(threads) as pool:
        ds = f["images"]
        t0 = time.perf_counter()
        for r in order:
            decode((0, ds.id.read_direct_chunk((int(r), 0, 0))[1]))
        single = n / (time.perf_counter() - t0)
        if not np.array_equal(out[0], check[order[-1]]):
            raise AssertionError("row-delta decoding does not give the index image back")
        t0 = time.perf_counter()
        for i in range(0, n - READ_BATCH + 1, READ_BATCH):
            chunks = [ds.id.read_direct_chunk((int(r), 0, 0))[1] for r in order[i : i + READ_BATCH]]
            list(pool.map(decode, enumerate(chunks)))
        batched = (n // READ_BATCH) * READ_BATCH / (time.perf_counter() - t0)
    return single, batched


def _write_filtered(path: Path, indices: np.ndarray, opts: dict, chunk_images: int = 1, row_delta: bool = False):
    """Through HDF5's filter pipeline (single thread), ``chunk_images`` images per chunk; row deltas timed too."""
    import h5py

    n = len(indices)
    t0 = time.perf_counter()
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("images", shape=indices.shape, dtype=np.uint8, chunks=(chunk_images, SIZE, SIZE), **opts)
        for i in range(0, n, WRITE_BATCH):
            block = indices[i : i + WRITE_BATCH]
            ds[i : i + len(block)] = _row_delta(block) if row_delta else block
    elapsed = time.perf_counter() - t0
    with h5py.File(path, "r") as f:
        stored = f["images"].id.get_storage_size()
    return n / elapsed, stored


def _read_filtered(path: Path, n: int, seed: int, check: np.ndarray, row_delta: bool = False):
    """Random single images, then shuffled batches of 32 (rows sorted per batch), through HDF5's filter."""
    import h5py

    order = np.random.default_rng(seed).permutation(n)
    out = np.empty((READ_BATCH, SIZE, SIZE), dtype=np.uint8)
    with h5py.File(path, "r") as f:
        ds = f["images"]
        t0 = time.perf_counter()
        for r in order:
            ds.read_direct(out, np.s_[int(r) : int(r) + 1], np.s_[0:1])
            if row_delta:
                np.cumsum(out[0].copy(), axis=0, dtype=np.uint8, out=out[0])
        single = n / (time.perf_counter() - t0)
        if not np.array_equal(out[0], check[order[-1]]):
            raise AssertionError(f"{path.name}: decoding does not give the index image back")
        t0 = time.perf_counter()
        for i in range(0, n - READ_BATCH + 1, READ_BATCH):
            for k, r in enumerate(np.sort(order[i : i + READ_BATCH])):
                ds.read_direct(out, np.s_[int(r) : int(r) + 1], np.s_[k : k + 1])
            if row_delta:
                np.cumsum(out.copy(), axis=1, dtype=np.uint8, out=out)
        batched = (n // READ_BATCH) * READ_BATCH / (time.perf_counter() - t0)
    return single, batched


def _read_rates(path: Path, n: int, threads: int, seed: int, check: np.ndarray) -> tuple[float, float, bool]:
    from ecgcwt.imaging import ChunkReader

    order = np.random.default_rng(seed).permutation(n)
    with ChunkReader(path, threads=1) as reader:
        t0 = time.perf_counter()
        for r in order:
            last = reader.read([int(r)])
        single = n / (time.perf_counter() - t0)
        raw = reader.raw_chunks
        if not np.array_equal(last[0], check[order[-1]]):
            raise AssertionError(f"{path.name}: the reader does not give the index image back")
    with ChunkReader(path, threads=threads) as reader:
        out = np.empty((READ_BATCH, *reader.image_shape), dtype=np.uint8)
        t0 = time.perf_counter()
        for i in range(0, n - READ_BATCH + 1, READ_BATCH):
            reader.read(order[i : i + READ_BATCH], out=out)
        batched = (n // READ_BATCH) * READ_BATCH / (time.perf_counter() - t0)
    return single, batched, raw


def _read_rgb_rates(path: Path, n: int, threads: int, seed: int) -> tuple[float, float]:
    """The format-1 reader: raw chunk read + zlib inflate of 150 kB RGB images."""
    import h5py

    order = np.random.default_rng(seed).permutation(n)
    nbytes = SIZE * SIZE * 3
    with h5py.File(path, "r") as f, ThreadPoolExecutor(threads) as pool:
        ds = f["images"]
        out = np.empty((READ_BATCH, nbytes), dtype=np.uint8)
        t0 = time.perf_counter()
        for r in order:
            _, data = ds.id.read_direct_chunk((int(r), 0, 0, 0))
            out[0] = np.frombuffer(zlib.decompress(data, bufsize=nbytes), dtype=np.uint8)
        single = n / (time.perf_counter() - t0)

        def inflate(job):
            k, data = job
            out[k] = np.frombuffer(zlib.decompress(data, bufsize=nbytes), dtype=np.uint8)

        t0 = time.perf_counter()
        for i in range(0, n - READ_BATCH + 1, READ_BATCH):
            chunks = [ds.id.read_direct_chunk((int(r), 0, 0, 0))[1] for r in order[i : i + READ_BATCH]]
            list(pool.map(inflate, enumerate(chunks)))
        batched = (n // READ_BATCH) * READ_BATCH / (time.perf_counter() - t0)
    return single, batched


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=17, help="synthetic subjects per class (x3 x2 leads x10 windows)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per codec; rates are medians")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--only", default=None, help="comma-separated candidates to measure (default: all)")
    ap.add_argument(
        "--verify-rounds", type=int, default=8, help="interleaved rounds of the streaming read with/without checks"
    )
    args = ap.parse_args(argv)

    import torch

    from ecgcwt.imaging import CACHE_CODECS, DEFAULT_CODEC

    torch.set_num_threads(args.threads)
    plugin, plugin_version = _hdf5plugin_codecs()
    with tempfile.TemporaryDirectory(prefix="bench_cache_") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        indices, colormap = build_indices(work, args.subjects, args.threads)
        build_s = time.perf_counter() - t0
        n = len(indices)
        results: dict[str, dict] = {}

        def measure(name, write, read):
            builds, singles, batches, stored = [], [], [], 0
            for k in range(args.rounds):
                path = work / f"{name}-{k}.h5"
                rate, stored = write(path)
                builds.append(rate)
                single, batched, *_ = read(path, k)
                singles.append(single)
                batches.append(batched)
                path.unlink()
            results[name] = {
                "mb_per_1000": round(stored / n * 1000 / 1e6, 2),
                "kb_per_image": round(stored / n / 1e3, 2),
                "build_img_s": round(statistics.median(builds)),
                "read_img_s": round(statistics.median(singles)),
                "read_batch_img_s": round(statistics.median(batches)),
            }

        rgb = colormap[indices]
        candidates = {
            "rgb_gzip_1": (
                lambda p: _write_rgb_cache(p, rgb, args.threads),
                lambda p, k: _read_rgb_rates(p, n, args.threads, k),
            )
        }
        for codec in CACHE_CODECS:
            candidates[codec] = (
                lambda p, c=codec: _write_cache(p, indices, colormap, c, args.threads),
                lambda p, k: _read_rates(p, n, args.threads, k, indices),
            )
        for level in (4, 6):
            candidates[f"rowdelta-gzip-{level}"] = (
                lambda p, lv=level: _write_delta_cache(p, indices, args.threads, lv),
                lambda p, k: _read_delta_rates(p, n, args.threads, k, indices),
            )
        for k_img in (4, 16):
            candidates[f"gzip-1-chunk{k_img}"] = (
                lambda p, c=k_img: _write_filtered(p, indices, {"compression": "gzip", "compression_opts": 1}, c),
                lambda p, k: _read_filtered(p, n, k, indices),
            )
        for name, opts in plugin.items():
            candidates[name] = (
                lambda p, o=opts: _write_filtered(p, indices, o),
                lambda p, k: _read_filtered(p, n, k, indices),
            )
        if "zstd-3" in plugin:  # the default codec's bytes, written and read through HDF5's filter instead
            candidates["rowdelta-zstd-3-hdf5-filter"] = (
                lambda p: _write_filtered(p, indices, plugin["zstd-3"], row_delta=True),
                lambda p, k: _read_filtered(p, n, k, indices, row_delta=True),
            )
        only = set(args.only.split(",")) if args.only else None
        for name, (write, read) in candidates.items():
            if only is None or name in only or name == "rgb_gzip_1":
                measure(name, write, read)
        # the reader's per-read integrity checks, on the default codec's cache
        verified = work / "verify.h5"
        _write_cache(verified, indices, colormap, DEFAULT_CODEC, args.threads)
        verification = _verification_rates(verified, n, args.threads, args.verify_rounds)
    before = results["rgb_gzip_1"]["kb_per_image"]
    out = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "threads": args.threads,
        "n_images": n,
        "image_size": SIZE,
        "pipeline_build_s": round(build_s, 1),
        "hdf5plugin": plugin_version or "not installed: its filters (zstd, blosc) not measured",
        "default_codec": DEFAULT_CODEC,
        "codecs": results,
        "size_vs_rgb_gzip_1": {c: round(r["kb_per_image"] / before, 3) for c, r in results.items()},
        "checksum_verification": {"codec": DEFAULT_CODEC, **verification},
    }
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
