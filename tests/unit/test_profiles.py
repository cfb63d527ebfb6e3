"""The SLURM profiles, read as files: what a real cluster needs of them (no cluster needed here).

The same profiles run on a real SLURM in tests/slurm/test_slurm.py; the dry runs
in tests/workflow/test_profiles.py show the resources Snakemake gives each rule.
"""

from __future__ import annotations

import copy
import re

import yaml

from ..conftest import REPO
from .test_envs import parse_rules

GPU = REPO / "profiles" / "slurm" / "config.yaml"
CPU = REPO / "profiles" / "slurm-cpu" / "config.yaml"


def load(path):
    return yaml.safe_load(path.read_text())


def test_the_cpu_profile_is_the_gpu_profile_with_training_on_cpus():
    gpu, cpu = load(GPU), load(CPU)
    assert gpu["set-resources"]["train"]["gpu"] == 1
    # the plugin's standard GPU resources: --gpus=1 and --cpus-per-gpu = the job's threads
    assert gpu["set-resources"]["train"]["cpus_per_gpu"] == "threads"
    assert cpu["set-resources"]["train"]["gpu"] == 0 and "cpus_per_gpu" not in cpu["set-resources"]["train"]
    # everything else is the same, so the two cannot drift apart
    same_gpu, same_cpu = copy.deepcopy(gpu), copy.deepcopy(cpu)
    assert set(gpu["set-resources"]) == set(cpu["set-resources"])
    for p in (same_gpu, same_cpu):
        for rule, res in p["set-resources"].items():
            if "gpu" in gpu["set-resources"][rule]:
                p["set-resources"][rule] = {k: v for k, v in res.items() if k not in ("gpu", "cpus_per_gpu", "runtime")}
    assert same_gpu == same_cpu


def test_status_from_squeue_works_with_and_without_accounting():
    for path in (GPU, CPU):
        p = load(path)
        assert p["executor"] == "slurm"
        assert p["slurm-status-command"] == "squeue"
        # the plugin falls back to sacct when MinJobAge < 3 x this; SLURM's default MinJobAge is 300 s
        assert 3 * p["slurm-init-seconds-before-status-checks"] <= 300


def test_no_retries_no_gres_no_partition_for_every_job():
    for path in (GPU, CPU):
        text, p = path.read_text(), load(path)
        # a job that failed fails the same way again; sbatch refusals are not worth a second submission
        assert "retries" not in p and "restart-times" not in p
        # GPUs through the plugin's gpu resource, never raw --gres in slurm_extra
        assert "slurm_extra" not in text and "--gres" not in text
        # no partition or account set for every job: a GPU partition in default-resources would send
        # every CPU job there. The placeholders are comments, per rule.
        assert "slurm_partition" not in p["default-resources"] and "slurm_account" not in p["default-resources"]
        assert re.search(r"^  # slurm_partition: cpu .*your cluster", text, re.M)
        assert re.search(r"^  # slurm_account: \S+ .*your cluster", text, re.M)
    # the GPU partition: under the training rules only (set-resources), never for every job
    training = GPU.read_text().split("\nset-resources:\n", 1)[1].split("\n  train:", 1)[1]
    assert re.search(r"^    # slurm_partition: gpu .*your cluster: the GPU partition", training, re.M)


def test_profiles_name_only_rules_that_exist():
    rules = set(parse_rules())
    for path in (GPU, CPU):
        p = load(path)
        named = set(p["set-resources"]) | set(p["set-threads"])
        assert named <= rules, f"{path.relative_to(REPO)} names rules the workflow lacks: {sorted(named - rules)}"


def test_every_rule_that_asks_for_a_gpu_is_set_in_both_profiles():
    # a rule with gpu=... in its resources: the GPU profile gives it the GPU with the plugin's resources,
    # the CPU profile must zero it (else sbatch --gpus on a cluster without GPUs)
    gpu_rules = {name for name, r in parse_rules().items() if re.search(r"^\s+gpu\s*=", r["body"], re.M)}
    assert "train" in gpu_rules
    gpu, cpu = load(GPU), load(CPU)
    for rule in sorted(gpu_rules):
        assert gpu["set-resources"].get(rule, {}).get("gpu", 0) >= 1, f"profiles/slurm: set gpu for rule {rule}"
        assert gpu["set-resources"][rule].get("cpus_per_gpu"), f"profiles/slurm: set cpus_per_gpu for rule {rule}"
        assert cpu["set-resources"].get(rule, {}).get("gpu") == 0, f"profiles/slurm-cpu: set gpu: 0 for rule {rule}"
