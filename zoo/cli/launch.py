"""`zoo launch [cluster=local|slurm|kubernetes] ... [train overrides ...]`: start a multi-worker run.

`cluster=local` (default) starts `workers` processes on loopback; `cluster=slurm` writes an sbatch
script for `nodes` x `tasks_per_node` workers and submits it; `cluster=kubernetes` writes an
Indexed Job with its headless Service. `dry_run=true` prints the script or manifest instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from zoo.cli.options import split_options
from zoo.config.commands import LaunchOptions


def run_launch(args: Sequence[str]) -> int:
    """Start the workers here, or write (and submit) the cluster's job."""
    opts, overrides = split_options("launch", LaunchOptions, args)
    if opts.cluster == "slurm":
        from zoo.launch.slurm import sbatch_script, split_run_dir, submit

        stamp = datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")
        run_dir, rest = split_run_dir(overrides, Path("outputs") / stamp)
        script = sbatch_script(run_dir, rest, opts.nodes, opts.tasks_per_node,
                               opts.retries, name=opts.name)
        return submit(script, run_dir, dry_run=opts.dry_run)
    if opts.cluster == "kubernetes":
        from zoo.launch.kubernetes import manifest_text, manifests

        text = manifest_text(manifests(opts.name, opts.nodes, opts.image, overrides,
                                       claim=opts.claim, cpu=opts.cpu, memory=opts.memory,
                                       gpus=opts.gpus, retries=opts.retries))
        if opts.dry_run or not opts.output:
            print(text, end="")
        else:
            Path(opts.output).write_text(text)
            print(f"wrote {opts.output}: kubectl apply -f {opts.output}")
        return 0
    from zoo.launch.local import launch

    return launch(opts.workers, overrides, timeout=opts.timeout)
