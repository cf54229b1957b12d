"""`zoo launch cluster=slurm nodes=N ...`: write an sbatch script for a multi-worker run and submit it.

Every worker runs `zoo train strategy=multi_worker` under `srun`, which derives `TF_CONFIG`
from the step (zoo.training.clusters). The run folder must be on a file system every node
sees. A lost worker ends the step (`--kill-on-bad-exit=1`) and the script reruns it, at most
`retries` times; each rerun resumes from the chief's last checkpoint.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from zoo.core.errors import WorkFailed, ZooError

BAD_INPUT = 2  # a config error would fail again: never retried

TEMPLATE = """\
#!/bin/bash
#SBATCH --job-name={name}
#SBATCH --nodes={nodes}
#SBATCH --ntasks-per-node={tasks_per_node}
#SBATCH --output={run_dir}/slurm-%j.out
#SBATCH --chdir={chdir}
{extra}# Written by zoo launch cluster=slurm. Each srun task is one worker; zoo derives TF_CONFIG from
# the step. The run folder {run_dir} must be on a shared file system.
# A lost worker ends the step (--kill-on-bad-exit=1, survivors exit 75); the loop reruns it, and
# the rerun resumes from the last checkpoint. Exit codes: 0 done, 2 bad input (not retried),
# 75 a worker was lost, anything else a failure.
retries={retries}
attempt=0
while true; do
  srun --kill-on-bad-exit=1 --distribution=block {command}
  code=$?
  if [ "$code" -eq 0 ]; then exit 0; fi
  if [ "$code" -eq {bad_input} ] || [ "$attempt" -ge "$retries" ]; then
    echo "zoo launch: srun exited with $code after $attempt retr(y/ies): giving up" >&2
    exit "$code"
  fi
  attempt=$((attempt + 1))
  echo "zoo launch: srun exited with $code: retry $attempt of $retries resumes from the last checkpoint" >&2
done
"""


def sbatch_script(run_dir: Path, overrides: Sequence[str], nodes: int, tasks_per_node: int = 1,
                  retries: int = 2, name: str = "zoo", sbatch_options: Sequence[str] = (),
                  python: str = sys.executable) -> str:
    """The sbatch script of a `nodes` x `tasks_per_node` worker run writing `run_dir`."""
    command = " ".join(shlex.quote(a) for a in [python, "-m", "zoo.cli.main", "train",
                                                 "strategy=multi_worker", *overrides,
                                                 f"hydra.run.dir={run_dir}"])
    extra = "".join(f"#SBATCH {option}\n" for option in sbatch_options)
    return TEMPLATE.format(name=name, nodes=nodes, tasks_per_node=tasks_per_node, run_dir=run_dir,
                           chdir=os.getcwd(), extra=extra, retries=retries, command=command,
                           bad_input=BAD_INPUT)


def split_run_dir(overrides: Sequence[str], default: Path) -> tuple[Path, list[str]]:
    """The absolute run folder (`hydra.run.dir=...` or `default`) and the other overrides."""
    rest = [o for o in overrides if not o.startswith("hydra.run.dir=")]
    given = [o.split("=", 1)[1] for o in overrides if o.startswith("hydra.run.dir=")]
    return Path(given[-1] if given else default).absolute(), rest


def submit(script: str, run_dir: Path, dry_run: bool = False) -> int:
    """Write `run_dir/sbatch.sh`; print it (`dry_run`) or submit it with sbatch."""
    if dry_run:
        print(script, end="")
        return 0
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise ZooError("zoo launch cluster=slurm: sbatch is not on PATH: run it on a Slurm login node, "
                       "or pass dry_run=true to print the script")
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "sbatch.sh"
    path.write_text(script)
    done = subprocess.run([sbatch, "--parsable", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise WorkFailed(f"sbatch {path} failed ({done.returncode}): "
                         + (done.stderr.strip().splitlines() or ["no message"])[-1])
    job = done.stdout.strip().split(";")[0]
    print(f"submitted Slurm job {job}: {path}; its output goes to {run_dir}/slurm-{job}.out")
    return 0
