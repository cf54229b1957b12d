"""What every role of a family shares: the run's config, its run folder and the plugin registry.

Each part is built once per run, as TF Model Garden's `Task(params)`: `Part(cfg, run, registry)`.
Its steps then take only what changes between calls, never the config again.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from zoo.core.registry import Registry, get_registry


class Part:
    """`cfg` is the run's whole composed config, `run` its `RunDir` (None where no run folder
    exists, e.g. counting parameters for `zoo list`), `registry` the plugin registry."""

    def __init__(self, cfg: DictConfig, run: Any = None, registry: Registry | None = None) -> None:
        self.cfg = cfg
        self.run = run
        self.registry = registry or get_registry()

    @property
    def model_name(self) -> str:
        return str(self.cfg.model.name)
