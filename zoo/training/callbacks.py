"""Callbacks of a run: Keras's own where they fit, plus an atomic resumable checkpoint."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from zoo.core.compat import WeightsLayout, seed_generators
from zoo.core.errors import RunDirError, WorkFailed, first_line
from zoo.run.rundir import RunDir
from zoo.run.state import RunState
from zoo.training.checkpointing import CheckpointWriter, SaveClock, Snapshot
from zoo.training.epoch_tensorboard import EpochTensorBoard, EpochTerminateOnNaN

log = logging.getLogger("zoo.train")


class CheckpointError(RunDirError):
    """No readable checkpoint to resume from."""


class ResumableCheckpoint(keras.callbacks.Callback):
    """Atomically save the weights (optimizer included) and the epoch, so a restart resumes exactly.

    `checkpoints/last.weights.h5` plus `checkpoints/state.json` let a restarted run continue where
    it stopped; the previous `last` is kept as `last.prev.weights.h5` in case the newest is
    damaged. A save happens at an epoch's end when `every_seconds` have passed since the last one
    (0: every epoch), always at the end of training, and when training is interrupted between
    epochs (`interrupted()`). Saving is asynchronous: the training thread copies the values to
    numpy (about 1 % of a save's cost) and a background thread writes the files. Epochs after the
    last save are recomputed on resume, identically, since data order and randomness are functions
    of (seed, epoch). When the monitored quantity improves, that epoch's values are kept and written
    as `best.weights.h5` with the next save; the best value travels in `state.json`, so a restart
    never replaces `best` with a worse one.
    """

    def __init__(self, run: RunDir, monitor: str, mode: str, best: float | None = None,
                 every_seconds: float = 0.0):
        super().__init__()
        self.run, self.monitor, self.mode = run, monitor, mode
        self.best = best if best is not None else (-math.inf if mode == "max" else math.inf)
        self.clock = SaveClock(every_seconds)
        self.saved_epoch: int | None = None  # epoch of `last` on disk
        self.saved_step = 0  # and steps of the epoch after it (a checkpoint saved mid-epoch)
        self.saved_seeds: list | None = None  # and the random layers' state then
        self.completed = 0  # epochs done so far
        self.at_epoch_end = False  # no step has run since `completed` ended
        self.best_epoch: int | None = None  # improved since the last save: (epoch, values or None)
        self.best_values: list | None = None
        self.layout: WeightsLayout | None = None
        self.weights_of: Any = None  # the network when Keras fits a wrapper of it (distillation)
        self.writer: CheckpointWriter | None = None
        if run.last_weights.exists() and run.state.exists():
            state = run.read_state()
            self.saved_epoch, self.saved_step, self.saved_seeds = state.epoch, state.step, state.seeds

    def improved(self, current: float) -> bool:
        return current > self.best if self.mode == "max" else current < self.best

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.clock.saved()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.at_epoch_end = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self.run.checkpoints.is_dir():
            raise WorkFailed(f"run folder {self.run.path} (or its checkpoints/) was deleted or moved while "
                             f"training, after epoch {epoch + 1}: training stopped; train again into a "
                             "folder that stays")
        self.completed, self.at_epoch_end = epoch + 1, True
        current = (logs or {}).get(self.monitor)
        improved = current is not None and math.isfinite(current) and self.improved(current)
        if improved:
            self.best, self.best_epoch = float(current), epoch + 1
        if self.clock.due():
            self.save()
        elif improved:
            self.best_values = self.snapshot()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.completed and (self.saved_epoch != self.completed or self.saved_step):
            self.save()

    def interrupted(self) -> None:
        """Training stopped by an exception: save the finished epoch if no step ran since it ended,
        and wait for the files in flight, so the run resumes from the newest possible point."""
        try:
            if self.at_epoch_end and self.completed and (self.saved_epoch != self.completed
                                                         or self.saved_step):
                self.save()
        finally:
            self.close()

    def snapshot(self) -> list:
        if self.layout is None:
            self.layout = WeightsLayout(self.weights_of or self.model)
        return self.layout.snapshot()

    def save(self, step: int = 0, seeds: list | None = None) -> None:
        """Checkpoint `completed` epochs plus `step` steps of the next one (with the random layers'
        `seeds` then, which a mid-epoch resume restores)."""
        values = self.snapshot()
        best_is_last = self.best_epoch == self.completed and not step
        best_values = None if best_is_last or self.best_epoch is None else self.best_values
        state = RunState(self.completed, self.saved_epoch, self.monitor,
                         None if math.isinf(self.best) else self.best)
        if step:
            state.step, state.seeds = step, seeds or []
        if self.saved_step:  # `last.prev` was saved mid-epoch: resuming from it needs its step too
            state.previous_step, state.previous_seeds = self.saved_step, self.saved_seeds
        if self.writer is None:
            self.writer = CheckpointWriter(self.run, self.layout)
        self.writer.submit(Snapshot(self.completed, values, state, best_values, best_is_last))
        self.saved_epoch, self.saved_step, self.saved_seeds = self.completed, step, seeds
        self.best_epoch, self.best_values = None, None
        self.clock.saved()

    def save_step(self, epoch: int, step: int, model: Any) -> None:
        """Checkpoint before step `step` of epoch `epoch` (0-based; step 0: the epoch boundary),
        stopping mid-epoch: `model`'s random layers' state goes into `state.json`."""
        self.completed = epoch
        seeds = [np.asarray(sg.state.numpy()).tolist() for sg in seed_generators(model)] if step else None
        if step or self.saved_epoch != epoch or self.saved_step:
            self.save(step, seeds)

    def wait(self) -> None:
        """Until the files of every save so far are on disk (raises what went wrong writing them)."""
        if self.writer is not None:
            self.writer.wait()

    def close(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.close()


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
        return first_line(exc)
    return None


@dataclass
class ResumePoint:
    """Where a resumed run starts: the checkpoint file, the epochs done, the steps done of the
    next epoch (a checkpoint saved mid-epoch) and the random layers' state at that step."""

    path: Path
    epoch: int
    step: int = 0
    seeds: list | None = None


def choose_checkpoint(run: RunDir, state: RunState) -> ResumePoint:
    """The checkpoint to resume from: `last`, or `last.prev` if `last` is damaged."""
    problem = readable_weights(run.last_weights) if run.last_weights.exists() else "missing"
    if problem is None:
        return ResumePoint(run.last_weights, state.epoch, state.step, state.seeds)
    previous = state.previous_epoch
    if previous is not None and run.prev_weights.exists() and readable_weights(run.prev_weights) is None:
        log.warning("checkpoint %s is corrupt or truncated (%s): resuming from the previous good "
                    "one, %s (epoch %d)", run.last_weights, problem, run.prev_weights.name, previous)
        return ResumePoint(run.prev_weights, previous, state.previous_step, state.previous_seeds)
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

    def __init__(self, resume: ResumePoint | None = None):
        super().__init__()
        self.resume = resume if resume is not None and resume.step and resume.seeds else None
        self.generators: list | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.generators is None:  # once: a run resumed mid-epoch calls `fit` twice
            self.generators = seed_generators(self.model)
            self.initial = [np.asarray(sg.state.numpy()).copy() for sg in self.generators]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for sg, initial in zip(self.generators, self.initial, strict=True):
            state = initial.astype(np.int64)
            state[0] = (state[0] + epoch * self.STRIDE) % 2**32
            sg.state.assign(state.astype(initial.dtype))
        if self.resume is not None and epoch == self.resume.epoch:
            for sg, saved in zip(self.generators, self.resume.seeds, strict=True):
                sg.state.assign(np.asarray(saved, dtype=sg.state.numpy().dtype))  # where it stopped
            self.resume = None


class EpochLogger(keras.callbacks.Callback):
    """One log line per epoch (it lands in the console and in `train.log`)."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        values = " ".join(f"{k}={v:.4g}" for k, v in (logs or {}).items()
                          if isinstance(v, (int, float)))
        log.info("epoch %d/%d %s", epoch + 1, self.epochs, values)


def build_callbacks(run: RunDir, trainer: Any, resuming: bool, best: float | None,
                    resume: ResumePoint | None = None) -> list:
    """The callbacks for `trainer` (a `TrainerConfig`) writing into `run`."""
    mode = "max" if any(k in trainer.monitor for k in ("acc", "auc", "f1", "precision", "recall",
                                                        "r2")) else "min"
    callbacks: list = [ResumableCheckpoint(run, trainer.monitor, mode, best,
                                           every_seconds=trainer.checkpoint_every_seconds),
                       keras.callbacks.CSVLogger(run.history, append=resuming),
                       EpochSeeds(resume), EpochLogger(trainer.epochs)]
    if trainer.tensorboard:
        callbacks.append(EpochTensorBoard(run.tensorboard))
    if trainer.terminate_on_nan:
        callbacks.append(EpochTerminateOnNaN())
    if trainer.early_stopping.enabled:
        es = trainer.early_stopping
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=trainer.monitor, mode=mode, patience=es.patience, min_delta=es.min_delta,
            restore_best_weights=es.restore_best_weights))
    if trainer.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=trainer.monitor, mode=mode,
                                                           factor=0.5, patience=3))
    return callbacks
