"""The scalogram cache's format version and codecs, without heavy imports (the workflow reads them at parse time).

``CACHE_FORMAT`` is written to the cache's ``cache_format`` attribute and is a
``params`` entry of the ``scalograms`` rule, as is the codec: a cache built by
another format or codec is rebuilt by Snakemake's params trigger, and a reader
given an older cache refuses it with :data:`OLD_RGB_CACHE`.

Format history: 1 (no attribute): uint8 RGB ``/images`` (N, H, W, 3), gzip 1.
2: uint8 colour indices ``/images`` (N, H, W) plus the ``/colormap`` table (K, 3).
"""

from __future__ import annotations

CACHE_FORMAT = 2

#: codec name -> h5py ``create_dataset`` filter keywords. Shuffle on 1-byte
#: elements is the identity; it is here because it was measured (benchmarks/bench_cache.py).
CACHE_CODECS: dict[str, dict] = {
    "gzip-1": {"compression": "gzip", "compression_opts": 1},
    "gzip-4-shuffle": {"compression": "gzip", "compression_opts": 4, "shuffle": True},
    "lzf": {"compression": "lzf"},
}

#: Chosen by measurement (benchmarks/bench_cache.py, 1,020 index images of 224 px, 2-core CPU, two runs):
#: gzip-1 21.9 KB/image, build 1,052-1,098 img/s, batch read 1,701-2,758 img/s; gzip-4-shuffle 7% smaller
#: (20.3 KB) at a build rate within the noise (840-1,178); LZF 31% larger (28.7 KB), builds faster
#: (1,539-1,592) but reads through HDF5's filter under h5py's lock, one image at a time (2,001-2,047),
#: where deflate's raw chunks inflate in parallel threads (the streaming reader's path, which scales with
#: a GPU host's cores). RGB gzip 1 (format 1) was 37.7 KB/image.
DEFAULT_CODEC = "gzip-1"

OLD_RGB_CACHE = "built by an older ecgcwt (RGB images); delete results/scalograms/ and rerun"
