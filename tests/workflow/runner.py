"""Run the real workflow with snakemake in a temporary working directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from ..conftest import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, configfiles=(), timeout=900, env=None) -> subprocess.CompletedProcess:
    """``snakemake -s REPO/Snakefile --directory workdir`` with the given config files merged over config.yaml."""
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    # the Snakefile's `configfile: "config.yaml"` is relative to the working directory: give the
    # repo's explicitly, then the overrides, merged in that order
    # (last on the line: --configfile takes every following word as a file)
    cmd += [*args, "--configfile", str(REPO / "config.yaml"), *map(str, configfiles)]
    r = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    r.output = r.stdout + r.stderr  # snakemake prints errors to either stream
    return r


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Job counts from the 'Job stats' table of a dry run."""
    counts: dict[str, int] = {}
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats"))
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts
