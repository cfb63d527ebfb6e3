"""Where a finished demo's wall time went: per rule, the idle cores, the serial tail, the training jobs' start-up.

Run after ``time make demo`` (or any run of the workflow) with the run's folder::

    .venv/bin/python benchmarks/demo_breakdown.py demo [--cores 2]

It reads the run's newest Snakemake log (``.snakemake/log/``: each job's start and finish, to the
second) and the training jobs' ``metrics.json`` (``timing``: ``process_startup_s``, the time from the
process's start to its first training step, then each phase). Printed:

* the wall time from the first job's start to the last job's finish, and the load average now
  (on a shared machine every figure grows with it: note it beside the numbers);
* per rule: jobs, their summed wall time, and its share of the cores' time (cores x wall);
* idle core time: cores x wall minus every job's wall time (counting a job's threads once: the
  demo runs its jobs on one thread each), and the serial tail after the last training job;
* over the 2D CNN and leaky-split training jobs: process start-up (Python, torch, the model) against
  training and the other phases, summed and per job.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
from collections import defaultdict
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")
#: Rules that train a model (their jobs are the ones that import torch and fit).
TRAINING_RULES = ("train", "train_cnn1d", "train_wavelet", "train_all", "leak")


def job_intervals(log_text: str) -> list[tuple[str, datetime, datetime]]:
    """``(rule, start, finish)`` of every finished job of a Snakemake log, in start order."""
    now = rule = None
    started: dict[str, tuple[str, datetime]] = {}
    jobs = []
    for line in log_text.splitlines():
        if m := STAMP.match(line):
            now = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif m := RULE.match(line):
            rule = m.group(1)
        elif (m := JOBID.match(line)) and rule is not None:
            started[m.group(1)] = (rule, now)
            rule = None
        elif (m := FINISHED.match(line)) and m.group(1) in started:
            name, start = started.pop(m.group(1))
            jobs.append((name, start, now))
    return sorted(jobs, key=lambda j: j[1])


def newest_log(run_dir: Path) -> Path:
    logs = sorted((run_dir / ".snakemake" / "log").glob("*.snakemake.log"))
    if not logs:
        raise SystemExit(f"no Snakemake log in {run_dir / '.snakemake' / 'log'}: run the workflow there first")
    return logs[-1]


def training_timing(run_dir: Path) -> dict[str, list[float]]:
    """Each ``timing`` phase of the training jobs' metrics.json files (2D CNN and leaky split), per phase."""
    phases: dict[str, list[float]] = defaultdict(list)
    files = [*run_dir.glob("results/models/**/metrics.json"), *run_dir.glob("results/leak/*/metrics.json")]
    for path in files:
        timing = json.loads(path.read_text()).get("timing") or {}
        if "process_startup_s" not in timing:
            continue  # a kind that does not time its start-up
        for key, value in timing.items():
            if key.endswith("_s") and isinstance(value, (int, float)):
                phases[key].append(float(value))
    return phases


def breakdown(run_dir: Path, cores: int, log: Path | None = None) -> list[str]:
    """The report's lines (see the module docstring)."""
    jobs = job_intervals((log or newest_log(run_dir)).read_text())
    if not jobs:
        raise SystemExit("the log has no finished job")
    t0, t1 = min(j[1] for j in jobs), max(j[2] for j in jobs)
    wall = (t1 - t0).total_seconds()
    lines = [f"wall {wall:.0f} s, {len(jobs)} jobs, {cores} cores; load average now {os.getloadavg()[0]:.2f}"]
    per_rule: dict[str, list[float]] = defaultdict(list)
    for rule, start, end in jobs:
        per_rule[rule].append((end - start).total_seconds())
    lines.append(f"{'rule':20s} {'jobs':>4s} {'job wall s':>10s} {'of cores x wall':>16s}")
    for rule, spans in sorted(per_rule.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"{rule:20s} {len(spans):4d} {sum(spans):10.0f} {sum(spans) / (cores * wall):16.1%}")
    busy = sum(sum(s) for s in per_rule.values())
    lines.append(f"idle core time: {max(0.0, cores * wall - busy):.0f} s of {cores * wall:.0f} s")
    last_training = max((e for r, _, e in jobs if r in TRAINING_RULES), default=t0)
    lines.append(f"after the last training job: {(t1 - last_training).total_seconds():.0f} s")
    phases = training_timing(run_dir)
    if phases:
        lines.append("training jobs with a start-up time (2D CNN, leaky split), seconds:")
        for key, values in phases.items():
            lines.append(
                f"  {key:18s} n={len(values):2d} sum {sum(values):7.1f}  median {statistics.median(values):6.2f}"
                f"  min {min(values):6.2f}  max {max(values):6.2f}"
            )
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="the run's folder (make demo: demo)")
    ap.add_argument(
        "--cores", type=int, default=os.cpu_count() or 1, help="cores the run had (default: this machine's)"
    )
    ap.add_argument("--log", type=Path, help="a Snakemake log other than the run's newest")
    args = ap.parse_args(argv)
    print("\n".join(breakdown(args.run_dir, args.cores, args.log)))


if __name__ == "__main__":
    main()
