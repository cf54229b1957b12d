"""`zoo train` and `zoo evaluate` as Hydra applications."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from zoo.config.compose import CONFIG_MODULE, prepare_hydra
from zoo.config.validate import check_missing
from zoo.core.errors import ZooError

log = logging.getLogger("zoo")


FAILURES: list[BaseException] = []
EXISTING: set[Path] = set()  # folders that existed before Hydra made the job's output folder
DEFAULT_ROOTS = ("outputs", "multirun")  # where Hydra puts runs and sweeps (conf/train.yaml)


def run_folder(given: str | None) -> str:
    """`run_dir=` from the command line, else Hydra's run folder (removed if left empty)."""
    hydra_dir = Path(HydraConfig.get().runtime.output_dir)
    if not given:
        return str(hydra_dir)
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        raise ZooError(f"run_dir={given} names one run folder, but a sweep has many: drop run_dir "
                       "and set hydra.sweep.dir=FOLDER instead")
    remove_hydra_folder()  # Hydra creates it before the job starts; only an empty one goes
    return given


def remove_hydra_folder() -> None:
    """Remove the job folder Hydra made, and its parents that Hydra made, while they are empty."""
    output = Path(HydraConfig.get().runtime.output_dir).resolve()
    roots = [Path(root).resolve() for root in DEFAULT_ROOTS]
    for i, folder in enumerate((output, *output.parents)):
        made = i == 0 or any(folder == root or root in folder.parents for root in roots)
        if not made or folder in EXISTING or not folder.is_dir() or any(folder.iterdir()):
            break
        with contextlib.suppress(OSError):
            folder.rmdir()


def guarded(job: Callable[[DictConfig], Any], cfg: DictConfig) -> Any:
    """Run a job; in a single run keep its failure for `run_app` (Hydra would print a line of its
    own first) and remove the empty folder Hydra made for it."""
    try:
        return job(cfg)
    except Exception as exc:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise
        remove_hydra_folder()
        FAILURES.append(exc)
        return None


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="train")
def train_app(cfg: DictConfig) -> float | None:
    """Train one configuration; returns the validation headline metric (for sweepers)."""
    return guarded(train_job, cfg)


def train_job(cfg: DictConfig) -> float:
    from zoo.config.validate import check_train_config
    from zoo.core.console import quiet_console_logging
    from zoo.core.registry import get_registry
    from zoo.sweeps.summary import selection
    from zoo.training.trainer import check_names

    quiet_console_logging()
    check_missing(cfg)
    check_names(cfg)
    check_train_config(cfg, get_registry())
    cfg.run_dir = run_folder(cfg.run_dir)
    from zoo.training.trainer import train

    result = train(cfg)
    test = result.metrics["test"]
    headline = result.metrics.get("headline") or ("accuracy" if "accuracy" in test else "mae")
    print(f"test {headline}: {test[headline]:.4f}  run folder: {result.run_dir}")
    name, value = selection(result.metrics)  # a sweeper selects on validation, never on test
    if value is None:
        log.warning("no validation metric in %s: the sweeper gets test %s", result.run_dir, headline)
        return float(test[headline])
    return float(value)


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="evaluate")
def evaluate_app(cfg: DictConfig) -> None:
    """Evaluate a finished run folder."""
    guarded(evaluate_job, cfg)


def evaluate_job(cfg: DictConfig) -> None:
    from zoo.config.validate import check_evaluate_config
    from zoo.core.console import quiet_console_logging
    from zoo.evaluation.evaluate import evaluate

    quiet_console_logging()
    check_missing(cfg)
    check_evaluate_config(cfg)
    result = evaluate(cfg.run_dir, split=cfg.split, checkpoint=cfg.checkpoint,
                      batch_size=cfg.batch_size, output=cfg.output)
    metrics = result[cfg.split]
    print(f"{cfg.split} " + "  ".join(f"{k}: {v:.4f}" for k, v in metrics.items()))


APPS = {"train": train_app, "evaluate": evaluate_app}


def run_app(command: str, args: list[str]) -> int:
    """Run a Hydra app with `args` as its command line; its errors reach `zoo.cli.failures`."""
    prepare_hydra()
    saved, saved_full_error = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    sys.argv = [f"zoo {command}", *args]
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing its own report
    FAILURES.clear()
    EXISTING.clear()
    for top in DEFAULT_ROOTS:
        folder = Path(top).resolve()
        EXISTING.update(p for p in (folder, *folder.glob("*")) if p.is_dir())
    try:
        try:
            APPS[command]()
        except SystemExit as exit_:  # Hydra's --help ends with sys.exit(0)
            if exit_.code not in (0, None) or not set(args) & {"-h", "--help"}:
                raise
            from zoo.cli.help import evaluate_field_help, train_field_help

            print("\n" + (train_field_help(args) if command == "train" else evaluate_field_help()), end="")
        if FAILURES:
            raise FAILURES[0]
    finally:
        sys.argv = saved
        if saved_full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_full_error
    return 0
