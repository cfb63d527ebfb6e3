"""The SLURM profiles on a real SLURM cluster (one node, started by .ci/slurm/slurm_up.sh).

A tiny workflow (3 synthetic databases in a local WFDB folder, 2 folds, 1
backbone from "ImageNet" weights placed by hand, 32-px images, 1 epoch) goes
through sbatch with profiles/slurm-cpu as a cluster user would run it, with the
network closed to every process (proxies on a closed port): a compute node
offline. Its summary must equal the same workflow run locally. Then a failing
job, and the GPU profile: its preflight check on too small a node, and
`--gpus=1` on the train jobs' sbatch lines.

Skipped, with the reason, where there is no SLURM (no sinfo/srun/sbatch) or no
cluster answers; under CI (or ECGCWT_REQUIRE_SLURM=1) that is a failure instead,
so that a broken cluster start cannot pass as skipped tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ..conftest import REPO
from ..fixtures_weights import closed_port_url, make_weights_file

pytestmark = pytest.mark.slurm

CPU_PROFILE = REPO / "profiles" / "slurm-cpu"
GPU_PROFILE = REPO / "profiles" / "slurm"
#: the tiny cluster's node has 2 CPUs; the profiles ask for up to 8 threads (docs/cluster.md: `--max-threads N`)
NODE_CPUS = os.cpu_count() or 2
FAST_POLL = ("--slurm-init-seconds-before-status-checks", "2")
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")


def _unavailable(reason: str):
    if os.environ.get("CI") == "true" or os.environ.get("ECGCWT_REQUIRE_SLURM") == "1":
        pytest.fail(f"SLURM tests required here but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster():
    missing = [c for c in ("sinfo", "srun", "sbatch", "squeue") if shutil.which(c) is None]
    if missing:
        _unavailable(f"no SLURM client here ({', '.join(missing)} not found); start a local one: make slurm-up")
    try:
        r = subprocess.run(["srun", "-t", "1", "-N1", "-n1", "true"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        _unavailable("srun did not get a node within 60 s; start a local cluster: make slurm-up")
    if r.returncode != 0:
        _unavailable(f"no SLURM cluster answers (srun: {r.stderr.strip()[-300:]}); start a local one: make slurm-up")
    sinfo = subprocess.run(["sinfo", "-h", "-N", "-o", "%c|%G"], capture_output=True, text=True, check=True).stdout
    return {"gpus": any("gpu" in line.split("|")[1] for line in sinfo.splitlines())}


def offline_env() -> dict[str, str]:
    """This environment with every HTTP(S) request sent to a closed port: an offline compute node."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy",)}
    closed = closed_port_url().rsplit("/", 1)[0]
    for key in ("http_proxy", "https_proxy", "all_proxy"):
        env[key] = env[key.upper()] = closed
    return env


def run_snakemake(workdir: Path, *args: str, configs, timeout: int, env=None) -> subprocess.CompletedProcess:
    """snakemake in ``workdir``, under `timeout -k 30` (with jobs open it ignores SIGTERM)."""
    cmd = ["timeout", "-k", "30", str(timeout), sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
    # --configfile last: it takes every following word as a file
    cmd += [*args, "--configfile", str(REPO / "config.yaml"), *map(str, configs)]
    started = time.monotonic()
    r = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env or offline_env())
    r.output = r.stdout + r.stderr
    r.seconds = time.monotonic() - started
    (workdir / f"snakemake-{int(time.time() * 1000)}.out").write_text(r.output)  # for a failing test's reader
    return r


def slurm_jobs(output: str) -> dict[str, str]:
    """SLURM job id -> its log file, from snakemake's 'submitted with SLURM jobid' lines."""
    return {m.group(1): m.group(2) for m in SUBMITTED.finditer(output)}


def squeue_states(job_ids) -> dict[str, tuple[str, str]]:
    """job id -> (state, comment) of finished and running jobs (the cluster keeps them MinJobAge s)."""
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-o", "%i|%T|%k"], capture_output=True, text=True
    ).stdout
    return {i: (state, comment) for i, state, comment in (line.split("|", 2) for line in out.splitlines())}


def sbatch_calls(output: str) -> list[str]:
    return [line for line in output.splitlines() if "sbatch call: sbatch" in line]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny workflow's config, data folder and weights file."""
    from ecgcwt.data.synthetic import generate_database

    base = tmp_path_factory.mktemp("slurm")
    root = base / "wfdb"
    for db, label in (("mitdb", "ARR"), ("chfdb", "CHF"), ("nsrdb", "NSR")):
        generate_database(db, label, root / db, subjects=4, duration_s=16, seed=0)
    config = {
        "data": {"source": "local", "path": str(root), "max_duration_s": None},
        "segments": {"window": 256, "hop": 256, "max_per_recording": 2},
        "folds": {"k": 2},
        "cwt": {"image": {"size": 32}},
        # the default pretrained: imagenet, from a weights file "pre-fetched" by hand
        "training": {"backbones": ["resnet18"], "epochs": 1, "batch_size": 8, "precision": "fp32"},
        "evaluate": {"bootstrap": 20},
    }
    cfg = base / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    weights = make_weights_file(base / "weights", "resnet18")
    return {"base": base, "config": cfg, "weights": weights}


def new_workdir(tiny, name: str) -> Path:
    work = tiny["base"] / name
    (work / "resources" / "weights").mkdir(parents=True)
    shutil.copyfile(tiny["weights"], work / "resources" / "weights" / "resnet18.pth")  # placed by hand
    return work


@pytest.fixture(scope="module")
def local_run(tiny):
    work = new_workdir(tiny, "local")
    r = run_snakemake(work, "--cores", str(NODE_CPUS), configs=[tiny["config"]], timeout=600)
    assert r.returncode == 0, r.output[-5000:]
    return work


@pytest.fixture(scope="module")
def cpu_run(cluster, tiny):
    work = new_workdir(tiny, "cpu")
    r = run_snakemake(
        work,
        "--workflow-profile",
        str(CPU_PROFILE),
        "--max-threads",
        str(NODE_CPUS),
        *FAST_POLL,
        "--verbose",  # prints each sbatch call
        configs=[tiny["config"]],
        timeout=600,
    )
    return work, r


def test_cpu_profile_runs_the_workflow_through_sbatch(cpu_run):
    work, r = cpu_run
    assert r.returncode == 0, r.output[-5000:]
    jobs = slurm_jobs(r.output)
    states = squeue_states(jobs)
    rules = sorted(re.sub(r"^rule_(\w+?)(_wildcards_.*)?$", r"\1", comment) for _, comment in states.values())
    # every job but the target rule `all` went through sbatch, and finished there
    assert {"segment", "folds", "scalograms", "gallery", "train", "evaluate"} <= set(rules), rules
    assert rules.count("train") == 2
    assert {state for state, _ in states.values()} == {"COMPLETED"}, states
    assert "localrule all:" in r.output
    # no job asked for a GPU; train for CPUs only, as many as its threads
    assert not [c for c in sbatch_calls(r.output) if "--gpus" in c or "--gres" in c]
    train_calls = [c for c in sbatch_calls(r.output) if "--comment rule_train_wildcards_" in c]
    assert len(train_calls) == 2
    for call in train_calls:
        assert "--gpus" not in call and "--gres" not in call
        assert f"--cpus-per-task={NODE_CPUS}" in call and "--mem 16000" in call
    # the train jobs trained from the pre-fetched ImageNet weights file, with the network closed
    train_block = r.output.split("rule train:", 1)[1].split("resources:", 1)[0]
    assert "resources/weights/resnet18.pth" in train_block
    log = (work / "logs/train/resnet18/fold0.log").read_text()
    assert "resnet18: weights imagenet" in log, log[-2000:]


def test_cpu_profile_summary_equals_a_local_run(cpu_run, local_run):
    work, r = cpu_run
    assert r.returncode == 0, r.output[-3000:]
    on_slurm = pd.read_csv(work / "results/report/summary.csv")
    local = pd.read_csv(local_run / "results/report/summary.csv")
    assert len(on_slurm) > 0
    pd.testing.assert_frame_equal(on_slurm, local)


def test_a_failing_job_is_reported_failed_with_its_log(cpu_run, tmp_path):
    work, first = cpu_run
    assert first.returncode == 0, first.output[-3000:]
    # a real torch file (it passes the up-front config check) that is not resnet18's state_dict: the
    # training job itself fails, on the node
    import torch

    bad = tmp_path / "other-weights.pth"
    torch.save({"w": torch.zeros(1)}, bad)
    cfg = tmp_path / "bad_weights.yaml"
    cfg.write_text(yaml.safe_dump({"training": {"pretrained": str(bad)}}))
    target = "results/models/resnet18/fold0/metrics.json"
    r = run_snakemake(
        work,
        "--workflow-profile",
        str(CPU_PROFILE),
        "--max-threads",
        str(NODE_CPUS),
        *FAST_POLL,
        target,
        configs=[work.parent / "tiny.yaml", cfg],
        timeout=300,
    )
    assert r.returncode != 0, r.output[-3000:]
    jobs = slurm_jobs(r.output)
    assert len(jobs) == 1, r.output[-3000:]  # submitted once: no retries of a job that cannot succeed
    ((job_id, slurm_log),) = jobs.items()
    assert f"SLURM-job '{job_id}' failed" in r.output and "Error in rule train" in r.output
    assert squeue_states(jobs)[job_id][0] == "FAILED"
    # the rule's log, named and shown in snakemake's output (show-failed-logs), and SLURM's own log
    log = work / "logs/train/resnet18/fold0.log"
    assert "logs/train/resnet18/fold0.log" in r.output
    message = "does not match the architecture resnet18"
    assert message in log.read_text() and message in r.output
    # SLURM's log of the job (kept when it fails) names the rule's log
    slurm_log = Path(slurm_log.replace("%j", job_id))
    assert slurm_log.is_file() and "logs/train/resnet18/fold0.log" in slurm_log.read_text()


def test_gpu_profile_stops_before_sbatch_when_no_node_fits(cluster, cpu_run):
    # as shipped, train asks for 8 CPUs per GPU: more than this node has. Without the preflight check
    # SLURM would keep the jobs PENDING forever (Reason=PartitionConfig) and snakemake with them.
    work, first = cpu_run
    r = run_snakemake(
        work,
        "--workflow-profile",
        str(GPU_PROFILE),
        *FAST_POLL,
        "--force",
        "results/models/resnet18/fold0/metrics.json",
        configs=[work.parent / "tiny.yaml"],
        timeout=120,
    )
    assert r.returncode != 0 and r.seconds < 60, r.output[-3000:]
    assert not slurm_jobs(r.output)  # nothing was submitted
    assert "rule train asks for 8 CPU(s)" in r.output, r.output[-3000:]
    assert f"`--max-threads {NODE_CPUS}`" in r.output
    if not cluster["gpus"]:
        assert "No node there has 1 GPU(s)" in r.output and "profiles/slurm-cpu" in r.output


def test_gpu_profile_gives_each_train_job_one_gpu(cluster, cpu_run):
    if not cluster["gpus"]:
        pytest.skip("this cluster has no GPU node (slurm_up.sh with SLURM_GPUS=0)")
    work, first = cpu_run
    assert first.returncode == 0, first.output[-3000:]
    r = run_snakemake(
        work,
        "--workflow-profile",
        str(GPU_PROFILE),
        "--max-threads",
        str(NODE_CPUS),
        *FAST_POLL,
        "--verbose",
        "--force",
        "results/models/resnet18/fold1/metrics.json",
        configs=[work.parent / "tiny.yaml"],
        timeout=300,
    )
    assert r.returncode == 0, r.output[-5000:]
    (call,) = [c for c in sbatch_calls(r.output) if "--comment rule_train_wildcards_" in c]
    # the plugin's standard GPU resources: --gpus and --cpus-per-gpu (= the job's threads), no --gres
    assert "--gpus=1" in call and f"--cpus-per-gpu={NODE_CPUS}" in call and "--gres" not in call, call
    ((job_id, _),) = slurm_jobs(r.output).items()
    shown = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
    assert re.search(r"TresPerJob=\S*gpu:1", shown), shown  # what SLURM itself recorded
