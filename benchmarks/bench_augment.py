"""Benchmark: the cost per training image of computing it per batch (signal augmentation) against the cache.

One run builds a segment store and its scalogram cache with the real pipeline
(synthetic WFDB records -> segmentation at 128 Hz, 1024-sample windows ->
CWT -> 224-px jet index images, the default config), then times one pass
over ``--images`` training images in shuffled batches of ``--batch``, each
path producing the same thing: the model's float input (normalised RGB,
channels_last) on ``--device``:

``cache_memory``
    the cache's images decoded once into memory, each batch gathered, sent and
    converted (what a training job does when its images fit
    ``training.memory_budget_mb``);
``cache_stream``
    each batch read from the cache file (raw chunk reads, parallel decoding,
    prefetch thread), sent and converted;
``signal``
    each batch's windows through the cache's own CWT and image steps on the
    device (:class:`ecgcwt.learn.SignalImageFeeder`), augmentations all off;
``signal_augmented``
    the same with all six signal augmentations applied to every window (p = 1;
    the job's real cost is between the two).

and, for scale, ``train_step``: one training step of ``--backbone`` (forward,
cross-entropy, backward, AdamW step; fp32, channels_last; random weights) per
image of a batch, median of ``--steps`` steps after one warm-up step.

Printed: ms per image of each path (median of ``--rounds`` passes), and the
ratios ``signal / cache_memory``, ``signal / cache_stream``,
``signal_augmented / cache_memory`` and ``(signal_augmented - cache_memory) /
train_step`` (what computing augmented images adds to a training step), all
from this one run. The segments are
synthetic ECG: the cost does not depend on what the windows hold.

    .venv/bin/python benchmarks/bench_augment.py [--device cpu|cuda] [--threads 2] [--json]

Run it on a quiet machine: on 2 cores any other busy process halves the numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ecgcwt.data import DatabaseSource, SegmentSpec, generate_database, segment_databases, write_segments
from ecgcwt.imaging import ChunkReader, build_scalogram_cache, read_scalogram_info, read_scalogram_table
from ecgcwt.learn import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SIGNAL_AUGMENTATIONS,
    BatchFeeder,
    InMemoryImages,
    SignalImageFeeder,
    StreamingImages,
    augment_settings,
    build_model,
)

WINDOW, FS = 1024, 128.0


def build(root: Path, images: int, size: int) -> tuple[Path, Path]:
    """A segment store of at least ``images`` windows (synthetic records, three classes) and its cache."""
    spec = SegmentSpec(fs=FS, window=WINDOW, hop=WINDOW, max_per_recording=None, max_duration_s=None)
    duration = 128.0  # 16 windows per lead
    subjects = max(1, -(-images // (3 * 2 * int(duration * FS // WINDOW))))
    sources = []
    for db, label in (("mitdb", "ARR"), ("chfdb", "CHF"), ("nsrdb", "NSR")):
        generate_database(db, label, root / db, subjects=subjects, duration_s=duration, seed=0)
        sources.append(DatabaseSource(db, root / db, label))
    signals, table, _, classes = segment_databases(sources, spec)
    segments, cache = root / "segments.h5", root / "scalograms.h5"
    write_segments(segments, signals, table, spec, classes, "synthetic")
    build_scalogram_cache(segments, cache, {"image": {"size": size}})
    return segments, cache


def one_pass(batches_of, order: np.ndarray, batch: int, device: torch.device) -> float:
    """Seconds for one pass: every batch of ``order`` made and touched on the device."""
    row_batches = [order[i : i + batch] for i in range(0, len(order), batch)]
    t0 = time.perf_counter()
    total = 0.0
    for x in batches_of(row_batches):
        total += float(x[:, :, 0, 0].sum()) if device.type == "cpu" else 0.0  # consume the batch
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def step_ms_per_image(backbone: str, batch: int, size: int, steps: int, device: torch.device) -> float:
    """Median ms per image of a training step of ``backbone`` on random batches on ``device``."""
    model = build_model(backbone, 3, pretrained="none").model.to(device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 3, (batch,), device=device)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i:  # the first step warms up
            times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times) / batch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    with tempfile.TemporaryDirectory(prefix="bench_augment_") as tmp:
        segments, cache = build(Path(tmp), args.images, args.size)
        info = read_scalogram_info(cache)
        table = read_scalogram_table(cache)
        n = min(args.images, info.n_images)
        rows = np.arange(n)
        order = np.random.default_rng(0).permutation(rows)
        reader = ChunkReader(cache, threads=args.threads)
        cuda = device.type == "cuda"

        def feeder(source) -> BatchFeeder:
            return BatchFeeder(source, device, IMAGENET_MEAN, IMAGENET_STD, channels_last=True)

        memory = feeder(InMemoryImages(reader, rows, pin_memory=cuda))
        stream = feeder(StreamingImages(reader))
        off = {name: {"p": 0.0} for name in SIGNAL_AUGMENTATIONS}
        on = {name: {"p": 1.0} for name in SIGNAL_AUGMENTATIONS}
        made = {
            key: SignalImageFeeder(segments, info.attrs, table, rows, memory, augment_settings(a), 0, cache_path=cache)
            for key, a in (("signal", off), ("signal_augmented", on))
        }
        paths = {
            "cache_memory": memory.batches,
            "cache_stream": stream.batches,
            "signal": lambda rb: made["signal"].epoch(0, order).batches(rb),
            "signal_augmented": lambda rb: made["signal_augmented"].epoch(0, order).batches(rb),
        }
        for batches_of in paths.values():  # warm-up: filter-bank folding, allocations, kernels
            one_pass(batches_of, order[: 2 * args.batch], args.batch, device)
        seconds = {k: [] for k in paths}
        for _ in range(args.rounds):  # interleaved, so a drifting machine affects every path alike
            for key, batches_of in paths.items():
                seconds[key].append(one_pass(batches_of, order, args.batch, device))
        reader.close()

    ms = {k: 1000.0 * statistics.median(v) / n for k, v in seconds.items()}
    ms["train_step"] = step_ms_per_image(args.backbone, args.batch, args.size, args.steps, device)
    result = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else "cpu",
        "threads": args.threads,
        "images": n,
        "batch": args.batch,
        "image_size": args.size,
        "window": WINDOW,
        "ms_per_image": {k: round(v, 4) for k, v in ms.items()},
        "images_per_s": {k: round(1000.0 / v, 1) for k, v in ms.items()},
        "ratio_signal_vs_cache_memory": round(ms["signal"] / ms["cache_memory"], 2),
        "ratio_signal_vs_cache_stream": round(ms["signal"] / ms["cache_stream"], 2),
        "ratio_augmented_vs_cache_memory": round(ms["signal_augmented"] / ms["cache_memory"], 2),
        "backbone": args.backbone,
        "added_share_of_train_step": round((ms["signal_augmented"] - ms["cache_memory"]) / ms["train_step"], 3),
        "rounds_s": {k: [round(s, 4) for s in v] for k, v in seconds.items()},
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    head = f"{n} images of {args.size} px from {WINDOW}-sample windows, batch {args.batch}"
    print(f"{head}, {device} ({args.threads} threads)")
    for k in ms:
        print(f"  {k:18s} {ms[k]:8.3f} ms/image  {1000.0 / ms[k]:9.1f} images/s")
    print(f"  signal / cache_memory            {result['ratio_signal_vs_cache_memory']}x")
    print(f"  signal / cache_stream            {result['ratio_signal_vs_cache_stream']}x")
    print(f"  signal_augmented / cache_memory  {result['ratio_augmented_vs_cache_memory']}x")
    share = result["added_share_of_train_step"]
    print(f"  (signal_augmented - cache_memory) / train_step ({args.backbone})  {share:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
