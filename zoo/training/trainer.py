"""`train(cfg)`: the config validated once, the run folder opened, the run's steps
(`zoo.training.runner.TrainingRun`) — data, strategy, model, fit, test metrics, artifacts."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from zoo.config.validate import check_missing, check_train_config
from zoo.core.errors import Interrupted, Preempted
from zoo.core.registry import Registry, get_registry
from zoo.run.tracking import check_tracking
from zoo.tasks.select import configure
from zoo.training.runner import TrainResult

log = logging.getLogger("zoo.train")


def check_names(cfg: DictConfig, registry: Registry | None = None) -> None:
    """Fail before any work starts when a name in `cfg` is unknown (choices: the schema's fields)."""
    registry = registry or get_registry()
    registry.model(cfg.model.name)
    registry.dataset(cfg.dataset.source)
    if cfg.trainer.loss:
        registry.loss(cfg.trainer.loss)
    for name in cfg.trainer.metrics or []:
        registry.metric(name)


def validated(cfg: DictConfig, registry: Registry | None = None) -> DictConfig:
    """The one check of a `zoo train` config, where it enters (the command line and `zoo.train`),
    before any work starts: required values given, the training modes' own checks (distillation
    adopts its teacher's data, so the config returned may be a changed copy), names and choices,
    keys and ranges, tracking."""
    registry = registry or get_registry()
    check_missing(cfg)
    cfg = configure(cfg, registry)
    check_names(cfg, registry)
    check_train_config(cfg, registry)
    check_tracking(cfg)
    return cfg


def default_run_dir() -> Path:
    return Path("outputs") / datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")


def train(cfg: DictConfig, run_dir: str | Path | None = None) -> TrainResult:
    """Train the model `cfg` describes; every artifact goes into the run folder."""
    registry = get_registry()
    return run_validated(validated(cfg, registry), registry, run_dir)


def run_validated(cfg: DictConfig, registry: Registry, run_dir: str | Path | None = None) -> TrainResult:
    """Open the run folder of a `validated` config (its lock held throughout) and run it."""
    from zoo.run.rundir import RunDir
    from zoo.training.runner import TrainingRun

    run = RunDir(run_dir or cfg.get("run_dir") or default_run_dir())
    try:
        with opened(cfg, run) as (writing, resuming), writing.logging_to_file():
            log.info("run folder: %s%s", writing.path, " (resuming)" if resuming else "")
            return TrainingRun(cfg, writing, registry, resuming).execute()
    except Preempted:
        raise
    except KeyboardInterrupt:
        raise interrupted(run) from None
    except Exception as exc:
        from zoo.training.distributed import lost_worker

        lost = lost_worker(cfg, run, exc)
        if lost is None:
            raise
        raise lost from None


@contextlib.contextmanager
def opened(cfg: DictConfig, run: Any) -> Iterator[tuple[Any, bool]]:
    """The run folder this process writes, locked and prepared (`zoo.run.runlock.locked_run`), and
    whether it resumes; a multi-worker run's other workers write a scratch folder instead."""
    if cfg.strategy.name == "multi_worker":
        from zoo.training.distributed import writable_run

        with writable_run(cfg, run) as opened_run:
            yield opened_run
        return
    from zoo.run.runlock import locked_run

    with locked_run(cfg, run) as resuming:
        yield run, resuming


def interrupted(run: Any) -> KeyboardInterrupt:
    """Ctrl-C: say what the run folder keeps and how to go on."""
    if run.state.exists():
        state = run.read_state()
        epoch, step = state.epoch, state.step
        where = f"epoch {epoch + 1}, step {step}" if step else f"epoch {epoch}"
        return Interrupted(f"interrupted: {run.path} keeps the checkpoint of {where}; run the same "
                           f"command (with run_dir={run.path} if it had none) to resume")
    return Interrupted("interrupted before the first checkpoint was saved, so there is nothing to resume: "
                       "run the same command to start again (trainer.checkpoint_every_seconds sets how "
                       "often checkpoints are saved)")
