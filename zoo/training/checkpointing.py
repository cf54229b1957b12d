"""Asynchronous, throttled checkpoints: numpy snapshots on the training thread, files written in
a background thread (the Orbax / `tf.train.CheckpointManager` pattern)."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.core.errors import WorkFailed
from zoo.run.rundir import RunDir
from zoo.run.state import RunState


@dataclass
class Snapshot:
    """What one checkpoint writes: `last` (and `best` when it is another epoch) plus the state."""

    epoch: int
    values: list
    state: RunState
    best_values: list | None = None  # the best epoch's values when it is not `epoch`
    best_is_last: bool = False


def link_or_copy(source: Path, target: Path) -> None:
    """Make `target` a whole copy of `source` (a hard link when the file system has them)."""
    tmp = target.with_name(f"tmp-{target.name}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


class CheckpointWriter:
    """Writes snapshots one at a time in a background thread; errors surface on the next call."""

    def __init__(self, run: RunDir, layout: Any):
        self.run, self.layout = run, layout
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="zoo-checkpoint")
        self.pending: Future | None = None

    def submit(self, snapshot: Snapshot) -> None:
        self.wait()
        self.pending = self.executor.submit(self.write, snapshot)

    def wait(self) -> None:
        """Block until the last submitted snapshot is on disk (re-raising what went wrong)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self.executor.shutdown(wait=True)

    def write(self, snap: Snapshot) -> None:
        try:
            self.write_files(snap)
        except OSError as exc:
            if not self.run.checkpoints.is_dir():
                raise WorkFailed(f"run folder {self.run.path} (or its checkpoints/) was deleted or moved "
                                 "while training: training stopped; train again into a folder that "
                                 "stays") from None
            raise WorkFailed(f"could not save the checkpoint of epoch {snap.epoch} in {self.run.checkpoints} "
                             f"({exc}): free disk space or fix the folder's permissions, then run the "
                             "same command to resume") from None

    def write_files(self, snap: Snapshot) -> None:
        run = self.run
        if snap.best_values is not None:
            tmp = run.checkpoints / "tmp-best.weights.h5"
            self.layout.write(tmp, snap.best_values)
            os.replace(tmp, run.best_weights)
        tmp = run.checkpoints / "tmp-last.weights.h5"
        self.layout.write(tmp, snap.values)
        if snap.state.previous_epoch is not None and run.last_weights.exists():
            link_or_copy(run.last_weights, run.prev_weights)  # keep the last good one
        os.replace(tmp, run.last_weights)
        if snap.best_is_last:
            link_or_copy(run.last_weights, run.best_weights)
        run.write_state(snap.state)


class SaveClock:
    """When the next checkpoint is due: every epoch (`every_seconds=0`) or at most that often."""

    def __init__(self, every_seconds: float):
        self.every_seconds = every_seconds
        self.last = time.monotonic()

    def due(self) -> bool:
        return self.every_seconds <= 0 or time.monotonic() - self.last >= self.every_seconds

    def saved(self) -> None:
        self.last = time.monotonic()
