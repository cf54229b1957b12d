"""Which parts a config trains with: the model family's own roles, its training part inside every
training mode it turns on.

`build_parts(cfg, run)` is the one place the parts are chosen, as TF Model Garden's task factory:
each role the model's `ModelSpec` declares (`data`, `training`, `evaluation`, `export`; the
default part where it declares none), then each registered `TrainingModeSpec` whose config node
is set (`distill`, `privacy`) wraps the training part (and may replace the data part: distillation
trains on its teacher's prepared data). Nothing else tests for a mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from zoo.core.registry import Registry, get_registry
from zoo.core.specs import TrainingModeSpec
from zoo.tasks.evaluator import Evaluator
from zoo.tasks.export_module import ExportModule
from zoo.tasks.preparer import DataPreparer
from zoo.tasks.training import Training

# role -> the default part (what the built-in CNN and MLP use: they declare none)
DEFAULTS = {"data": DataPreparer, "training": Training, "evaluation": Evaluator, "export": ExportModule}


@dataclass(frozen=True)
class Parts:
    """The four roles of one run's family, each built once with its config and run folder."""

    data: DataPreparer
    training: Training
    evaluation: Evaluator
    export: ExportModule


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


def build_part(role: str, cfg: DictConfig, run: Any = None, registry: Registry | None = None) -> Any:
    """The family's own part for `role` (one of `DEFAULTS`), without any training mode."""
    registry = registry or get_registry()
    declared = getattr(registry.model(cfg.model.name), role)
    return (declared or DEFAULTS[role])(cfg, run, registry)


def build_parts(cfg: DictConfig, run: Any = None, registry: Registry | None = None,
                modes: bool = True) -> Parts:
    """The parts of the run `cfg` describes, built once with its config and run folder.

    `modes=False` gives the family's parts alone: a finished run is reloaded, scored and exported
    like any other, whichever mode trained it.
    """
    registry = registry or get_registry()
    data, training, evaluation, export = (build_part(role, cfg, run, registry) for role in DEFAULTS)
    for mode in active_modes(cfg, registry) if modes else []:
        training = mode.training(training)
        if mode.data is not None:
            data = mode.data(data)
    return Parts(data, training, evaluation, export)
