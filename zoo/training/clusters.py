"""A cluster manager's description of a job -> `TF_CONFIG`: Slurm steps and Kubernetes Indexed Jobs.

Pure functions of an environment mapping (no TensorFlow), so each layout is tested on plain
dicts. TensorFlow's `SlurmClusterResolver` is not used: it runs `nvidia-smi` on CPU nodes,
sorts host names as strings (`node10` before `node9`) and gives every job port 8888.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from zoo.core.errors import ZooError

JOB_PORT_BASE, JOB_PORT_SLOTS, JOB_PORT_WIDTH = 20000, 2000, 16  # job-derived ports: 20000..51999
KUBERNETES_PORT = 12345


@dataclass(frozen=True)
class Cluster:
    """A `TF_CONFIG` and where it came from (for the log)."""

    tf_config: dict[str, Any]
    source: str


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets: `a[1-3,7],b` -> [`a[1-3,7]`, `b`]."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            raise ZooError(f"Slurm host list {text!r}: unbalanced ']'")
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise ZooError(f"Slurm host list {text!r}: unbalanced '['")
    parts.append(text[start:])
    return [p for p in parts if p]


def _numbers(ranges: str, where: str) -> list[str]:
    """`1-3,07,9` -> ["1", "2", "3", "07", "9"], keeping each range's zero padding."""
    out = []
    for item in ranges.split(","):
        low, _, high = item.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ZooError(f"Slurm host list {where!r}: {item!r} is not a number or a range N-M")
        width = len(low) if low.startswith("0") else 0
        out.extend(str(n).zfill(width) for n in range(int(low), int(high or low) + 1))
    return out


def expand_hostlist(text: str) -> list[str]:
    """Slurm's compressed host list in Slurm's own order: `node[9-10]` -> node9, node10;
    `a[1-3,7],b` -> a1, a2, a3, a7, b; `r[1-2]n[01-02]` -> r1n01, r1n02, r2n01, r2n02."""
    hosts: list[str] = []
    for part in _split_top(text.strip()):
        names = [""]
        for literal, ranges in re.findall(r"([^\[\]]*)(?:\[([^\]]*)\])?", part):
            suffixes = _numbers(ranges, text) if ranges else [""]
            names = [n + literal + s for n in names for s in suffixes]
        hosts.extend(names)
    return hosts


def scontrol_hostnames(text: str) -> list[str] | None:
    """Slurm's own expansion (`scontrol show hostnames`), or None when scontrol is not there."""
    scontrol = shutil.which("scontrol")
    if scontrol is None:
        return None
    try:
        done = subprocess.run([scontrol, "show", "hostnames", text], capture_output=True, text=True,
                              timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.split() or None


def expand_tasks_per_node(text: str) -> list[int]:
    """`SLURM_STEP_TASKS_PER_NODE`: `2(x3),1` -> [2, 2, 2, 1]."""
    counts = []
    for item in text.split(","):
        found = re.fullmatch(r"\s*(\d+)(?:\(x(\d+)\))?\s*", item)
        if not found:
            raise ZooError(f"SLURM_STEP_TASKS_PER_NODE={text!r}: expected counts like 2(x3),1")
        counts.extend([int(found.group(1))] * int(found.group(2) or 1))
    return counts


def expand_ports(text: str) -> list[int]:
    """`SLURM_STEP_RESV_PORTS`: `12000-12001` or `12000,12004` -> the ports."""
    try:
        return [int(p) for p in _numbers(text.strip(), text)]
    except ZooError:
        raise ZooError(f"SLURM_STEP_RESV_PORTS={text!r}: expected ports like 12000-12003") from None


def job_ports(job_id: int, count: int) -> list[int]:
    """Ports derived from the job id, so that two jobs sharing a node use different ones."""
    if count > JOB_PORT_WIDTH:
        raise ZooError(f"{count} tasks on one node: job-derived ports allow {JOB_PORT_WIDTH}; set "
                       "MpiParams=ports=12000-12999 in slurm.conf so that srun reserves ports")
    base = JOB_PORT_BASE + (job_id % JOB_PORT_SLOTS) * JOB_PORT_WIDTH
    return list(range(base, base + count))


def _need(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ZooError(f"strategy=multi_worker in a Slurm job needs {name}, which is not set: start "
                       "every worker with srun (srun -N2 -n2 zoo train strategy=multi_worker ...)")
    return value


def slurm_cluster(env: Mapping[str, str],
                  hostnames: Callable[[str], list[str] | None] = scontrol_hostnames) -> Cluster:
    """The `TF_CONFIG` of this task of a Slurm step (`srun`), from the step's `SLURM_*` variables.

    Workers are ranked by `SLURM_PROCID`, so worker 0 (the chief) is rank 0 on the step's first
    node. Each node's tasks take the step's reserved ports (`SLURM_STEP_RESV_PORTS`) in local-id
    order, or job-derived ones. Only Slurm's default block layout (ranks filled node by node)
    lets every task know where the others are, and it is checked.
    """
    nodelist = _need(env, "SLURM_STEP_NODELIST")
    hosts = hostnames(nodelist) or expand_hostlist(nodelist)
    tasks = expand_tasks_per_node(_need(env, "SLURM_STEP_TASKS_PER_NODE"))
    rank, node, local = (int(_need(env, name)) for name in ("SLURM_PROCID", "SLURM_NODEID", "SLURM_LOCALID"))
    if len(tasks) != len(hosts):
        raise ZooError(f"Slurm step: {len(hosts)} node(s) in SLURM_STEP_NODELIST={nodelist!r} but "
                       f"{len(tasks)} count(s) in SLURM_STEP_TASKS_PER_NODE")
    own = env.get("SLURMD_NODENAME", "")
    if own and hosts[node] != own:
        raise ZooError(f"Slurm task {rank} runs on {own}, but node {node} of the step is {hosts[node]}: "
                       "its address would not be its node's")
    placed = [(n, i) for n, count in enumerate(tasks) for i in range(count)]
    distribution = env.get("SLURM_DISTRIBUTION", "block")
    if rank >= len(placed) or placed[rank] != (node, local) or distribution.split(":")[0] not in (
            "block", "unknown", ""):
        raise ZooError(f"Slurm task {rank} is task {local} on node {hosts[node]} (distribution "
                       f"{distribution}): strategy=multi_worker needs the block layout; run srun "
                       "--distribution=block (Slurm's default)")
    if env.get("SLURM_STEP_RESV_PORTS"):
        ports, origin = expand_ports(env["SLURM_STEP_RESV_PORTS"]), "reserved ports"
    else:
        ports, origin = job_ports(int(_need(env, "SLURM_JOB_ID")), max(tasks)), "job-derived ports"
    if len(ports) < max(tasks):
        raise ZooError(f"SLURM_STEP_RESV_PORTS={env['SLURM_STEP_RESV_PORTS']!r}: {len(ports)} port(s) for "
                       f"{max(tasks)} task(s) on a node; reserve more (srun --resv-ports={max(tasks)})")
    workers = [f"{hosts[n]}:{ports[i]}" for n, i in placed]
    job = env.get("SLURM_JOB_ID", "?")
    step = env.get("SLURM_STEP_ID", "?")
    return Cluster({"cluster": {"worker": workers}, "task": {"type": "worker", "index": rank}},
                   f"Slurm job {job} step {step} ({len(workers)} task(s) on {nodelist}, {origin})")


def kubernetes_cluster(env: Mapping[str, str]) -> Cluster:
    """The `TF_CONFIG` of one pod of an Indexed Job (`zoo launch cluster=kubernetes` writes it).

    `JOB_COMPLETION_INDEX` is the rank; pod i is reachable as `<job>-<i>.<service>` through the
    Job's headless Service. `ZOO_JOB_NAME`, `ZOO_SERVICE`, `ZOO_WORKERS` (and `ZOO_PORT`) come from
    the manifest.
    """
    missing = [n for n in ("ZOO_JOB_NAME", "ZOO_SERVICE", "ZOO_WORKERS") if not env.get(n)]
    if missing:
        raise ZooError(f"a Kubernetes Indexed Job pod needs {', '.join(missing)} beside "
                       "JOB_COMPLETION_INDEX: write the manifest with zoo launch cluster=kubernetes")
    try:
        rank, count = int(env["JOB_COMPLETION_INDEX"]), int(env["ZOO_WORKERS"])
        port = int(env.get("ZOO_PORT") or KUBERNETES_PORT)
    except ValueError:
        raise ZooError("JOB_COMPLETION_INDEX, ZOO_WORKERS and ZOO_PORT must be whole numbers") from None
    if not 0 <= rank < count:
        raise ZooError(f"JOB_COMPLETION_INDEX={rank}: expected 0..{count - 1} for ZOO_WORKERS={count}")
    job, service = env["ZOO_JOB_NAME"], env["ZOO_SERVICE"]
    workers = [f"{job}-{i}.{service}:{port}" for i in range(count)]
    return Cluster({"cluster": {"worker": workers}, "task": {"type": "worker", "index": rank}},
                   f"Kubernetes Indexed Job {job} (pod {rank} of {count}, service {service})")


def cluster_from_environment(env: Mapping[str, str],
                             hostnames: Callable[[str], list[str] | None] = scontrol_hostnames,
                             ) -> Cluster | None:
    """The cluster a manager describes in `env` (Kubernetes Indexed Job, then Slurm), else None."""
    if env.get("JOB_COMPLETION_INDEX") and env.get("ZOO_WORKERS"):
        return kubernetes_cluster(env)
    if env.get("SLURM_JOB_ID"):
        return slurm_cluster(env, hostnames)
    return None
