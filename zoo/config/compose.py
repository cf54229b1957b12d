"""Compose configs from Python with the same groups and schemas as the command line."""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose as hydra_compose
from hydra import initialize_config_module
from omegaconf import DictConfig

from zoo.config.catalog import plain_group_selections
from zoo.config.searchpath import register_search_path
from zoo.config.store import store_schemas
from zoo.core.registry import get_registry

CONFIG_MODULE = "zoo_conf"


def prepare_hydra() -> None:
    """Load plugins, store their schemas and add their config folders to the search path."""
    store_schemas(get_registry())
    register_search_path()


def compose(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """The config `zoo train OVERRIDES` would run, e.g. `compose(["experiment=mlp_iris"])`."""
    prepare_hydra()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=plain_group_selections(list(overrides)))
