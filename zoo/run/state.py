"""A run's resume state (`checkpoints/state.json`): where the last checkpoints stand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STATE_FORMAT = 1  # format 1: these fields; zoo 0.1.0 wrote them without `format_version`


@dataclass
class RunState:
    """The epoch (and step within the next one) `last.weights.h5` holds, the same for
    `last.prev.weights.h5`, and the best monitored value so far."""

    epoch: int = 0  # epochs done when `last` was saved
    previous_epoch: int | None = None  # the same for `last.prev` (None: there is none)
    monitor: str = ""  # the metric `best` tracks
    best: float | None = None
    step: int = 0  # steps of epoch `epoch` done: a checkpoint saved mid-epoch (preemption)
    seeds: list | None = None  # the random layers' state at that step
    previous_step: int = 0  # the same for `last.prev`
    previous_seeds: list | None = None

    def to_dict(self) -> dict[str, Any]:
        """The file's fields (the step ones only when a checkpoint was saved mid-epoch)."""
        data: dict[str, Any] = {"epoch": self.epoch, "previous_epoch": self.previous_epoch,
                                "monitor": self.monitor, "best": self.best}
        if self.step:
            data.update(step=self.step, seeds=self.seeds or [])
        if self.previous_step:
            data.update(previous_step=self.previous_step, previous_seeds=self.previous_seeds)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        """Format 1 (with or without the version stamp); a field of the wrong type is a ValueError."""
        if type(data.get("epoch")) is not int:
            raise ValueError("no epoch number")
        for key in ("previous_epoch", "step", "previous_step"):
            if data.get(key) is not None and type(data[key]) is not int:
                raise ValueError(f"{key} is not an integer")
        best = data.get("best")
        if best is not None and not isinstance(best, int | float):
            raise ValueError("best is not a number")
        return cls(epoch=data["epoch"], previous_epoch=data.get("previous_epoch"),
                   monitor=str(data.get("monitor") or ""), best=None if best is None else float(best),
                   step=data.get("step") or 0, seeds=data.get("seeds"),
                   previous_step=data.get("previous_step") or 0, previous_seeds=data.get("previous_seeds"))
