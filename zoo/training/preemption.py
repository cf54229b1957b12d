"""Stop on Ctrl-C or SIGTERM at a step boundary, with a checkpoint of that step.

While `fit` runs, SIGINT and SIGTERM (Slurm's `scancel`, a Kubernetes eviction) only set a flag.
Before each training step `StopAtStep` looks at it; under multi-worker training the workers
agree on it with one small all-reduce per step, so every worker stops before the same step and
the chief saves one consistent checkpoint: the weights (optimizer included), the epoch, the step
within it and the random layers' state. The rerun resumes at that step, and its final weights
equal an uninterrupted run's. A second Ctrl-C stops at once (no save).

Exit codes (docs/training.md): 130 after Ctrl-C, `EXIT_PREEMPTED` (75, "try again") after
SIGTERM; both mean "checkpoint saved, the same command resumes".
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import keras

from zoo.core.errors import EXIT_PREEMPTED, Interrupted, Preempted

log = logging.getLogger("zoo.train")

__all__ = ["EXIT_PREEMPTED", "Preempted", "StopAtStep", "StopSignals"]


class StopSignals:
    """While the block runs (in the main thread): SIGINT and SIGTERM set `received` instead of
    raising; a second SIGINT raises KeyboardInterrupt at once. The old handlers come back after."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self.handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def restore(self) -> None:
        previous, self.previous = self.previous, {}
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def handle(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:
            self.restore()
            raise KeyboardInterrupt
        if self.received is None:
            self.received = signum


class StopAtStep(keras.callbacks.Callback):
    """Before each step: stop training when a stop was asked for (by any worker), after the saver
    wrote the checkpoint of the steps done so far.

    The check is in `on_train_batch_begin`, which Keras calls synchronously: a batch-end hook
    would cost every run Keras's asynchronous callback dispatch.
    """

    def __init__(self, signals: StopSignals, saver: Any, strategy: Any = None):
        super().__init__()
        self.signals, self.saver = signals, saver
        self.agree = _agreement(strategy) if strategy is not None else None
        self.epoch = 0
        self.step_offset = 0  # steps of this epoch done before this `fit` (a run resumed mid-epoch)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.step_offset = 0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.stop_requested():
            self.stop(self.step_offset + batch)

    def stop_requested(self) -> bool:
        asked = self.signals.received is not None
        if self.agree is None:
            return asked
        return self.agree(asked)

    def stop(self, step: int) -> None:
        name = signal.Signals(self.signals.received or signal.SIGTERM).name
        self.saver.save_step(self.epoch, step, self.model)
        self.saver.wait()
        where = f"epoch {self.epoch + 1}, step {step}" if step else f"the end of epoch {self.epoch}"
        message = (f"stopped by {name}: the checkpoint at {where} is saved in "
                   f"{self.saver.run.path}; run the same command (with run_dir={self.saver.run.path} "
                   "if it had none) to resume from there")
        log.info("%s", message)
        if self.signals.received == signal.SIGINT:
            raise Interrupted(message)
        raise Preempted(message)


def _agreement(strategy: Any) -> Any:
    """`agree(flag) -> bool`: True when any worker's flag is set (one all-reduce of a scalar); None
    for a single process."""
    from zoo.training.distributed import is_multi_worker

    if not is_multi_worker(strategy):
        return None
    from zoo.core.lazy import import_tensorflow

    tf = import_tensorflow()

    @tf.function
    def any_flag(flag: Any) -> Any:
        def count(value: Any) -> Any:  # tf.identity puts the value on this replica's device
            return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM,
                                                                  tf.identity(value))

        return strategy.run(count, args=(flag,))

    def agree(asked: bool) -> bool:
        total = any_flag(tf.constant(1.0 if asked else 0.0))
        return float(strategy.experimental_local_results(total)[0]) > 0

    return agree
