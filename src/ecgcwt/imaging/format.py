"""The scalogram cache's format version and codecs, without heavy imports (the workflow reads them at parse time).

``CACHE_FORMAT`` is written to the cache's ``cache_format`` attribute and is a
``params`` entry of the ``scalograms`` rule, as is the codec: a cache built by
another format or codec is rebuilt by Snakemake's params trigger, and a reader
given an older cache refuses it with :data:`OLD_RGB_CACHE`.

Format history: 1 (no attribute): uint8 RGB ``/images`` (N, H, W, 3), gzip 1.
2: uint8 colour indices ``/images`` (N, H, W) plus the ``/colormap`` table (K, 3).
3: as 2, and the ``codec`` attribute also says how an image is coded before
compression: a :data:`ROW_DELTA_CODECS` codec stores each image as its
row-to-row differences (row 0 as is, row i minus row i - 1, uint8 modulo 256;
rows are frequencies, and a scalogram changes little from one to the next),
decoded exactly by a uint8 cumulative sum down the rows
(:func:`ecgcwt.imaging.reader.row_delta_encode` / ``row_delta_decode``). A cache without a
``codec`` attribute stores plain index images. Readers of format 3 refuse
format 2 caches (rebuild them), as format 2 readers refuse format 3.
4: as 3, plus ``/checksums``: the CRC-32 of every image's stored chunk, checked on every read.
A reader refuses any other format with the command that rebuilds the cache.
"""

from __future__ import annotations

CACHE_FORMAT = 4

#: How ``/checksums`` is computed: ``zlib.crc32`` of a chunk's stored bytes. Measured on 12.4 KB chunks (a
#: 224-px image, row deltas + Zstd 3; zlib 1.2.13, 2-core Intel Xeon): crc32 7.7 us, adler32 11.5 us, against
#: roughly 300 us to read and decode the image; the stream's cost is in benchmarks/bench_cache.py.
CHECKSUM_ALGORITHM = "crc32"

#: HDF5's registered filter id of Zstandard (the filter hdf5plugin and the HDF Group's plugins ship).
ZSTD_FILTER_ID = 32015

#: codec name -> h5py ``create_dataset`` filter keywords. Shuffle on 1-byte
#: elements is the identity; it is here because it was measured (benchmarks/bench_cache.py).
#: A Zstandard codec's ``compression`` is the filter id: the cache writer compresses the chunks itself
#: (``zstandard``) and declares the filter, so any HDF5 reader with the Zstd filter plugin (in Python:
#: ``import hdf5plugin``) reads the file; ecgcwt's reader decompresses the raw chunks itself.
CACHE_CODECS: dict[str, dict] = {
    "gzip-1": {"compression": "gzip", "compression_opts": 1},
    "gzip-4-shuffle": {"compression": "gzip", "compression_opts": 4, "shuffle": True},
    "lzf": {"compression": "lzf"},
    "rowdelta-gzip-1": {"compression": "gzip", "compression_opts": 1},
    "rowdelta-zstd-3": {"compression": ZSTD_FILTER_ID, "compression_opts": (3,)},
}
#: Codecs whose stored image is the row-to-row difference of the index image (format 3).
ROW_DELTA_CODECS = frozenset({"rowdelta-gzip-1", "rowdelta-zstd-3"})

#: Chosen by measurement (benchmarks/bench_cache.py, 1,020 index images of 224 px from synthetic ECG, 2-core
#: Intel Xeon, 2 threads, medians of 3 rounds; benchmarks/README.md has the table): each image stored as its row-to-row
#: differences, then Zstandard level 3: 12.15 KB per image (plain gzip-1: 21.9 KB; RGB gzip 1, format 1:
#: 37.7 KB), written at 3,708 img/s and read at 3,764 img/s one by one, 4,976 in batches of 32, against
#: 1,887, 1,915 and 3,075 for the same deltas deflated at level 1 (13.55 KB, the default before): deflate
#: bounded both the cache build and the streaming reader. The deltas cost one uint8 subtraction per pixel
#: to write and one cumulative sum to read. Higher deflate levels shrink the deltas further (level 4:
#: 11.5 KB, level 6: 10.9 KB) but write 1.6-5.6x slower than level 1; several images per chunk do not help
#: (gzip-1, 4 or 16 per chunk: 21.9 KB) and make random reads 4-12x slower; plain Zstd 3 (21.9 KB), Zstd 9
#: (20.1), Blosc/Zstd 1 (23.0) and Blosc/LZ4 (33.5) miss 15 KB. The same zstd bytes through HDF5's
#: filter (hdf5plugin, one thread under h5py's lock) read at 2,617 img/s: hence raw chunks in threads.
DEFAULT_CODEC = "rowdelta-zstd-3"

OLD_RGB_CACHE = "built by an older ecgcwt (RGB images); delete results/scalograms/ and rerun"
