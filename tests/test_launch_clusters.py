"""`zoo launch cluster=kubernetes|slurm`: the manifests pass Kubernetes' schemas, the sbatch script is
valid bash and its pod environment gives the TF_CONFIG of each worker (no cluster, no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys

import kubernetes_validate
import pytest
import yaml
from conftest import REPO

from zoo.training.clusters import cluster_from_environment

K8S_VERSION = "1.33.0"  # as tests/test_deploy_docs.py


def zoo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo.cli.main", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_kubernetes_indexed_job_and_service_pass_schema_and_give_each_pod_its_tf_config(tmp_path):
    out = tmp_path / "job.yaml"
    done = zoo("launch", "cluster=kubernetes", "nodes=3", "name=zoo-iris", "image=example/keras-zoo:1",
               "claim=runs-rwx", "cpu=4", "memory=8Gi", "gpus=1", f"output={out}", "experiment=mlp_iris",
               "trainer.epochs=3")
    assert done.returncode == 0, done.stderr
    documents = list(yaml.safe_load_all(out.read_text()))
    assert [d["kind"] for d in documents] == ["Service", "Job"]
    for document in documents:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)  # raises on any schema error
    service, job = documents
    assert service["spec"]["clusterIP"] == "None"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == 3
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"] == "zoo-iris"
    container = pod["containers"][0]
    assert container["image"] == "example/keras-zoo:1"
    assert container["resources"]["limits"] == {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"}
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "runs-rwx"
    assert "strategy=multi_worker" in container["args"] and "trainer.epochs=3" in container["args"]
    # what Kubernetes adds to each pod's environment: its completion index
    env = {e["name"]: e["value"] for e in container["env"]}
    found = cluster_from_environment({**env, "JOB_COMPLETION_INDEX": "1"})
    assert found.tf_config == {"cluster": {"worker": [f"zoo-iris-{i}.zoo-iris:12345" for i in range(3)]},
                               "task": {"type": "worker", "index": 1}}


def test_kubernetes_bad_name_is_one_line_error():
    done = zoo("launch", "cluster=kubernetes", "name=Zoo_Iris")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "name='Zoo_Iris'" in done.stderr


def test_slurm_dry_run_prints_a_valid_script_with_retry_and_shared_run_folder(tmp_path):
    done = zoo("launch", "cluster=slurm", "nodes=3", "tasks_per_node=2", "retries=1", "dry_run=true",
               f"hydra.run.dir={tmp_path}/run", "experiment=mlp_iris")
    assert done.returncode == 0, done.stderr
    script = done.stdout
    assert "#SBATCH --nodes=3" in script and "#SBATCH --ntasks-per-node=2" in script
    assert f"#SBATCH --output={tmp_path}/run/slurm-%j.out" in script
    assert "srun --kill-on-bad-exit=1" in script and f"hydra.run.dir={tmp_path}/run" in script
    assert "retries=1" in script
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    assert not (tmp_path / "run").exists(), "a dry run wrote something"


@pytest.mark.parametrize("arg", ["cluster=pbs", "nodes=0", "retries=-1"])
def test_bad_launch_options_are_one_line_errors(arg):
    done = zoo("launch", arg)
    assert done.returncode == 2 and done.stderr.startswith("zoo: error: ") and done.stderr.count("\n") == 1
