"""Dry runs under the SLURM profiles: the resources each job would ask sbatch for (no cluster needed)."""

from __future__ import annotations

import re

import pytest

from ..conftest import REPO
from .runner import planned_jobs, snakemake

pytestmark = pytest.mark.workflow


def job_resources(output: str, rule: str) -> list[dict[str, str]]:
    """The `resources:` line of every planned job of ``rule``, as name -> value."""
    out = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", output):
        if re.match(rf"(?:local)?rule {rule}:", block):
            line = re.search(r"^    resources: (.*)$", block, re.M).group(1)
            out.append(dict(item.split("=", 1) for item in line.split(", ")))
    return out


@pytest.mark.parametrize("profile, gpu", [("slurm", "1"), ("slurm-cpu", "0")])
def test_slurm_profile_dry_run(tmp_path, profile, gpu):
    r = snakemake(tmp_path, "-n", "--workflow-profile", str(REPO / "profiles" / profile))
    assert r.returncode == 0, r.output[-3000:]
    assert planned_jobs(r)["train"] >= 15
    train = job_resources(r.stdout, "train")
    assert train and all(t["gpu"] == gpu and t["mem_mb"] == "16000" for t in train), train[0]
    # a GPU job's CPUs are cpus_per_gpu (= its threads); a CPU job's its threads
    assert all(("cpus_per_gpu" in t) == (gpu == "1") for t in train)
    for rule in ("segment", "scalograms", "evaluate"):
        for res in job_resources(r.stdout, rule):
            assert res.get("gpu", "0") == "0" and "slurm_partition" not in res, (rule, res)
