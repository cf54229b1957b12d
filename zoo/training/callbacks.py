"""Callbacks of a run: Keras's own where they fit, plus an atomic resumable checkpoint."""

from __future__ import annotations

import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np

from zoo.core.errors import RunDirError, WorkFailed
from zoo.run.rundir import RunDir, write_json

log = logging.getLogger("zoo.train")


class CheckpointError(RunDirError):
    """No readable checkpoint to resume from."""


class ResumableCheckpoint(keras.callbacks.Callback):
    """After every epoch, atomically save the weights (optimizer included) and the epoch.

    `checkpoints/last.weights.h5` plus `checkpoints/state.json` let a restarted run continue
    where it stopped; the previous `last` is kept as `last.prev.weights.h5` in case the newest
    is damaged. When the monitored quantity improves, `last` is copied to `best.weights.h5`
    (one save per epoch, not two: saving costs more than training a small model's epoch).
    The best value travels in `state.json`, so a restart never replaces `best` with a worse one.
    """

    def __init__(self, run: RunDir, monitor: str, mode: str, best: float | None = None):
        super().__init__()
        self.run, self.monitor, self.mode = run, monitor, mode
        self.best = best if best is not None else (-math.inf if mode == "max" else math.inf)

    def improved(self, current: float) -> bool:
        return current > self.best if self.mode == "max" else current < self.best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.run.checkpoints.is_dir():
            raise WorkFailed(f"run folder {self.run.path} (or its checkpoints/) was deleted or moved while "
                             f"training, after epoch {epoch + 1}: training stopped; train again into a "
                             "folder that stays")
        tmp = self.run.checkpoints / "tmp-last.weights.h5"
        self.model.save_weights(tmp, overwrite=True)
        previous = self.run.read_state().get("epoch") if self.run.last_weights.exists() else None
        if previous is not None:  # keep the last good checkpoint in case this one is damaged
            copy_atomic(self.run.last_weights, self.run.prev_weights)
        os.replace(tmp, self.run.last_weights)
        current = (logs or {}).get(self.monitor)
        if current is not None and math.isfinite(current) and self.improved(current):
            self.best = float(current)
            copy_atomic(self.run.last_weights, self.run.best_weights)
        state = {"epoch": epoch + 1, "previous_epoch": previous,
                 "monitor": self.monitor, "best": None if math.isinf(self.best) else self.best}
        write_json(self.run.state, state)


def copy_atomic(source: Path, target: Path) -> None:
    """Copy `source` over `target` so `target` is always a whole file."""
    tmp = target.with_name(f"tmp-{target.name}")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def readable_weights(path: Path) -> str | None:
    """None when the HDF5 weights file at `path` reads end to end, else what is wrong."""
    import h5py

    def read(_: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            obj[()]

    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(read)
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def choose_checkpoint(run: RunDir, state: dict[str, Any]) -> tuple[Path, int]:
    """The checkpoint to resume from and its epoch: `last`, or `last.prev` if `last` is damaged."""
    problem = readable_weights(run.last_weights) if run.last_weights.exists() else "missing"
    if problem is None:
        return run.last_weights, int(state.get("epoch", 0))
    previous = state.get("previous_epoch")
    if previous is not None and run.prev_weights.exists() and readable_weights(run.prev_weights) is None:
        log.warning("checkpoint %s is corrupt or truncated (%s): resuming from the previous good "
                    "one, %s (epoch %d)", run.last_weights, problem, run.prev_weights.name, previous)
        return run.prev_weights, int(previous)
    raise CheckpointError(
        f"checkpoint {run.last_weights} is corrupt or truncated ({problem}) and no good previous "
        "checkpoint exists: start over with trainer.resume=false trainer.overwrite=true")


class EpochSeeds(keras.callbacks.Callback):
    """Reseed every layer's random generator (dropout, noise) from the epoch number.

    Random layer state is not part of a checkpoint, so without this a resumed run would draw
    other dropout masks than an uninterrupted one. Like the data order, randomness becomes a
    function of (seed, epoch).
    """

    STRIDE = 1_000_003

    def on_train_begin(self, logs: dict | None = None) -> None:
        # Keras keeps a layer's generators in `_seed_generators` (no public accessor).
        self.generators = [sg for layer in self.model._flatten_layers(include_self=True)
                           for sg in getattr(layer, "_seed_generators", [])]
        self.initial = [np.asarray(sg.state.numpy()).copy() for sg in self.generators]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for sg, initial in zip(self.generators, self.initial, strict=True):
            state = initial.astype(np.int64)
            state[0] = (state[0] + epoch * self.STRIDE) % 2**32
            sg.state.assign(state.astype(initial.dtype))


class EpochLogger(keras.callbacks.Callback):
    """One log line per epoch (it lands in the console and in `train.log`)."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        values = " ".join(f"{k}={v:.4g}" for k, v in (logs or {}).items()
                          if isinstance(v, (int, float)))
        log.info("epoch %d/%d %s", epoch + 1, self.epochs, values)


def build_callbacks(run: RunDir, trainer: Any, resuming: bool, best: float | None) -> list:
    """The callbacks for `trainer` (a `TrainerConfig`) writing into `run`."""
    mode = "max" if any(k in trainer.monitor for k in ("acc", "auc", "f1", "precision", "recall",
                                                        "r2")) else "min"
    callbacks: list = [ResumableCheckpoint(run, trainer.monitor, mode, best),
                       keras.callbacks.CSVLogger(run.history, append=resuming),
                       EpochSeeds(), EpochLogger(trainer.epochs)]
    if trainer.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(run.tensorboard, profile_batch=0))
    if trainer.terminate_on_nan:
        callbacks.append(keras.callbacks.TerminateOnNaN())
    if trainer.early_stopping.enabled:
        es = trainer.early_stopping
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=trainer.monitor, mode=mode, patience=es.patience, min_delta=es.min_delta,
            restore_best_weights=es.restore_best_weights))
    if trainer.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=trainer.monitor, mode=mode,
                                                           factor=0.5, patience=3))
    return callbacks
