"""Benchmark: our training job against the bare training step of the same model, plus the data paths.

One run builds a MathWorks-size synthetic scalogram cache (27 subjects per
class x 2 leads x 10 windows = 1,620 images of 224 px, made by the real
pipeline: synthetic WFDB records -> segmentation -> CWT -> jet images; 6
subjects per class with ``--quick``) and measures, per backbone (resnet18,
squeezenet1_1, googlenet; batch 32; the precision and memory format
``training.precision: auto`` picks on this device):

``raw_img_s``
    the bare training step (forward, cross-entropy, backward, AdamW step) on
    a random batch already on the device, in the same precision and memory
    format as our job, one step per batch of the job's epoch (the same
    images, the same last partial batch): the ceiling.
``job_img_s``
    our training phase, data path included: one epoch of ``train_fold`` on
    fold 0, its ``images_per_s`` in ``history.csv``.
``ratio``
    ``job_img_s / raw_img_s``, interleaved in one process: after one job not
    counted (a backbone's first job in a process runs slower), one job of
    ``--rounds`` + 1 epochs (default 8 with ``--quick``, else 5) runs a bare
    epoch after each of its epochs (``on_epoch_end``), so the two alternate
    epoch by epoch: job, bare, job, bare, ... Each job epoch from the second
    on is compared with the mean of the bare epochs just before and just
    after it, and ``ratio`` is the median of these paired ratios; ``spread``
    gives their lowest, quartiles and highest, and ``rounds`` every figure.
    On a shared machine whose speed moves within seconds, only figures taken
    this close together measure the two alike. ``raw_img_s`` and
    ``job_img_s`` are the medians of their epochs.
``--profile BACKBONE``
    instead of the above, the training phase of one job epoch (the ``train``
    range the shared loop marks) and one bare epoch under ``torch.profiler``:
    self time per operator and batch, side by side, largest difference first
    (wall time: on a busy machine the operators that wait for a descheduled
    thread absorb it, so profile on a quiet one).

and once:

``loader_img_s``
    the in-memory data path alone (uint8 batch gathered, moved to the device,
    normalised there), shuffled batches of 32 over the whole cache.
``loader_stream_img_s`` / ``stream_rss_mb``
    the streaming path (raw chunk reads, parallel inflation, prefetch thread)
    over a cache larger than its memory budget (the images repeated to 20,000,
    3 GB as uint8; 4,000 with ``--quick``), in a child process whose peak
    resident memory (VmHWM, torch's import included) is ``stream_rss_mb``.

``startup_s``
    from the start of a fresh Python process to the first training step of a
    resnet18 job (``process_startup_s`` in its metrics.json), median of
    ``--rounds``, beside ``torch_import_s``: a bare
    ``python -c 'import torch, torchvision'`` (start to exit) timed in the same
    rounds, alternating with the job: the floor no job can start under. With the parts
    in ``startup``: importing ``ecgcwt.learn.cnn2d.learner`` (torch, torchvision), CUDA
    initialisation, and ``train_fold``'s own set-up (tables, folds, model,
    images into memory).

``--sweep`` adds, per backbone, the bare step in fp32 / bf16 x contiguous /
channels_last: the measurement behind the per-backbone table in
``src/ecgcwt/learn/cnn2d/numerics.py``.

    .venv/bin/python benchmarks/bench_train.py --json [--device cpu|cuda] [--quick] [--sweep]

Run it on a quiet machine: on 2 cores any other busy process halves the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BACKBONES = ("resnet18", "squeezenet1_1", "googlenet")
BATCH = 32
SIZE = 224
TARGETS_CPU = {"ratio": 0.9, "loader_vs_raw": 20.0, "loader_stream_img_s": 1500.0, "stream_rss_mb": 2000.0}
TARGETS_GPU = {"ratio": 0.7}


# --------------------------------------------------------------------------- data


def build_cache(work: Path, subjects_per_class: int, threads: int) -> tuple[Path, Path]:
    """Synthetic records -> segments -> folds -> scalogram cache, with the workflow's defaults (224 px, Morse)."""
    import pandas as pd

    from ecgcwt.data import DatabaseSource, SegmentSpec, assign_folds, generate_database
    from ecgcwt.imaging import build_data

    sources = []
    for db, label in (("mitdb", "ARR"), ("chfdb", "CHF"), ("nsrdb", "NSR")):
        generate_database(db, label, work / "records" / db, subjects=subjects_per_class, duration_s=90, seed=0)
        sources.append(DatabaseSource(db, work / "records" / db, label))
    spec = SegmentSpec(fs=128, window=1024, hop=1024, max_per_recording=10, max_duration_s=None)
    _, table = build_data(sources, spec, {"image": {"size": SIZE}}, work, threads=threads)
    assign_folds(table, k=5, seed=0).to_csv(work / "folds.csv", index=False)
    assert len(pd.read_csv(work / "folds.csv")) == 3 * subjects_per_class
    return work / "scalograms.h5", work / "folds.csv"


def repeat_cache(src: Path, dest: Path, n: int) -> None:
    """A cache of ``n`` images made by repeating ``src``'s compressed chunks (same bytes, same decoding cost)."""
    import h5py

    with h5py.File(src, "r") as f, h5py.File(dest, "w") as g:
        images = f["images"]
        m = images.shape[0]
        # the source's creation properties (chunks, declared filters such as Zstd, which h5py's
        # high-level create_dataset refuses without the plugin): the copied chunks decode as before
        space = h5py.h5s.create_simple((n, *images.shape[1:]))
        h5py.h5d.create(g.id, b"images", h5py.h5t.NATIVE_UINT8, space, dcpl=images.id.get_create_plist())
        out = g["images"]
        f.copy("colormap", g)  # the cache's colour table and format: the readers check them
        for k, v in f.attrs.items():
            g.attrs[k] = v
        zeros = (0,) * (images.ndim - 1)
        chunks = [images.id.read_direct_chunk((i, *zeros)) for i in range(m)]
        for i in range(n):
            mask, data = chunks[i % m]
            out.id.write_direct_chunk((i, *zeros), data, filter_mask=mask)
        # each image's checksum is its source chunk's (the readers check every read against them)
        g.create_dataset("checksums", data=f["checksums"][:][np.arange(n) % m])


# --------------------------------------------------------------------------- measurements


def _sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def epoch_batch_sizes(n_train: int, batch: int) -> list[int]:
    """The batch sizes of one training epoch over ``n_train`` images, as the training loop cuts them
    (a last batch of one image is dropped there)."""
    sizes = [min(batch, n_train - i) for i in range(0, n_train, batch)]
    if len(sizes) > 1 and sizes[-1] == 1:
        sizes.pop()
    return sizes


class BareStep:
    """The bare training step of ``backbone``: one model, optimizer and random batch, kept across epochs."""

    def __init__(self, backbone: str, dev, amp_dtype, channels_last: bool, batch: int = BATCH) -> None:
        import torch

        from ecgcwt.learn import build_model

        torch.manual_seed(0)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.dev, self.amp_dtype = dev, amp_dtype
        self.model = build_model(backbone, 3, pretrained="none", image_size=SIZE).model.to(dev, memory_format=fmt)
        self.model.train()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=3e-4)
        self.x = torch.randn(batch, 3, SIZE, SIZE, device=dev).contiguous(memory_format=fmt)
        self.y = torch.randint(0, 3, (batch,), device=dev)

    def step(self, b: int) -> None:
        import torch
        from torch import nn

        with torch.autocast(self.dev.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            logits = self.model(self.x[:b])
        loss = nn.functional.cross_entropy(logits.float(), self.y[:b])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def epoch_img_s(self, batch_sizes) -> float:
        """Images/s of one step per entry of ``batch_sizes`` (the job's epoch: same images, same last batch)."""
        _sync(self.dev)
        t = time.perf_counter()
        for b in batch_sizes:
            self.step(b)
        _sync(self.dev)
        return sum(batch_sizes) / (time.perf_counter() - t)


def raw_step_img_s(backbone: str, dev, amp_dtype, channels_last: bool, batch_sizes, warmup: int) -> float:
    """Images/s of the bare training step over a random batch already on the device, one step per
    entry of ``batch_sizes``, after ``warmup`` steps."""
    bare = BareStep(backbone, dev, amp_dtype, channels_last, max(batch_sizes))
    for _ in range(warmup):
        bare.step(batch_sizes[0])
    return bare.epoch_img_s(batch_sizes)


def paired_ratios(jobs: list[float], raws: list[float]) -> list[float]:
    """Job epoch ``k`` (from the second on) against the mean of the bare epochs just before and just
    after it: ``raws[k - 1]`` and ``raws[k]`` (``raws[k]`` ran right after ``jobs[k]``), so that a drift
    of the machine's speed over a round falls on both sides."""
    return [jobs[k] / ((raws[k - 1] + raws[k]) / 2) for k in range(1, len(jobs))]


def spread(values: list[float]) -> dict:
    """Lowest, quartiles and highest of ``values``."""
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {
        "min": round(min(values), 3),
        "q1": round(q1, 3),
        "median": round(q2, 3),
        "q3": round(q3, 3),
        "max": round(max(values), 3),
    }


def interleaved(
    backbone: str, cache: Path, folds: Path, work: Path, device: str, threads: int, rounds: int, warmup: int
) -> dict:
    """Job and bare epochs alternating in one process: one job of ``rounds + 1`` epochs, a bare epoch
    after each (see the module docstring); returns both series, the paired ratios and the job's numerics."""
    import pandas as pd
    import torch

    from ecgcwt.learn import choose_numerics

    dev = torch.device(device)
    num = choose_numerics({"precision": "auto", "channels_last": "auto"}, dev, backbone)
    # a first job, not counted: measured on 2 cores, a backbone's first job in a process ran
    # 10-30% slower than the next ones even in its second epoch (13.4 against 18-20 img/s);
    # it also gives the number of training images, hence the batches of an epoch
    first = job_img_s(backbone, cache, folds, work, device, threads)
    sizes = epoch_batch_sizes(first["train_images"], BATCH)
    bare = BareStep(backbone, dev, num.amp_dtype, num.channels_last)
    for _ in range(warmup):
        bare.step(sizes[0])
    raws: list[float] = []
    # patience: no early stop; no checkpoint (it is written outside the training phase measured here)
    cfg = {"epochs": rounds + 1, "patience": rounds + 1, "checkpoint_interval_s": 3600}
    job_img_s(
        backbone,
        cache,
        folds,
        work,
        device,
        threads,
        cfg=cfg,
        on_epoch_end=lambda row: raws.append(bare.epoch_img_s(sizes)),
    )
    jobs = pd.read_csv(work / f"job_{backbone}" / "history.csv")["images_per_s"].tolist()
    return {"jobs": jobs, "raws": raws, "ratios": paired_ratios(jobs, raws), **first}


def job_img_s(
    backbone: str,
    cache: Path,
    folds: Path,
    work: Path,
    device: str,
    threads: int,
    *,
    cfg: dict | None = None,
    on_epoch_end=None,
) -> dict:
    """A ``train_fold`` job on fold 0 (2 epochs unless ``cfg`` says otherwise): its last epoch's training throughput."""
    import pandas as pd

    from ecgcwt.learn import train_fold

    cfg = {"pretrained": "none", "epochs": 2, "batch_size": BATCH, "seed": 0, **(cfg or {})}
    metrics = train_fold(
        cache,
        folds,
        backbone=backbone,
        fold=0,
        cfg=cfg,
        out_dir=work / f"job_{backbone}",
        threads=threads,
        device=device,
        log=lambda m: None,
        on_epoch_end=on_epoch_end,
    )
    history = pd.read_csv(work / f"job_{backbone}" / "history.csv")
    return {
        "job_img_s": float(history["images_per_s"].iloc[-1]),
        "precision": metrics["learner"]["precision"],
        "channels_last": metrics["learner"]["channels_last"],
        "train_images": metrics["n_segments"]["train"],
    }


def loader_img_s(cache: Path, dev, passes: int) -> float:
    """The in-memory path: every image of the cache in shuffled batches of 32, as model-ready device tensors."""
    import torch

    from ecgcwt.imaging import ChunkReader
    from ecgcwt.learn import IMAGENET_MEAN, IMAGENET_STD, BatchFeeder, InMemoryImages

    with ChunkReader(cache, threads=torch.get_num_threads()) as reader:
        rows = np.arange(reader.n_images)
        source = InMemoryImages(reader, rows, pin_memory=dev.type == "cuda")
        feeder = BatchFeeder(source, dev, IMAGENET_MEAN, IMAGENET_STD, channels_last=True)
        rng = np.random.default_rng(0)

        def one_pass():
            order = rng.permutation(rows)
            n = 0
            for x in feeder.batches([order[i : i + BATCH] for i in range(0, len(order), BATCH)]):
                n += x.shape[0]
            _sync(dev)
            return n

        one_pass()  # warm-up: staging buffers, allocator
        t = time.perf_counter()
        n = sum(one_pass() for _ in range(passes))
        return n / (time.perf_counter() - t)


STREAM_CHILD = r"""
import json, sys, time
import numpy as np, torch
from ecgcwt.learn import BatchFeeder, open_image_source
from ecgcwt.imaging import ChunkReader
from ecgcwt.learn import IMAGENET_MEAN, IMAGENET_STD
cache, device, threads, budget = sys.argv[1], torch.device(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
torch.set_num_threads(threads)
with ChunkReader(cache, threads=threads) as reader:
    rows = np.random.default_rng(0).permutation(reader.n_images)
    source = open_image_source(reader, rows, budget, pin_memory=device.type == "cuda")
    assert source.mode == "stream", source.mode
    feeder = BatchFeeder(source, device, IMAGENET_MEAN, IMAGENET_STD, channels_last=True, prefetch=4)
    batches = [rows[i:i + 32] for i in range(0, len(rows), 32)]
    t = time.perf_counter()
    n = 0
    for x in feeder.batches(batches):
        n += x.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0] / 1024
print(json.dumps({"img_s": n / dt, "rss_mb": hwm, "images": n, "cache_gb_uint8": n * 224 * 224 * 3 / 1e9}))
"""


def stream(cache: Path, device: str, threads: int, budget_mb: float) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", STREAM_CHILD, str(cache), device, str(threads), str(budget_mb)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


STARTUP_CHILD = r"""
import json, sys, time
t0 = time.time()
from ecgcwt.learn import train_fold
import torch
t1 = time.time()
dev = sys.argv[4]
if dev.startswith("cuda"):
    torch.zeros(1, device=dev); torch.cuda.synchronize()
t2 = time.time()
m = train_fold(sys.argv[1], sys.argv[2], backbone="resnet18", fold=0, out_dir=sys.argv[3], device=dev,
               threads=int(sys.argv[5]), cfg={"pretrained": "none", "epochs": 1, "batch_size": 32},
               log=lambda s: None)
print(json.dumps({"import_s": t1 - t0, "cuda_init_s": t2 - t1, **m["timing"]}))
"""


def torch_import_s() -> float:
    """Wall time of a bare ``python -c 'import torch, torchvision'``: the floor of any training job's start-up."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, torchvision"], check=True)
    return time.perf_counter() - t


def startup(cache: Path, folds: Path, work: Path, device: str, threads: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", STARTUP_CHILD, str(cache), str(folds), str(work / "startup"), device, str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    t = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "startup_s": t["process_startup_s"],
        "startup": {
            "interpreter_and_imports_s": t["process_startup_s"] - t["startup_s"] - t["cuda_init_s"],
            "import_ecgcwt_training_s": t["import_s"],
            "cuda_init_s": t["cuda_init_s"],
            "train_fold_setup_s": t["startup_s"],
            "of_which_load_images_s": t.get("load_images_s"),
        },
    }


def profile(backbone: str, cache: Path, folds: Path, work: Path, dev, threads: int, warmup: int) -> None:
    """Print self CPU time per operator and batch: the training phase of one job epoch (its second, the
    ``train`` range the loop marks) against one bare epoch over the same batch sizes."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from ecgcwt.learn import choose_numerics

    num = choose_numerics({"precision": "auto", "channels_last": "auto"}, dev, backbone)
    first = job_img_s(backbone, cache, folds, work, dev.type, threads)  # warm-up, and the batches of an epoch
    sizes = epoch_batch_sizes(first["train_images"], BATCH)
    prof = torch_profile(activities=[ProfilerActivity.CPU])

    def on_epoch_end(row: dict) -> None:
        if row["epoch"] == 1:
            prof.__enter__()
        else:
            prof.__exit__(None, None, None)

    job_img_s(
        backbone, cache, folds, work, dev.type, threads, cfg={"checkpoint_interval_s": 3600}, on_epoch_end=on_epoch_end
    )
    bare = BareStep(backbone, dev, num.amp_dtype, num.channels_last)
    for _ in range(warmup):
        bare.step(sizes[0])
    with torch_profile(activities=[ProfilerActivity.CPU]) as bare_prof:
        bare.epoch_img_s(sizes)
    job = _self_ms(prof, inside="train")
    base = _self_ms(bare_prof)
    rows = sorted(((job.get(k, 0.0) - base.get(k, 0.0), k) for k in set(job) | set(base)), key=lambda r: -abs(r[0]))
    n = len(sizes)
    print(
        f"{backbone}: self CPU ms per batch, the job's training phase against the bare step "
        f"({n} batches, {first['precision']})"
    )
    print(f"{'operator':<48}{'job':>9}{'bare':>9}{'job-bare':>10}")
    for d, k in rows[:25]:
        print(f"{k[:47]:<48}{job.get(k, 0.0) / n:>9.2f}{base.get(k, 0.0) / n:>9.2f}{d / n:>10.2f}")
    total_job, total_bare = sum(job.values()) / n, sum(base.values()) / n
    print(f"{'total':<48}{total_job:>9.2f}{total_bare:>9.2f}{total_job - total_bare:>10.2f}")


def _self_ms(prof, inside: str | None = None) -> dict[str, float]:
    """Self CPU milliseconds per operator of a profile; with ``inside``, only events within a range of that name."""
    out: dict[str, float] = {}
    for e in prof.events():
        if e.name == inside:
            continue
        if inside is not None:
            parent = e.cpu_parent
            while parent is not None and parent.name != inside:
                parent = parent.cpu_parent
            if parent is None:
                continue
        out[e.name] = out.get(e.name, 0.0) + e.self_cpu_time_total / 1e3
    return out


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    ap.add_argument("--quick", action="store_true", help="6 subjects per class, fewer steps (~8 min on 2 cores)")
    ap.add_argument("--sweep", action="store_true", help="also time fp32/bf16 x contiguous/channels_last")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    ap.add_argument(
        "--rounds", type=int, default=None, help="paired job/bare epochs per backbone (default 8 with --quick, else 5)"
    )
    ap.add_argument("--startup-rounds", type=int, default=5, help="start-up runs (median)")
    ap.add_argument("--profile", metavar="BACKBONE", help="profile one job epoch against one bare epoch, then stop")
    ap.add_argument("--workdir", default=None, help="keep the caches here (default: a temporary folder)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    gpu = dev.type == "cuda"
    steps, warmup = (20, 5) if gpu else ((4, 2) if args.quick else (10, 3))
    if gpu:
        steps *= 5
    subjects = 6 if args.quick else 27
    rounds = args.rounds or (8 if args.quick else 5)
    stream_images = 4000 if args.quick else 20000
    backbones = [b for b in args.backbones.split(",") if b]

    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        cache, folds = build_cache(work, subjects, args.threads)
        from ecgcwt.config import cpu_name

        result: dict = {"device": torch.cuda.get_device_name(dev) if gpu else f"cpu ({cpu_name()})"}
        setup = {
            "threads": args.threads,
            "torch": torch.__version__,
            "quick": args.quick,
            "rounds": rounds,
            "batch": BATCH,
            "image_px": SIZE,
            "cache_images": _n_images(cache),
            "cache_build_s": time.perf_counter() - t,
        }

        if args.profile:
            profile(args.profile, cache, folds, work, dev, args.threads, warmup)
            return

        for b in backbones:
            m = interleaved(b, cache, folds, work, device, args.threads, rounds, warmup)
            ratios = m["ratios"]
            result[b] = {
                "raw_img_s": round(statistics.median(m["raws"]), 1),
                "job_img_s": round(statistics.median(m["jobs"][1:]), 1),
                "ratio": round(statistics.median(ratios), 3),
                "spread": spread(ratios),
                "rounds": {
                    "raw_img_s": [round(x, 1) for x in m["raws"]],
                    "job_img_s": [round(x, 1) for x in m["jobs"]],
                    "ratio": [round(x, 3) for x in ratios],
                },
                "precision": m["precision"],
                "channels_last": m["channels_last"],
            }
            if args.sweep:
                result[b]["sweep_raw_img_s"] = {
                    f"{p}/{'channels_last' if cl else 'contiguous'}": round(
                        raw_step_img_s(b, dev, None if p == "fp32" else torch.bfloat16, cl, [BATCH] * steps, warmup), 1
                    )
                    for p in ("fp32", "bf16")
                    for cl in (False, True)
                }
            _progress(args, b, result[b])

        result["loader_img_s"] = round(loader_img_s(cache, dev, passes=3 if not args.quick else 2), 1)
        big = work / "stream_cache.h5"
        repeat_cache(cache, big, stream_images)
        # budget: a tenth of the cache's uint8 size, so the job must stream
        budget = stream_images * SIZE * SIZE * 3 / 1e6 / 10
        s = stream(big, device, args.threads, budget)
        result["loader_stream_img_s"] = round(s["img_s"], 1)
        result["stream_rss_mb"] = round(s["rss_mb"], 1)
        setup["stream"] = {
            "images": s["images"],
            "uint8_gb": round(s["cache_gb_uint8"], 2),
            "budget_mb": round(budget, 1),
            "file_mb": round(big.stat().st_size / 1e6, 1),
        }
        # a job's start-up beside a bare `import torch, torchvision`, alternating, medians of the rounds
        starts, imports = [], []
        for _ in range(args.startup_rounds):
            imports.append(torch_import_s())
            starts.append(startup(cache, folds, work, device, args.threads))
        st = min(starts, key=lambda x: abs(x["startup_s"] - statistics.median(y["startup_s"] for y in starts)))
        result["startup_s"] = round(statistics.median(x["startup_s"] for x in starts), 2)
        result["torch_import_s"] = round(statistics.median(imports), 2)
        result["startup"] = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in st["startup"].items()}
        result["startup"]["rounds_startup_s"] = [round(x["startup_s"], 2) for x in starts]
        result["startup"]["rounds_torch_import_s"] = [round(x, 2) for x in imports]
        result["setup"] = setup
        result["targets"] = _targets(result, backbones, gpu)

    if args.json:
        print(json.dumps(result, indent=1))
    else:
        _table(result, backbones)


def _targets(r: dict, backbones, gpu: bool) -> dict:
    if gpu:
        return {f"{b}.ratio>={TARGETS_GPU['ratio']}": r[b]["ratio"] >= TARGETS_GPU["ratio"] for b in backbones}
    t = {f"{b}.ratio>={TARGETS_CPU['ratio']}": r[b]["ratio"] >= TARGETS_CPU["ratio"] for b in backbones}
    top = max(r[b]["raw_img_s"] for b in backbones)
    t[f"loader_img_s>={TARGETS_CPU['loader_vs_raw']:.0f}x_max_raw ({top:.0f})"] = (
        r["loader_img_s"] >= TARGETS_CPU["loader_vs_raw"] * top
    )
    t[f"loader_stream_img_s>={TARGETS_CPU['loader_stream_img_s']:.0f}"] = (
        r["loader_stream_img_s"] >= TARGETS_CPU["loader_stream_img_s"]
    )
    t[f"stream_rss_mb<={TARGETS_CPU['stream_rss_mb']:.0f}"] = r["stream_rss_mb"] <= TARGETS_CPU["stream_rss_mb"]
    return t


def _table(r: dict, backbones) -> None:
    print(f"device: {r['device']}")
    print(
        f"{'backbone':<14}{'precision':>10}{'ch_last':>9}{'raw img/s':>11}{'job img/s':>11}{'ratio':>7}"
        "   spread of the rounds: min [q1 q3] max"
    )
    for b in backbones:
        x = r[b]
        s = x["spread"]
        print(
            f"{b:<14}{x['precision']:>10}{str(x['channels_last']):>9}{x['raw_img_s']:>11.1f}"
            f"{x['job_img_s']:>11.1f}{x['ratio']:>7.3f}"
            f"   rounds {s['min']:.3f} [{s['q1']:.3f} {s['q3']:.3f}] {s['max']:.3f}"
        )
        if "sweep_raw_img_s" in x:
            print("    sweep: " + ", ".join(f"{k} {v:.1f}" for k, v in x["sweep_raw_img_s"].items()))
    print(
        f"loader (in memory): {r['loader_img_s']:.0f} img/s; streaming: {r['loader_stream_img_s']:.0f} img/s, "
        f"peak RSS {r['stream_rss_mb']:.0f} MB; start-up {r['startup_s']:.2f} s "
        f"(bare import torch, torchvision {r['torch_import_s']:.2f} s) {r['startup']}"
    )
    for k, ok in r["targets"].items():
        print(f"  target {k}: {'met' if ok else 'MISSED'}")


def _progress(args, backbone, row) -> None:
    if not args.json:
        print(f"  {backbone}: {row}", file=sys.stderr)


def _n_images(cache: Path) -> int:
    import h5py

    with h5py.File(cache, "r") as f:
        return int(f["images"].shape[0])


if __name__ == "__main__":
    main()
