"""`zoo train` and `zoo evaluate` as Hydra applications."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from zoo.config.compose import CONFIG_MODULE, prepare_hydra
from zoo.errors import ZooError

log = logging.getLogger("zoo")


def check_missing(cfg: DictConfig) -> None:
    """Name the required values the command line did not give."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        given = " ".join(f"{key}=..." for key in missing)
        raise ZooError(f"missing required value(s) {', '.join(missing)}: add {given}")


def _report(exc: ZooError) -> None:
    print(f"zoo: error: {exc}", file=sys.stderr)
    sys.exit(2)


def run_folder(given: str | None) -> str:
    """`run_dir=` from the command line, else Hydra's run folder (removed if left empty)."""
    hydra_dir = Path(HydraConfig.get().runtime.output_dir)
    if not given:
        return str(hydra_dir)
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        raise ZooError(f"run_dir={given} names one run folder, but a sweep has many: drop run_dir "
                       "and set hydra.sweep.dir=FOLDER instead")
    with contextlib.suppress(OSError):
        hydra_dir.rmdir()  # Hydra creates it before the job starts; only an empty one goes
    return given


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="train")
def train_app(cfg: DictConfig) -> float | None:
    """Train one configuration; returns the test headline metric (for sweepers)."""
    from zoo.training.trainer import check_names

    try:
        check_missing(cfg)
        check_names(cfg)
        cfg.run_dir = run_folder(cfg.run_dir)
        from zoo.training.trainer import train

        result = train(cfg)
    except ZooError as exc:
        _report(exc)
        return None
    test = result.metrics["test"]
    headline = result.metrics.get("headline") or ("accuracy" if "accuracy" in test else "mae")
    print(f"test {headline}: {test[headline]:.4f}  run folder: {result.run_dir}")
    return float(test[headline])


@hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name="evaluate")
def evaluate_app(cfg: DictConfig) -> None:
    """Evaluate a finished run folder."""
    from zoo.evaluation.evaluate import evaluate

    try:
        check_missing(cfg)
        result = evaluate(cfg.run_dir, split=cfg.split, checkpoint=cfg.checkpoint,
                          batch_size=cfg.batch_size, output=cfg.output)
    except ZooError as exc:
        _report(exc)
        return
    metrics = result[cfg.split]
    print(f"{cfg.split} " + "  ".join(f"{k}: {v:.4f}" for k, v in metrics.items()))


APPS = {"train": train_app, "evaluate": evaluate_app}


def run_app(command: str, args: list[str]) -> int:
    """Run a Hydra app with `args` as its command line."""
    prepare_hydra()
    saved = sys.argv
    sys.argv = [f"zoo {command}", *args]
    try:
        APPS[command]()
    finally:
        sys.argv = saved
    return 0
