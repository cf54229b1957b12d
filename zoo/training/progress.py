"""Progress inside each epoch: a `keras.utils.Progbar` with ETA on a terminal, nothing otherwise.

zoo logs one line per epoch (`EpochLogger`); on a terminal this bar moves between those lines and
is wiped before each of them, so the two never share a line. Keras's own bar (`fit(verbose=1)`)
is not used: it ends its line after zoo's epoch line is written, gluing the two. In a pipe, a
file or CI (`CI` set) there is no bar, so the output holds no control characters.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import keras

from zoo.core.console import drain_to_log, quiet_console_logging, restore_console_logging
from zoo.core.progress import CLEAR_LINE, on_terminal

log = logging.getLogger("zoo.train")


class HeldLogLines(keras.callbacks.Callback):
    """Write TensorFlow's held-back C++ log lines into `train.log` (`zoo.core.console`) as epochs end.

    Epoch-level hooks only: a callback with a batch hook would cost every run Keras's
    asynchronous callback dispatch, so the bar below is added only where it is drawn.
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        quiet_console_logging()  # TensorFlow's own logger handler exists by now
        drain_to_log()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        drain_to_log()

    def on_train_end(self, logs: dict | None = None) -> None:
        drain_to_log()


class EpochProgress(HeldLogLines):
    """A Progbar (step, ETA, running metrics) through each epoch, wiped when the epoch ends."""

    def __init__(self) -> None:
        super().__init__()
        self.bar: keras.utils.Progbar | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.bar = keras.utils.Progbar(self.params.get("steps"), unit_name="step")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.bar is None:
            return
        values = [(k, float(v)) for k, v in (logs or {}).items() if _scalar(v)]
        self.bar.stateful_metrics = {k for k, _ in values}  # Keras's logs are running means already
        self.bar.update(batch + 1, values=values, finalize=False)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            sys.stdout.write(CLEAR_LINE)
            sys.stdout.flush()
            self.bar = None
        super().on_epoch_end(epoch, logs)


class RunEstimate(keras.callbacks.Callback):
    """How long the run will take, in the log before it is long: the steps of an epoch and of the
    run when training starts, then the time a step takes and the epoch's and run's ends once the
    first steps are timed (`AFTER_SECONDS` or `AFTER_STEPS`, whichever comes first), and the time
    left after each epoch. Timing starts after the first step (which traces the step function).

    Its hook is `on_train_batch_begin`, which Keras calls synchronously: a batch-end hook would
    cost every run Keras's asynchronous callback dispatch.
    """

    AFTER_SECONDS = 10.0
    AFTER_STEPS = 200

    def __init__(self, epochs: int, initial_epoch: int = 0):
        super().__init__()
        self.epochs, self.initial_epoch = epochs, initial_epoch
        self.started: float | None = None
        self.timed_from: tuple[float, int] | None = None  # (time, step) where timing began
        self.estimated = False
        self.steps_done = 0
        self.epoch, self.epoch_started = initial_epoch, 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        steps = (self.params or {}).get("steps")
        if self.started is None and steps:
            left = steps * (self.epochs - self.initial_epoch)
            log.info("%s steps an epoch, %s steps in %d epoch(s) to run", f"{steps:,}", f"{left:,}",
                     self.epochs - self.initial_epoch)
        if self.started is None:
            self.started = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch, self.epoch_started = epoch, time.monotonic()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.steps_done += 1
        if self.estimated or self.steps_done < 2:
            return
        now = time.monotonic()
        if self.timed_from is None:
            self.timed_from = (now, self.steps_done)
            return
        began, first = self.timed_from
        timed = self.steps_done - first
        if timed >= self.AFTER_STEPS or now - began >= self.AFTER_SECONDS:
            self.estimated = True
            per_step = (now - began) / timed
            steps = (self.params or {}).get("steps") or 0
            epoch_left = max(0, steps - batch) * per_step
            run_left = epoch_left + (self.epochs - self.epoch - 1) * steps * per_step
            log.info("%.3g s a step: epoch %d ends in about %s, training in about %s (at %s)",
                     per_step, self.epoch + 1, duration(epoch_left), duration(run_left),
                     time.strftime("%H:%M", time.localtime(time.time() + run_left)))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.monotonic() - self.epoch_started
        left = self.epochs - epoch - 1
        if left > 0 and seconds >= self.AFTER_SECONDS:  # long epochs only: a line each is noise
            log.info("epoch %d took %s: %d epoch(s) left, about %s", epoch + 1, duration(seconds), left,
                     duration(left * seconds))


def duration(seconds: float) -> str:
    """`42 s`, `3 min 5 s`, `2 h 07 min`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _scalar(value: Any) -> bool:
    if isinstance(value, str | bytes) or getattr(value, "ndim", 0) != 0:
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def progress_callbacks(trainer: Any) -> list[keras.callbacks.Callback]:
    """The progress callback for `trainer` (a `TrainerConfig`): a bar on a terminal unless
    `trainer.verbose=2` (one line per epoch only)."""
    return [EpochProgress() if trainer.verbose != 2 and on_terminal() else HeldLogLines()]


@contextlib.contextmanager
def console_logging() -> Iterator[None]:
    """While the block runs: print zoo's INFO lines (run folder, epochs, test metric) on stderr when
    nothing else would show them (a Python program that configured no logging), and keep other
    libraries' records below ERROR off the console (`zoo.core.console.ConsoleFilter`)."""
    zoo_log = logging.getLogger("zoo")
    quiet_console_logging()
    if zoo_log.hasHandlers():
        try:
            yield
        finally:
            restore_console_logging()
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s] %(message)s", "%H:%M:%S"))
    handler.setLevel(logging.INFO)
    previous = zoo_log.level
    zoo_log.addHandler(handler)
    if zoo_log.getEffectiveLevel() > logging.INFO:
        zoo_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        zoo_log.removeHandler(handler)
        zoo_log.setLevel(previous)
        restore_console_logging()
