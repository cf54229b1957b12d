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


DEFAULT_ROOT = "outputs"  # where Hydra puts a run without run_dir= (conf/train.yaml)


class NewFolders:
    """Which folders on the way to a run folder did not exist before Hydra started, so that the
    ones Hydra made for a run that left them empty can go, and nothing that existed before.

    Recorded for the run folder named on the command line (`run_dir=` or `hydra.run.dir=`) and for
    the default root (`outputs/DATE/TIME`): the folder, its parents and two levels below it."""

    def __init__(self, roots: list[Path]):
        self.roots = [root.resolve() for root in roots]
        self.existing: set[Path] = set()
        for root in self.roots:
            self.existing |= {p for p in (root, *root.parents) if p.is_dir()}
            if root.is_dir():
                self.existing |= {p for p in (*root.glob("*"), *root.glob("*/*")) if p.is_dir()}

    def known(self, folder: Path) -> bool:
        """Whether `folder`'s state before the run was recorded."""
        return any(folder == root or folder in root.parents
                   or (root in folder.parents and len(folder.relative_to(root).parts) <= 2)
                   for root in self.roots)

    def remove_empty(self, folder: Path) -> None:
        """Remove `folder` and its parents while they are empty and were made after the record."""
        for path in (folder.resolve(), *folder.resolve().parents):
            if path in self.existing or not self.known(path) or not path.is_dir() or any(path.iterdir()):
                break
            with contextlib.suppress(OSError):
                path.rmdir()


class HydraJob:
    """One job under `@hydra.main`. A single run's failure is kept for `run_app` to raise (raised
    out of the job, Hydra would print a line of its own first: `JobReturn.return_value`), and the
    folders Hydra made for it are removed if the job left them empty; a sweep's failures go to
    Hydra, which reports them."""

    def __init__(self, job: Callable[[DictConfig], Any], new_folders: NewFolders):
        self.job, self.new_folders = job, new_folders
        self.failure: Exception | None = None

    def __call__(self, cfg: DictConfig) -> Any:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            return self.job(cfg)
        try:
            return self.job(cfg)
        except Exception as exc:
            self.failure = exc
            return None
        finally:
            self.new_folders.remove_empty(Path(HydraConfig.get().runtime.output_dir))


def train_job(cfg: DictConfig) -> float:
    """Train one configuration (`train` checks the config); returns the validation headline metric
    (for sweepers). The run folder is Hydra's (`run_dir=X` on the command line is `hydra.run.dir`)."""
    from zoo.core.console import quiet_console_logging
    from zoo.sweeps.summary import selection
    from zoo.training.trainer import train

    quiet_console_logging()
    if cfg.run_dir and HydraConfig.get().mode == RunMode.MULTIRUN:  # a sweep a config turned on
        raise sweep_with_run_dir(cfg.run_dir)
    cfg.run_dir = cfg.run_dir or HydraConfig.get().runtime.output_dir
    result = train(cfg)
    test = result.metrics["test"]
    headline = result.metrics.get("headline") or ("accuracy" if "accuracy" in test else "mae")
    print(f"test {headline}: {test[headline]:.4f}  run folder: {result.run_dir}")
    name, value = selection(result.metrics)  # a sweeper selects on validation, never on test
    if value is None:
        log.warning("no validation metric in %s: the sweeper gets test %s", result.run_dir, headline)
        return float(test[headline])
    return float(value)


def evaluate_job(cfg: DictConfig) -> None:
    """Evaluate a finished run folder."""
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


JOBS = {"train": train_job, "evaluate": evaluate_job}
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


def _path_override(arg: str, keys: tuple[str, ...]) -> str | None:
    """The folder a `key=PATH` override among `keys` names (None for another argument, a sweep
    or an interpolation)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    key = arg.partition("=")[0]
    if key not in keys or arg.startswith("-"):
        return None
    try:
        value = OverridesParser.create().parse_override(arg).value()
    except Exception:  # noqa: BLE001 - Hydra reports a bad override itself, when it parses it
        return None
    return value if isinstance(value, str) and value and "${" not in value else None


def named_folders(args: list[str]) -> list[Path]:
    """The run folders `run_dir=` and `hydra.run.dir=` name on the command line."""
    found = (_path_override(arg, ("run_dir", "hydra.run.dir")) for arg in args)
    return [Path(path) for path in found if path is not None]


def sweep_with_run_dir(run_dir: Any) -> ZooError:
    return ZooError(f"run_dir={run_dir} names one run folder, but a sweep has many: drop run_dir "
                    "and set hydra.sweep.dir=FOLDER instead")


def run_folder_for_hydra(args: list[str]) -> list[str]:
    """`run_dir=X` also sets `hydra.run.dir=X`, so the folder Hydra makes for a single run is the
    run folder; `-m` with `run_dir=` is refused before Hydra makes the sweep's folder."""
    given = [arg for arg in args if _path_override(arg, ("run_dir",)) is not None]
    if given and {"-m", "--multirun"} & set(args):
        raise sweep_with_run_dir(_path_override(given[-1], ("run_dir",)))
    if not given or any(arg.startswith("hydra.run.dir=") for arg in args):
        return args
    return [*args, "hydra.run.dir=" + given[-1].partition("=")[2]]


def run_app(command: str, args: list[str]) -> int:
    """Run a Hydra app with `args` as its command line; its errors reach `zoo.cli.failures`."""
    from zoo.cli.quoting import hydra_quoted
    from zoo.config.catalog import plain_group_selections

    prepare_hydra()
    args = [hydra_quoted(arg) for arg in plain_group_selections(args)]
    hydra_args = run_folder_for_hydra(args) if command == "train" else args
    job = HydraJob(JOBS[command], NewFolders([Path(DEFAULT_ROOT), *named_folders(args)]))
    saved, saved_full_error = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    sys.argv = [f"zoo {command}", *hydra_args]
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing its own report
    app = hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name=command)(job)
    try:
        try:
            with composing_once(args):
                app()
        except SystemExit as exit_:  # Hydra's --help ends with sys.exit(0)
            if exit_.code not in (0, None) or not set(args) & {"-h", "--help"}:
                raise
            from zoo.cli.help import evaluate_field_help, train_field_help

            print("\n" + (train_field_help(args) if command == "train" else evaluate_field_help()), end="")
        if job.failure is not None:
            raise job.failure
    except Exception as exc:
        with contextlib.suppress(AttributeError):
            exc.zoo_args = args  # type: ignore[attr-defined]  # for the one-line message
        raise
    finally:
        # the job's Hydra config ends with it: a later `zoo.train` in this process is no Hydra job
        # (zoo.run.command would otherwise record this command's overrides in its run folder)
        HydraConfig.instance().cfg = None
        sys.argv = saved
        if saved_full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved_full_error
    return 0
