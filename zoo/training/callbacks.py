"""Callbacks of a run: Keras's own where they fit, plus an atomic resumable checkpoint."""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import keras
import numpy as np

from zoo.training.rundir import RunDir, write_json

log = logging.getLogger("zoo.train")


class ResumableCheckpoint(keras.callbacks.Callback):
    """After every epoch, atomically save the weights (optimizer included) and the epoch.

    `checkpoints/last.weights.h5` plus `checkpoints/state.json` let a restarted run continue
    where it stopped; the best-so-far value of the monitored quantity travels along so the
    best checkpoint is not replaced by a worse epoch after a restart.
    """

    def __init__(self, run: RunDir, best_checkpoint: keras.callbacks.ModelCheckpoint | None):
        super().__init__()
        self.run = run
        self.best_checkpoint = best_checkpoint

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        tmp = self.run.checkpoints / "tmp-last.weights.h5"
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, self.run.last_weights)
        best = self.best_checkpoint.best if self.best_checkpoint is not None else None
        state = {"epoch": epoch + 1, "best": None if best is None or math.isinf(best) else best}
        write_json(self.run.state, state)


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
    best_ckpt = keras.callbacks.ModelCheckpoint(
        run.best_weights, monitor=trainer.monitor, mode=mode, save_best_only=True,
        save_weights_only=True, initial_value_threshold=best)
    callbacks: list = [best_ckpt, ResumableCheckpoint(run, best_ckpt),
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
