"""The run folder: where a run's config, log, checkpoints, metrics and plots live."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from zoo.core.atomic import write_atomic
from zoo.core.errors import RunDirError, first_line
from zoo.core.formats import finite, format_of, unstamped, write_versioned
from zoo.run.state import STATE_FORMAT, RunState

ARTIFACTS = ("config.yaml", "dataset.json", "metrics.json", "privacy.json", "history.csv", "model.keras",
             "train.log", "report.json", "report.txt", "checkpoints", "plots", "tensorboard",
             "evaluation", ".hydra")


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(finite(data), indent=2, allow_nan=False) + "\n")


class RunDir:
    """Paths of one run's artifacts and the rules for starting, resuming or replacing a run."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.config = self.path / "config.yaml"
        self.dataset_info = self.path / "dataset.json"
        self.metrics = self.path / "metrics.json"
        self.history = self.path / "history.csv"
        self.model = self.path / "model.keras"
        self.log = self.path / "train.log"
        self.checkpoints = self.path / "checkpoints"
        self.best_weights = self.checkpoints / "best.weights.h5"
        self.last_weights = self.checkpoints / "last.weights.h5"
        self.prev_weights = self.checkpoints / "last.prev.weights.h5"
        self.state = self.checkpoints / "state.json"
        self.plots = self.path / "plots"
        self.tensorboard = self.path / "tensorboard"
        self.evaluation = self.path / "evaluation"

    def __str__(self) -> str:
        return str(self.path)

    @property
    def finished(self) -> bool:
        return self.metrics.exists()

    @property
    def interrupted(self) -> bool:
        return self.state.exists() and not self.finished

    def read_state(self) -> RunState:
        """The resume state (epoch 0 when there is none); a damaged file is named with the fix, a
        newer format with the version to upgrade to."""
        if not self.state.exists():
            return RunState()
        try:
            data = json.loads(self.state.read_text())
            if not isinstance(data, dict):
                raise ValueError(f"it holds {type(data).__name__}, not an object")
            format_of(data, self.state, STATE_FORMAT, "upgrade keras-zoo (pip install -U keras-zoo), or "
                      "start over with trainer.resume=false trainer.overwrite=true")
            return RunState.from_dict(unstamped(data))
        except (ValueError, UnicodeDecodeError) as exc:
            raise RunDirError(f"{self.state} is corrupt ({first_line(exc)}), so the epoch to "
                              "resume from is unknown: start over with trainer.resume=false "
                              "trainer.overwrite=true, or choose another folder") from None

    def write_state(self, state: RunState) -> None:
        """`checkpoints/state.json`, versioned and written atomically."""
        write_versioned(self.state, state.to_dict(), STATE_FORMAT)

    def entries(self) -> set[str] | None:
        """Names in the folder now (None when it does not exist): what a failed start keeps."""
        return set(os.listdir(self.path)) if self.path.is_dir() else None

    def discard_new(self, before: set[str] | None) -> None:
        """Remove what a run that failed before its first epoch wrote here, and nothing else:
        the run's own files that were not in `before`, and the folder if the run created it."""
        if not self.path.is_dir():
            return
        ours = set(ARTIFACTS) | {".zoo.lock"}
        for name in set(os.listdir(self.path)) - (before or set()):
            target = self.path / name
            if not (name in ours or name.startswith((".config.yaml.tmp", "tmp-"))):
                continue
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
        if before is None:
            with contextlib.suppress(OSError):
                self.path.rmdir()  # only when nothing else was put there meanwhile

    def prepare(self, cfg: DictConfig, resume: bool, overwrite: bool) -> bool:
        """Create the folder for `cfg`; returns True when an interrupted run will be resumed.

        A finished run is never replaced unless `overwrite`; an interrupted one is resumed
        unless `resume` is off (then `overwrite` is needed too).
        """
        resuming = False
        if self.finished or (self.interrupted and not resume):
            what = "a finished run" if self.finished else "an interrupted run"
            if not overwrite:
                raise RunDirError(
                    f"run folder {self.path} already holds {what}: choose another folder "
                    "(hydra.run.dir=...), or pass trainer.overwrite=true to replace it")
            self.clear()
        elif self.interrupted:
            self.read_state()  # a damaged state file is named now, before any work
            resuming = True
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(exist_ok=True)
        if not resuming:
            from zoo.run.command import write_invocation

            write_atomic(self.config, OmegaConf.to_yaml(cfg, resolve=True))
            write_invocation(self.path)
        return resuming

    def clear(self) -> None:
        """Delete this run's artifacts (only the files Keras Zoo writes)."""
        for name in ARTIFACTS:
            target = self.path / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()

    def load_config(self) -> DictConfig:
        if not self.config.exists():
            raise RunDirError(f"{self.path} is not a Keras Zoo run folder (no config.yaml): "
                              "pass the folder that `zoo train` printed")
        try:
            cfg = OmegaConf.load(self.config)
        except Exception as exc:  # YAML, encoding and OmegaConf errors alike
            raise RunDirError(f"{self.config} is corrupt ({first_line(exc)}): restore it from a "
                              "copy (an exported bundle holds one), or train the run again") from None
        if not isinstance(cfg, DictConfig) or "model" not in cfg or "dataset" not in cfg:
            raise RunDirError(f"{self.config} is not a zoo train config (no model or dataset): restore "
                              "it from a copy (an exported bundle holds one), or train the run again")
        return cfg

    @contextlib.contextmanager
    def logging_to_file(self) -> Iterator[None]:
        """Copy every log record to `train.log` while the block runs."""
        handler = logging.FileHandler(self.log, encoding="utf-8")
        handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] %(message)s"))
        root, level = logging.getLogger(), logging.getLogger().level
        root.addHandler(handler)
        root.setLevel(min(level or logging.INFO, logging.INFO))
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(level)
            handler.close()


def open_finished(run_dir: str | os.PathLike) -> tuple[RunDir, Any]:
    """A finished run's folder and config, for `zoo evaluate`, `zoo export` and `zoo generate`; a
    RunDirError says what is missing or corrupt and what to do."""
    from zoo.core.errors import RunDirError

    run = RunDir(run_dir)
    if not run.path.is_dir():
        raise RunDirError(f"run folder {run.path} does not exist: pass the folder `zoo train` printed")
    cfg = run.load_config()
    if not run.dataset_info.exists():
        raise RunDirError(f"{run.dataset_info} is missing: the run stopped before its data loaded")
    try:
        info = json.loads(run.dataset_info.read_text(encoding="utf-8"))
        problem = dataset_info_problem(info, run.dataset_info)  # a newer format: a FormatError
    except (ValueError, UnicodeDecodeError) as exc:
        problem = first_line(exc)
    if problem:
        raise RunDirError(f"{run.dataset_info} is corrupt ({problem}): copy it back from "
                          "an exported bundle of this run, or train the run again") from None
    return run, cfg


def dataset_info_problem(info: Any, source: str | os.PathLike = "dataset.json") -> str | None:
    """What is wrong with a `dataset.json`'s content (None when `DatasetInfo` can be built from it);
    a format newer than this zoo reads is a FormatError naming `source`."""
    from zoo.data.base import DatasetInfo

    if not isinstance(info, dict):
        return f"it holds {type(info).__name__}, not an object"
    for key in ("name", "task", "modality"):
        if not isinstance(info.get(key), str):
            return f"{key} is {json.dumps(info.get(key))[:40]}, not a string"
    shape = info.get("input_shape")
    if not isinstance(shape, list) or not all(d is None or type(d) is int for d in shape):
        return f"input_shape is {json.dumps(shape)[:40]}, not a list of integers"
    try:
        DatasetInfo.from_dict(info, source)
    except (TypeError, ValueError, KeyError) as exc:
        return first_line(exc)
    return None


def cut_history(path: Path, epochs: int) -> int:
    """Keep the rows of the first `epochs` epochs of `history.csv` (a resumed run writes the later
    ones again: without the cut, epochs after the checkpoint appeared twice); returns the rows
    removed."""
    import csv
    import io

    if not path.exists():
        return 0
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        rows = list(reader)
    if header is None or "epoch" not in header:
        return 0
    column = header.index("epoch")
    kept = [r for r in rows if len(r) == len(header) and _epoch_number(r[column]) < epochs]
    if len(kept) == len(rows):
        return 0
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(kept)
    write_atomic(path, out.getvalue())
    return len(rows) - len(kept)


def _epoch_number(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        return math.inf  # a torn row (the process killed while writing it) goes too


def read_history(path: Path) -> dict[str, list[float]]:
    """A run's `history.csv` (one row per epoch) as columns of floats."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}
