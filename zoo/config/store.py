"""Store the typed schemas in Hydra's ConfigStore: the core's and every plugin's."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from zoo.config.catalog import plugin_groups
from zoo.config.schema import EvaluateConfig, TrainConfig
from zoo.core.registry import Registry

PLUGIN_GROUPS = "zoo_plugin_groups"  # named in conf/train.yaml's defaults list


def store_schemas(registry: Registry) -> None:
    """Make `train_schema`, `evaluate_schema` and `schema/<kind>/<name>` known to Hydra."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="evaluate_schema", node=EvaluateConfig)
    # each group only a plugin's config folder has: in the defaults list, unselected (like
    # `privacy: null`), so `zoo train GROUP=OPTION` selects one without Hydra's `+`
    cs.store(name=PLUGIN_GROUPS, node={"defaults": [{group: None} for group in plugin_groups(registry)]})
    for kind in ("model", "dataset"):
        for name in registry.names(kind):
            schema = registry.entries[kind][name].spec.config
            if schema is not None:
                cs.store(group=f"schema/{kind}", name=name, node=schema)
