"""Before the first sbatch: does every job fit some node of its SLURM partition?

SLURM takes a job that asks for more CPUs than any node of its partition has
(on clusters without ``EnforcePartLimits``) and keeps it PENDING forever
(``Reason=PartitionConfig``); Snakemake then waits with it and says nothing. A
GPU request in a partition without GPUs is refused by sbatch only job by job.
:func:`check_slurm_jobs` compares every job's request (as
snakemake-executor-plugin-slurm turns it into sbatch arguments: CPUs from
``cpus_per_task``, else ``cpus_per_gpu`` x ``gpu`` for GPU jobs, else the
threads; ``mem_mb``; ``gpu``; ``slurm_partition``, else the default partition)
with the nodes ``sinfo`` lists, and returns one message per rule that cannot
run, saying what to change. The workflow calls it from its ``onstart`` hook
(``workflow/rules/cluster.smk``) under the SLURM executor only.

Torch-free and Snakemake-free: plain requests in, messages out.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from typing import Iterable, Mapping

#: ``sinfo`` format: one line per node and partition; ``%P`` marks the default partition with ``*``
SINFO_FORMAT = "%P|%c|%m|%G|%N"


@dataclass(frozen=True)
class Node:
    name: str
    partition: str
    cpus: int
    mem_mb: int
    gpus: int


@dataclass(frozen=True)
class Request:
    rule: str
    cpus: int
    mem_mb: int
    gpus: int
    #: None: the cluster's default partition
    partition: str | None = None


def gres_gpus(gres: str) -> int:
    """GPUs in a node's ``sinfo %G`` string: ``gpu:4``, ``gpu:a100:4(S:0-1)``, ``gpu:2,shard:8``, ``(null)``."""
    total = 0
    for item in gres.split(","):
        item = re.sub(r"\(.*?\)", "", item.strip())
        parts = item.split(":")
        if parts[0] == "gpu":
            total += int(parts[-1]) if len(parts) > 1 and parts[-1].isdigit() else 1
    return total


def _int(text: str) -> int:
    match = re.match(r"\d+", text.strip())
    return int(match.group(0)) if match else 0


def parse_sinfo(text: str) -> tuple[list[Node], str | None]:
    """Nodes and the default partition from ``sinfo -h -N -o '%P|%c|%m|%G|%N'``."""
    nodes, default = [], None
    for line in text.splitlines():
        if not line.strip():
            continue
        partition, cpus, mem, gres, name = line.split("|")[:5]
        if partition.endswith("*"):
            partition = partition[:-1]
            default = partition
        nodes.append(Node(name.strip(), partition.strip(), _int(cpus), _int(mem), gres_gpus(gres)))
    return nodes, default


def sinfo_nodes(timeout: float = 30) -> tuple[list[Node], str | None]:
    """The cluster's nodes from ``sinfo``; raises OSError or subprocess.SubprocessError when it cannot run."""
    out = subprocess.run(
        ["sinfo", "-h", "-N", "-o", SINFO_FORMAT], capture_output=True, text=True, check=True, timeout=timeout
    )
    return parse_sinfo(out.stdout)


def _positive(value) -> int:
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError):
        return 0


def job_request(rule: str, threads: int, resources: Mapping) -> Request:
    """What sbatch will ask for, from a job's threads and resources (the SLURM plugin's rules)."""
    gpus = _positive(resources.get("gpu"))
    gres = str(resources.get("gres") or "")
    if not gpus and "gpu" in gres:
        gpus = gres_gpus(gres)
    cpus = _positive(resources.get("cpus_per_task"))
    if not cpus and gpus and _positive(resources.get("cpus_per_gpu")):
        cpus = _positive(resources.get("cpus_per_gpu")) * gpus
    cpus = cpus or max(int(threads or 1), 1)
    mem = _positive(resources.get("mem_mb")) or _positive(resources.get("mem_mb_per_cpu")) * cpus
    partition = resources.get("slurm_partition") or None
    return Request(rule, cpus, mem, gpus, str(partition) if partition else None)


def unfit(requests: Iterable[Request], nodes: list[Node], default: str | None) -> list[str]:
    """One message per rule whose request no node of its partition can satisfy."""
    partitions = sorted({n.partition for n in nodes})
    messages: dict[str, str] = {}
    for req in requests:
        if req.rule in messages:
            continue
        partition = req.partition or default
        if partition is None:
            continue  # no default partition: sbatch decides
        members = [n for n in nodes if n.partition == partition]
        if not members:
            messages[req.rule] = (
                f"rule {req.rule}: partition {partition!r} does not exist on this cluster (sinfo lists "
                f"{', '.join(partitions) or 'none'}). Set slurm_partition for {req.rule} in the profile."
            )
            continue
        if any(req.cpus <= n.cpus and req.mem_mb <= n.mem_mb and req.gpus <= n.gpus for n in members):
            continue
        most = Node("", partition, max(n.cpus for n in members), max(n.mem_mb for n in members), 0)
        most_gpus = max(n.gpus for n in members)
        hints = []
        if req.cpus > most.cpus:
            hints.append(
                f"Lower its threads to at most {most.cpus}: `--max-threads {most.cpus}` on the command line, "
                f"or set-threads (and cpus_per_gpu) in the profile"
            )
        if req.mem_mb > most.mem_mb:
            hints.append(f"Lower its mem_mb below {most.mem_mb} in the profile's set-resources")
        if req.gpus > most_gpus:
            hints.append(
                f"No node there has {req.gpus} GPU(s): set slurm_partition of {req.rule} to your GPU partition "
                f"in profiles/slurm, or train on CPUs with profiles/slurm-cpu"
            )
        if not hints:
            hints.append("No single node has all of it at once; lower one of the requests")
        messages[req.rule] = (
            f"rule {req.rule} asks for {req.cpus} CPU(s), {req.mem_mb} MB and {req.gpus} GPU(s) in partition "
            f"{partition}, whose largest node offers {most.cpus} CPU(s), {most.mem_mb} MB and {most_gpus} GPU(s); "
            f"SLURM would refuse the job or keep it PENDING forever. " + "; ".join(hints) + "."
        )
    return list(messages.values())


def check_slurm_jobs(jobs: Iterable[tuple[str, int, Mapping]], log=print) -> list[str]:
    """Messages for the jobs ``(rule, threads, resources)`` that fit no node; [] when all fit.

    When ``sinfo`` cannot run, says so through ``log`` and checks nothing.
    """
    requests = [job_request(rule, threads, resources) for rule, threads, resources in jobs]
    if not requests:
        return []
    try:
        nodes, default = sinfo_nodes()
    except (OSError, subprocess.SubprocessError) as e:
        log(f"ecgcwt: cannot run sinfo ({e}); the jobs' CPU/memory/GPU requests were not checked against the nodes")
        return []
    return unfit(requests, nodes, default)
