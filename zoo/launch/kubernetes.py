"""`zoo launch cluster=kubernetes nodes=N ...`: a core `batch/v1` Indexed Job and its headless Service.

Pod i of the Job gets `JOB_COMPLETION_INDEX=i` (its worker rank) and the host name
`<job>-<i>.<service>` through the headless Service; zoo derives `TF_CONFIG` from that
(zoo.training.clusters.kubernetes_cluster). The run folder lives on a shared volume (a
ReadWriteMany PersistentVolumeClaim) so that a restarted Job resumes from the chief's checkpoint.
Only schema-checked here (tests/test_launch_clusters.py); Slurm is the one run for real.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from zoo.core.errors import ZooError
from zoo.training.clusters import KUBERNETES_PORT

MOUNT = "/runs"


def check_name(name: str) -> str:
    """A DNS-1123 label short enough for `<name>-<index>` host names."""
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?", name):
        raise ZooError(f"zoo launch: name={name!r}: expected lower-case letters, digits and '-', "
                       "starting and ending with a letter or digit, at most 52 characters")
    return name


def manifests(name: str, nodes: int, image: str, overrides: Sequence[str], claim: str = "zoo-runs",
              cpu: str = "2", memory: str = "4Gi", gpus: int = 0, retries: int = 2,
              port: int = KUBERNETES_PORT) -> list[dict[str, Any]]:
    """The headless Service and the Indexed Job of an `nodes`-worker run of `zoo train`."""
    check_name(name)
    run_dir = f"{MOUNT}/{name}"
    labels = {"app.kubernetes.io/name": "keras-zoo", "zoo/run": name}
    limits: dict[str, str] = {"cpu": cpu, "memory": memory}
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)
    env = [{"name": "ZOO_JOB_NAME", "value": name}, {"name": "ZOO_SERVICE", "value": name},
           {"name": "ZOO_WORKERS", "value": str(nodes)}, {"name": "ZOO_PORT", "value": str(port)}]
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {"clusterIP": "None", "selector": {"zoo/run": name},
                 "publishNotReadyAddresses": True,  # peers resolve before every pod is ready
                 "ports": [{"name": "grpc", "port": port, "targetPort": port}]},
    }
    container = {
        "name": "worker", "image": image,
        "command": ["zoo", "train"],
        "args": ["strategy=multi_worker", *overrides, f"hydra.run.dir={run_dir}"],
        "env": env,
        "ports": [{"containerPort": port, "name": "grpc"}],
        "resources": {"requests": dict(limits), "limits": limits},
        "volumeMounts": [{"name": "runs", "mountPath": MOUNT}],
    }
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "completionMode": "Indexed", "completions": nodes, "parallelism": nodes,
            "backoffLimit": retries * nodes,  # a lost worker fails its pod; the rest restart too
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"subdomain": name, "restartPolicy": "OnFailure",
                         "containers": [container],
                         "volumes": [{"name": "runs", "persistentVolumeClaim": {"claimName": claim}}]},
            },
        },
    }
    return [service, job]


def manifest_text(documents: list[dict[str, Any]]) -> str:
    """The documents as one multi-document YAML stream (`kubectl apply -f`)."""
    import yaml

    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in documents)
