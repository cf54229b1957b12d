"""Which task a config trains: the model family's own, inside every training mode it turns on.

`build_task(cfg, run)` is the one place a task is chosen, as TF Model Garden's task factory: the
model's `ModelSpec.task` (or the supervised `Task`), then each registered `TrainingModeSpec`
whose config node is set (`distill`, `privacy`) wraps it. Nothing else tests for a mode.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from zoo.core.registry import Registry, get_registry
from zoo.core.specs import TrainingModeSpec
from zoo.tasks.task import Task


def active_modes(cfg: DictConfig, registry: Registry | None = None) -> list[TrainingModeSpec]:
    """The training modes `cfg` turns on (their config node is set), in registration order."""
    registry = registry or get_registry()
    return [mode for mode in registry.training_modes() if OmegaConf.select(cfg, mode.node) is not None]


def configure(cfg: DictConfig, registry: Registry | None = None) -> DictConfig:
    """`cfg` after every active mode's config check (which may return a changed copy)."""
    for mode in active_modes(cfg, registry):
        if mode.configure is not None:
            cfg = mode.configure(cfg) or cfg
    return cfg


def build_task(cfg: DictConfig, run: Any = None, registry: Registry | None = None,
               modes: bool = True) -> Task:
    """The task of the run `cfg` describes, built once with its config and run folder.

    `modes=False` gives the family's task alone: a finished run is reloaded, scored and exported
    like any other, whichever mode trained it.
    """
    registry = registry or get_registry()
    spec = registry.model(cfg.model.name)
    task = (spec.task or Task)(cfg, run, registry)
    for mode in active_modes(cfg, registry) if modes else []:
        task = mode.task(task)
    return task
