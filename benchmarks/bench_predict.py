"""Peak memory of `ecgcwt predict` against the length of the record: one JSON object on stdout.

Writes long synthetic 2-lead WFDB records at 360 Hz (format 16, written part
by part: 1e6 and 1e7 samples and a 24-hour record of 31,104,000 samples),
trains a small model at 224 px (squeezenet1_1, weights=None, one epoch on a
synthetic database: its numbers mean nothing, its memory and work are a real
model's), then runs `python -m ecgcwt predict` on each record in its own
subprocess and reads that process's peak RSS (getrusage of the children of a
fresh wrapper process, so each run is measured alone).

Runs: a one-minute record with --max-windows 1 (the baseline: Python, torch,
the model), every window of the 1e6-sample record, and --max-windows N
(default 100 per lead) on every record; ``--full`` also classifies every
window of the longer records (slow on a CPU: 43,200 windows for 24 h).
``--compare-src DIR`` runs the same commands with another checkout's
``src/`` (e.g. the code before chunked reading) for the "before" numbers.

    python benchmarks/bench_predict.py [--out DIR] [--max-windows N] [--full] [--compare-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FS = 360.0
SIZES = {"1e6": 1_000_000, "1e7": 10_000_000, "24h": int(24 * 3600 * FS)}


def write_record(folder: Path, name: str, n: int, part: int = 1_000_000) -> Path:
    """A 2-lead ECG-like record of ``n`` samples (format 16, 200 units per mV), written part by part."""
    rng = np.random.default_rng(0)
    with open(folder / f"{name}.dat", "wb") as f:
        for i0 in range(0, n, part):
            t = np.arange(i0, min(n, i0 + part)) / FS
            phase = (t * 1.2) % 1.0
            beat = np.exp(-((phase - 0.3) ** 2) / (2 * 0.012**2)) + 0.3 * np.exp(-((phase - 0.6) ** 2) / (2 * 0.05**2))
            leads = np.stack([beat, 0.7 * beat], axis=1) + 0.03 * rng.normal(size=(len(t), 2))
            f.write(np.round(leads * 200).astype("<i2").tobytes())
    lines = [f"{name} 2 {FS:g} {n}"] + [f"{name}.dat 16 200/mV 16 0 0 0 0 ECG{k}" for k in (1, 2)]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / name


def train_model(work: Path, src: Path) -> Path:
    """squeezenet1_1 at 224 px, weights=None, one epoch on a small synthetic database."""
    code = f"""
import sys; sys.path.insert(0, {str(src)!r})
from pathlib import Path
import numpy as np
from ecgcwt.data import DatabaseSource, SegmentSpec, generate_database
from ecgcwt.imaging import build_data
from ecgcwt.learn import train_fold
d = Path({str(work)!r})
sources = []
for db, label in (("a", "ARR"), ("c", "CHF"), ("n", "NSR")):
    generate_database(db, label, d / "db" / db, subjects=2, duration_s=24, seed=0)
    sources.append(DatabaseSource(db, d / "db" / db, label))
spec = SegmentSpec(fs=128, window=512, hop=512, max_per_recording=3, max_duration_s=None)
cache, table = build_data(sources, spec, {{"image": {{"size": 224}}}}, d / "data", threads=2)
subjects = table.drop_duplicates("subject")[["subject", "label"]].copy()
subjects["fold"] = np.arange(len(subjects)) % 2
subjects.to_csv(d / "folds.csv", index=False)
cfg = {{"pretrained": "none", "epochs": 1, "batch_size": 8, "seed": 0, "checkpoint_interval_s": 0}}
train_fold(cache, d / "folds.csv", backbone="squeezenet1_1", fold="all", cfg=cfg, out_dir=d / "model",
           threads=2, log=lambda m: None)
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    return work / "model" / "model.pt"


_MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": r.returncode, "wall_s": round(time.perf_counter() - t, 1),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
                  "stdout": r.stdout.strip()[-300:], "stderr": r.stderr.strip()[-300:]}))
"""


def measure(src: Path, model: Path, record: Path, *extra: str) -> dict:
    """Peak RSS (MB) and wall time of one `python -m ecgcwt predict` process, alone."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-m", "ecgcwt", "predict", "--model", str(model), str(record), "--threads", "2", *extra]
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, env=env, check=True)
    result = json.loads(out.stdout)
    line = result.pop("stdout")
    result["n_windows"] = int(line.rsplit("n_windows=", 1)[1].rstrip(")")) if "n_windows=" in line else None
    if result["rc"] == 0:
        result.pop("stderr")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="work folder (default: a temporary one, removed)")
    parser.add_argument("--max-windows", type=int, default=100, help="windows per lead of the capped runs")
    parser.add_argument("--full", action="store_true", help="also classify every window of the 1e7 and 24 h records")
    parser.add_argument("--compare-src", help="another checkout's src/ folder: the same runs with that code")
    parser.add_argument("--sizes", default=",".join(SIZES), help="records to run (default: 1e6,1e7,24h)")
    args = parser.parse_args()
    tmp = None if args.out else tempfile.TemporaryDirectory()
    work = Path(args.out or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    codes = {"new": REPO / "src"}
    if args.compare_src:
        codes["compare"] = Path(args.compare_src).resolve()
    started = time.perf_counter()
    model = train_model(work, REPO / "src")
    records = {"1min": write_record(work, "r1min", int(60 * FS))}
    for key in args.sizes.split(","):
        records[key] = write_record(work, f"r{key}", SIZES[key])
    cap = ["--max-windows", str(args.max_windows)]
    runs = {"baseline_1min_max1": ("1min", ["--max-windows", "1"])}
    if "1e6" in records:
        runs["1e6_all"] = ("1e6", [])
    for key in records:
        if key != "1min":
            runs[f"{key}_max{args.max_windows}"] = (key, cap)
            if args.full and key != "1e6":
                runs[f"{key}_all"] = (key, [])
    from ecgcwt.config import cpu_name

    result = {
        "machine": f"{cpu_name()}, {os.cpu_count()} CPUs (predict --device cpu, --threads 2)",
        "image_px": 224,
        "model": "squeezenet1_1 (weights=None)",
        "record_fs_hz": FS,
        "leads": 2,
        "samples": {k: int(SIZES.get(k, 60 * FS)) for k in records},
        "runs": {},
    }
    for name, (key, extra) in runs.items():
        for code, src in codes.items():
            result["runs"].setdefault(name, {})[code] = measure(src, model, records[key], *extra)
            print(name, code, result["runs"][name][code], file=sys.stderr, flush=True)
    result["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=1))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
