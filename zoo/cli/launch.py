"""`zoo launch [cluster=local|slurm|kubernetes] ... [train overrides ...]`: start a multi-worker run.

`cluster=local` (default) starts `workers` processes on loopback; `cluster=slurm` writes an sbatch
script for `nodes` x `tasks_per_node` workers and submits it; `cluster=kubernetes` writes an
Indexed Job with its headless Service. `dry_run=true` prints the script or manifest instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from zoo.cli.keyvalue import convert
from zoo.config.bounds import Bounds, out_of_range
from zoo.core.errors import ZooError

CLUSTERS = ("local", "slurm", "kubernetes")
OPTIONS = {"cluster": "local", "workers": 2, "timeout": 3600.0, "nodes": 2, "tasks_per_node": 1,
           "retries": 2, "dry_run": False, "name": "zoo", "output": "",
           "image": "keras-zoo:latest", "claim": "zoo-runs", "cpu": "2", "memory": "4Gi", "gpus": 0}
RANGES = {"workers": Bounds(ge=1), "timeout": Bounds(gt=0), "nodes": Bounds(ge=1),
          "tasks_per_node": Bounds(ge=1), "retries": Bounds(ge=0), "gpus": Bounds(ge=0)}


def split_options(args: Sequence[str]) -> tuple[dict, list[str]]:
    """The launcher's own options and the training overrides."""
    values = dict(OPTIONS)
    overrides = []
    for arg in args:
        key, sep, text = arg.partition("=")
        if sep and key in OPTIONS:
            values[key] = convert("launch", key, text, OPTIONS[key])
            bounds = RANGES.get(key)
            if values[key] is None or (bounds and out_of_range(values[key], bounds) is not None):
                raise ZooError(f"zoo launch: {key}={text} is out of range: expected "
                               + (bounds.text() if bounds else "a value"))
        else:
            overrides.append(arg)
    if values["cluster"] not in CLUSTERS:
        raise ZooError(f"zoo launch: cluster={values['cluster']!r}: expected one of {', '.join(CLUSTERS)}")
    return values, overrides


def run_launch(args: Sequence[str]) -> int:
    """Start the workers here, or write (and submit) the cluster's job."""
    values, overrides = split_options(args)
    if values["cluster"] == "slurm":
        from zoo.launch.slurm import sbatch_script, split_run_dir, submit

        stamp = datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")
        run_dir, rest = split_run_dir(overrides, Path("outputs") / stamp)
        script = sbatch_script(run_dir, rest, int(values["nodes"]), int(values["tasks_per_node"]),
                               int(values["retries"]), name=values["name"])
        return submit(script, run_dir, dry_run=values["dry_run"])
    if values["cluster"] == "kubernetes":
        from zoo.launch.kubernetes import manifest_text, manifests

        text = manifest_text(manifests(values["name"], int(values["nodes"]), values["image"], overrides,
                                       claim=values["claim"], cpu=values["cpu"], memory=values["memory"],
                                       gpus=int(values["gpus"]), retries=int(values["retries"])))
        if values["dry_run"] or not values["output"]:
            print(text, end="")
        else:
            Path(values["output"]).write_text(text)
            print(f"wrote {values['output']}: kubectl apply -f {values['output']}")
        return 0
    from zoo.launch.local import launch

    return launch(int(values["workers"]), overrides, timeout=float(values["timeout"]))
