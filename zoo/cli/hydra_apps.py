"""`zoo train` and `zoo evaluate` as Hydra applications."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from zoo.config.compose import CONFIG_MODULE, prepare_hydra
from zoo.config.validate import check_missing
from zoo.core.errors import ZooError
from zoo.core.registry import get_registry

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
MODE_LINE = re.compile(r"^\s*(hydra\.)?mode\s*:", re.MULTILINE)
FULL_SEARCH_FLAGS = ("-cd", "--config-dir", "-cp", "--config-path", "-cn", "--config-name")


def mode_setting_configs() -> set[str]:
    """Names of the YAML configs on the search path that may set `hydra.mode`: a file mentioning
    `hydra` with a `mode:` line (e.g. `hparams_search/mlp_optuna`), and any file whose text names
    one of those (its defaults list may select it); `{"*"}` if a folder is unreadable."""
    from zoo.config.catalog import CORE_CONFIG, config_root

    def yaml_files(folder: Any) -> Iterator[Any]:
        for entry in folder.iterdir():
            if entry.is_dir():
                yield from yaml_files(entry)
            elif entry.name.endswith(".yaml"):
                yield entry

    texts: dict[str, list[str]] = {}
    for location, _ in [(CORE_CONFIG, "core"), *get_registry().config_dirs]:
        try:
            for file in yaml_files(config_root(location)):
                texts.setdefault(file.name[:-5], []).append(file.read_text())
        except (ModuleNotFoundError, OSError, TypeError, ValueError):
            return {"*"}  # let Hydra compose to find the mode
    names = {name for name, versions in texts.items()
             if any("hydra" in text and MODE_LINE.search(text) for text in versions)}
    while True:  # and every config whose defaults may select one of those (its text names it)
        more = {name for name, versions in texts.items() if name not in names
                and any(other in text for other in names for text in versions)}
        if not more:
            return names
        names |= more


def mode_is_default(args: list[str]) -> bool:
    """Whether Hydra's `get_mode` would find no `hydra.mode` in the composed config, decided
    without composing it. Conservative: any override naming `hydra.mode`, the search path or a
    config that may set the mode (`mode_setting_configs`), or a config folder given on the
    command line, leaves the decision to Hydra."""
    if any(arg.split("=")[0] in FULL_SEARCH_FLAGS or "hydra.mode" in arg or "searchpath" in arg
           for arg in args):
        return False
    setting = mode_setting_configs()
    return "*" not in setting and not any(name in arg for name in setting for arg in args)


@contextlib.contextmanager
def composing_once(args: list[str]) -> Iterator[None]:
    """Hydra composes the whole config once to read `hydra.mode` before it composes it again to
    run (a third of a second of `zoo train`'s start); when nothing can set the mode, answer as
    that composition would (None: the `-m` flag decides) without composing."""
    from zoo.core.compat import hydra_mode_unset

    if not mode_is_default(args):
        yield
        return
    with hydra_mode_unset():
        yield


def run_app(command: str, args: list[str]) -> int:
    """Run a Hydra app with `args` as its command line; its errors reach `zoo.cli.failures`."""
    from zoo.cli.quoting import hydra_quoted
    from zoo.config.catalog import plain_group_selections

    prepare_hydra()
    args = [hydra_quoted(arg) for arg in plain_group_selections(args)]
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
            with composing_once(args):
                APPS[command]()
        except SystemExit as exit_:  # Hydra's --help ends with sys.exit(0)
            if exit_.code not in (0, None) or not set(args) & {"-h", "--help"}:
                raise
            from zoo.cli.help import evaluate_field_help, train_field_help

            print("\n" + (train_field_help(args) if command == "train" else evaluate_field_help()), end="")
        if FAILURES:
            raise FAILURES[0]
    except Exception as exc:
        with contextlib.suppress(AttributeError):
            exc.zoo_args = args  # type: ignore[attr-defined]  # for the one-line message
        raise
    finally:
        sys.argv = saved
        if saved_full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_full_error
    return 0
