"""What a run reports besides its folder: the learning rate in the epoch logs, TensorBoard's
extras (`zoo.training.board`) and an MLflow run (`zoo.run.tracking`, `tracking=mlflow`).

The trainer makes one `Reporters`, adds its callbacks, calls `finished` after the test evaluation
and `close` at the end, whatever happened (an MLflow run that did not finish is marked FAILED, or
KILLED on Ctrl-C).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np

from zoo.run.tracking import MlflowTracker, tracking_backend


def learning_rate_of(model: Any) -> float | None:
    """The optimizer's current learning rate (its schedule at the current step), as Keras logs it."""
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    rate = getattr(optimizer, "learning_rate", None)
    if rate is None:
        return None
    try:
        return float(keras.ops.convert_to_numpy(rate))
    except (TypeError, ValueError):
        return None


def optimizer_of(model: Any) -> Any:
    optimizer = getattr(model, "optimizer", None)
    return getattr(optimizer, "inner_optimizer", optimizer)  # under a LossScaleOptimizer


def schedule_rates(optimizer: Any, steps: np.ndarray) -> dict[int, float]:
    """step -> the optimizer's scheduled learning rate at that step, for every step of `steps` in
    one evaluation; {} when its rate is not a schedule or the schedule is not element-wise."""
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        return {}
    config = optimizer.get_config().get("learning_rate")
    if not isinstance(config, dict):
        return {}
    try:
        schedule = keras.optimizers.schedules.deserialize(config)
        rates = np.asarray(keras.ops.convert_to_numpy(schedule(steps)), np.float64).reshape(-1)
    except Exception:  # noqa: BLE001 - e.g. a schedule with branches takes one step at a time
        return {}
    if rates.shape != steps.shape:
        return {}
    return {int(step): float(rate) for step, rate in zip(steps, rates, strict=True)}


class LearningRateLog(keras.callbacks.Callback):
    """`learning_rate` in every epoch's logs (so history.csv, the plot, TensorBoard and MLflow
    have it), as Keras's ReduceLROnPlateau adds it; runs before the callbacks that write logs.

    A schedule evaluated eagerly costs ~15 eager ops, 2-6 ms an epoch (a few per cent of a 0.1 s
    MLP epoch). So at the start the schedule is evaluated once for the optimizer step that ends
    every epoch of the run, `(e + 1) * steps` for `e` in `0..epochs-1` (the same table whatever
    the initial epoch, so a resumed run logs the same rates); an epoch whose step count is not in
    the table (another stepping, a changed rate variable) reads the rate as before.
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        steps, epochs = (self.params or {}).get("steps"), (self.params or {}).get("epochs")
        self.table: dict[int, float] = {}
        if steps and epochs:
            self.table = schedule_rates(optimizer_of(self.model), np.arange(1, epochs + 1) * int(steps))

    def rate(self) -> float | None:
        table = getattr(self, "table", None)
        if table:
            step = int(keras.ops.convert_to_numpy(optimizer_of(self.model).iterations))
            if step in table:
                return table[step]
        return learning_rate_of(self.model)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        rate = self.rate()
        if logs is not None and rate is not None:
            logs["learning_rate"] = rate


class MlflowEpochs(keras.callbacks.Callback):
    """Each epoch's logs (loss, metrics, validation, learning rate) as MLflow metrics, step = epoch."""

    def __init__(self, tracker: MlflowTracker):
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.tracker.log_metrics(dict(logs or {}), step=epoch)


class Reporters:
    """The run's extra reporters, chosen by `cfg.trainer.tensorboard` and `cfg.tracking`."""

    def __init__(self, cfg: Any, run: Any, resuming: bool):
        self.cfg, self.run = cfg, run
        self.tracker = None
        if tracking_backend(cfg) == "mlflow" and _is_chief(cfg):
            self.tracker = MlflowTracker.start(cfg, Path(run.path), resuming)
        self.done = False

    def log_callbacks(self) -> list:
        """Callbacks that add to the epoch logs: before the ones that write them."""
        return [LearningRateLog()]

    def callbacks(self) -> list:
        """Callbacks that read what the epoch wrote: after the family's own."""
        callbacks: list = []
        if self.cfg.trainer.tensorboard:
            from zoo.training.board import SampleGrids, hparams_callback

            tensorboard = Path(self.run.tensorboard)
            callbacks += [hparams_callback(self.cfg, tensorboard),
                          SampleGrids(Path(self.run.path) / "samples", tensorboard / "samples")]
        if self.tracker is not None:
            callbacks.append(MlflowEpochs(self.tracker))
        return callbacks

    def finished(self, metrics: dict[str, Any], evaluation: Any, info: Any) -> None:
        """After `metrics.json`: test summaries into TensorBoard, artifacts to MLflow."""
        if self.cfg.trainer.tensorboard:
            from zoo.training.board import write_test_summaries

            write_test_summaries(Path(self.run.tensorboard) / "test", metrics, evaluation, info)
        if self.tracker is not None:
            self.tracker.finish(Path(self.run.path), metrics)
        self.done = True

    def close(self) -> None:
        if self.tracker is not None and not self.done:
            interrupted = isinstance(sys.exc_info()[1], KeyboardInterrupt)
            self.tracker.end("KILLED" if interrupted else "FAILED")


def _is_chief(cfg: Any) -> bool:
    """Only the chief of a multi-worker run reports (the others train into scratch folders)."""
    if cfg.strategy.name != "multi_worker":
        return True
    from zoo.training.distributed import cluster_config, is_chief

    return is_chief(cluster_config(cfg.strategy))
