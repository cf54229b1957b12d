"""Slurm steps and Kubernetes Indexed Jobs -> TF_CONFIG, on plain environment dicts (no TensorFlow)."""

from __future__ import annotations

import pytest

from zoo.core.errors import ZooError
from zoo.training.clusters import (
    cluster_from_environment,
    expand_hostlist,
    expand_tasks_per_node,
    job_ports,
    scontrol_hostnames,
    slurm_cluster,
)


def no_scontrol(_text):
    return None


def step(**changes):
    env = {"SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_STEP_NODELIST": "node[9-10]",
           "SLURM_STEP_TASKS_PER_NODE": "1(x2)", "SLURM_PROCID": "0", "SLURM_NODEID": "0",
           "SLURM_LOCALID": "0", "SLURMD_NODENAME": "node9", "SLURM_STEP_RESV_PORTS": "12000"}
    env.update(changes)
    return {k: v for k, v in env.items() if v is not None}


@pytest.mark.parametrize(("text", "hosts"), [
    ("node[9-10]", ["node9", "node10"]),
    ("a[1-3,7],b", ["a1", "a2", "a3", "a7", "b"]),
    ("gpu[08-11]", ["gpu08", "gpu09", "gpu10", "gpu11"]),
    ("r[1-2]n[1,3]", ["r1n1", "r1n3", "r2n1", "r2n3"]),
    ("single", ["single"]),
])
def test_hostlist_expands_in_slurms_order(text, hosts):
    assert expand_hostlist(text) == hosts
    assert scontrol_hostnames(text) in (None, hosts)  # Slurm's own, where a slurm.conf is found


@pytest.mark.parametrize("bad", ["a[1-3", "a]1[", "a[x-2]"])
def test_bad_hostlist_is_one_line_error(bad):
    with pytest.raises(ZooError, match="Slurm host list"):
        expand_hostlist(bad)


def test_tasks_per_node():
    assert expand_tasks_per_node("2(x3),1") == [2, 2, 2, 1]
    assert expand_tasks_per_node("4") == [4]
    with pytest.raises(ZooError, match="SLURM_STEP_TASKS_PER_NODE"):
        expand_tasks_per_node("2(3)")


def test_node9_node10_rank0_is_node9_unlike_tfs_string_sort():
    first = slurm_cluster(step(), no_scontrol)
    second = slurm_cluster(step(SLURM_PROCID="1", SLURM_NODEID="1", SLURMD_NODENAME="node10"), no_scontrol)
    workers = ["node9:12000", "node10:12000"]
    assert first.tf_config == {"cluster": {"worker": workers}, "task": {"type": "worker", "index": 0}}
    assert second.tf_config == {"cluster": {"worker": workers}, "task": {"type": "worker", "index": 1}}
    assert "Slurm job 4242" in first.source and "reserved ports" in first.source


def test_tasks_per_node_take_reserved_ports_in_local_order():
    env = step(SLURM_STEP_NODELIST="a[1-3,7],b", SLURM_STEP_TASKS_PER_NODE="2(x3),1,1",
               SLURM_STEP_RESV_PORTS="12004-12005", SLURM_PROCID="3", SLURM_NODEID="1",
               SLURM_LOCALID="1", SLURMD_NODENAME="a2")
    found = slurm_cluster(env, no_scontrol).tf_config
    assert found["cluster"]["worker"] == ["a1:12004", "a1:12005", "a2:12004", "a2:12005", "a3:12004",
                                          "a3:12005", "a7:12004", "b:12004"]
    assert found["task"]["index"] == 3


def test_two_jobs_on_one_node_get_different_ports_without_reservation():
    one = slurm_cluster(step(SLURM_STEP_RESV_PORTS=None, SLURM_JOB_ID="100"), no_scontrol)
    two = slurm_cluster(step(SLURM_STEP_RESV_PORTS=None, SLURM_JOB_ID="101"), no_scontrol)
    assert one.tf_config["cluster"]["worker"][0] != two.tf_config["cluster"]["worker"][0]
    assert "job-derived ports" in one.source
    assert set(job_ports(100, 4)).isdisjoint(job_ports(101, 4))


@pytest.mark.parametrize(("changes", "message"), [
    ({"SLURM_DISTRIBUTION": "cyclic"}, "needs the block layout"),
    # cyclic in fact: rank 1 on node 0 of a 2-task-per-node layout
    ({"SLURM_STEP_TASKS_PER_NODE": "2(x2)", "SLURM_STEP_RESV_PORTS": "12000-12001", "SLURM_PROCID": "1",
      "SLURM_NODEID": "1", "SLURMD_NODENAME": "node10"}, "needs the block layout"),
    ({"SLURMD_NODENAME": "node10"}, "would not be its node's"),
    ({"SLURM_STEP_TASKS_PER_NODE": "2,1"} | {"SLURM_STEP_RESV_PORTS": "12000"}, "1 port"),
    ({"SLURM_STEP_NODELIST": None}, "start every worker with srun"),
])
def test_layouts_that_cannot_work_fail_in_one_line(changes, message):
    with pytest.raises(ZooError, match=message) as info:
        slurm_cluster(step(**changes), no_scontrol)
    assert "\n" not in str(info.value)


def test_kubernetes_indexed_job():
    env = {"JOB_COMPLETION_INDEX": "2", "ZOO_WORKERS": "3", "ZOO_JOB_NAME": "zoo-iris",
           "ZOO_SERVICE": "zoo-iris", "ZOO_PORT": "2222"}
    found = cluster_from_environment(env)
    assert found.tf_config == {"cluster": {"worker": ["zoo-iris-0.zoo-iris:2222", "zoo-iris-1.zoo-iris:2222",
                                                      "zoo-iris-2.zoo-iris:2222"]},
                               "task": {"type": "worker", "index": 2}}
    assert "Kubernetes Indexed Job zoo-iris" in found.source
    with pytest.raises(ZooError, match="expected 0..2"):
        cluster_from_environment({**env, "JOB_COMPLETION_INDEX": "3"})
    with pytest.raises(ZooError, match="ZOO_SERVICE"):
        cluster_from_environment({k: v for k, v in env.items() if k != "ZOO_SERVICE"})


def test_no_manager_no_cluster():
    assert cluster_from_environment({"HOME": "/root"}) is None
