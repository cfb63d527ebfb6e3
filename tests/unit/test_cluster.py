"""The SLURM preflight check: job requests against sinfo's nodes, without a cluster."""

from __future__ import annotations

import subprocess

import pytest

from ecgcwt import cluster
from ecgcwt.cluster import Request, gres_gpus, job_request, parse_sinfo, unfit

SINFO = """debug*|2|19284|(null)|node1
gpu|32|257000|gpu:a100:4(S:0-1)|g1
gpu|16|128000|gpu:2,shard:8|g2
"""


def test_gres_strings():
    assert gres_gpus("(null)") == 0
    assert gres_gpus("gpu:1") == 1
    assert gres_gpus("gpu:a100:4(S:0-1)") == 4
    assert gres_gpus("gpu:2,shard:8") == 2
    assert gres_gpus("shard:8") == 0


def test_parse_sinfo_nodes_and_default_partition():
    nodes, default = parse_sinfo(SINFO)
    assert default == "debug"
    assert [(n.partition, n.cpus, n.mem_mb, n.gpus) for n in nodes] == [
        ("debug", 2, 19284, 0),
        ("gpu", 32, 257000, 4),
        ("gpu", 16, 128000, 2),
    ]


def test_job_request_follows_the_slurm_plugin():
    # CPUs: cpus_per_task, else cpus_per_gpu x gpu for GPU jobs, else threads
    assert job_request("a", 4, {"mem_mb": 100}) == Request("a", 4, 100, 0, None)
    assert job_request("a", 4, {"cpus_per_task": 6}).cpus == 6
    assert job_request("t", 8, {"gpu": 2, "cpus_per_gpu": 3, "mem_mb": 5}) == Request("t", 6, 5, 2, None)
    assert job_request("t", 8, {"gpu": 0, "cpus_per_gpu": 3}).cpus == 8  # cpus_per_gpu only counts with a GPU
    assert job_request("t", 2, {"mem_mb_per_cpu": 1000}).mem_mb == 2000
    assert job_request("t", 1, {"gres": "gpu:a100:2"}).gpus == 2
    assert job_request("t", 1, {"slurm_partition": "gpu"}).partition == "gpu"


def test_requests_that_fit_pass():
    nodes, default = parse_sinfo(SINFO)
    ok = [Request("segment", 1, 4000, 0), Request("train", 8, 16000, 1, "gpu"), Request("x", 2, 19000, 0, "debug")]
    assert unfit(ok, nodes, default) == []


def test_too_many_cpus_is_named_with_the_fix():
    nodes, default = parse_sinfo(SINFO)
    (msg,) = unfit([Request("train", 8, 16000, 0), Request("train", 8, 16000, 0)], nodes, default)
    assert msg.startswith("rule train asks for 8 CPU(s), 16000 MB and 0 GPU(s) in partition debug")
    assert "largest node offers 2 CPU(s), 19284 MB and 0 GPU(s)" in msg
    assert "PENDING forever" in msg and "`--max-threads 2`" in msg


def test_gpu_in_a_partition_without_gpus_points_to_the_cpu_profile():
    nodes, default = parse_sinfo(SINFO)
    (msg,) = unfit([Request("train", 1, 1000, 1)], nodes, default)
    assert "No node there has 1 GPU(s)" in msg and "profiles/slurm-cpu" in msg and "slurm_partition" in msg


def test_memory_and_unknown_partition():
    nodes, default = parse_sinfo(SINFO)
    (mem,) = unfit([Request("scalograms", 1, 300000, 0, "gpu")], nodes, default)
    assert "lower its mem_mb below 257000" in mem.lower()
    (part,) = unfit([Request("train", 1, 1, 1, "a100")], nodes, default)
    assert "partition 'a100' does not exist" in part and "debug, gpu" in part


def test_no_single_node_has_everything():
    # the partition has 32 CPUs (a) and GPUs (b), but not both on one node
    nodes, default = parse_sinfo("mixed*|32|64000|(null)|a\nmixed*|8|64000|gpu:4|b\n")
    assert unfit([Request("t", 8, 1000, 4)], nodes, default) == []
    (msg,) = unfit([Request("t", 16, 1000, 1)], nodes, default)
    assert "offers 32 CPU(s), 64000 MB and 4 GPU(s)" in msg and "No single node has all of it at once" in msg


def test_without_sinfo_nothing_is_checked(monkeypatch):
    def no_sinfo(*args, **kwargs):
        raise FileNotFoundError("sinfo")

    monkeypatch.setattr(subprocess, "run", no_sinfo)
    said = []
    assert cluster.check_slurm_jobs([("train", 8, {"gpu": 1})], log=said.append) == []
    assert "cannot run sinfo" in said[0]


@pytest.mark.parametrize("text", ["", "\n"])
def test_empty_sinfo(text):
    assert parse_sinfo(text) == ([], None)
