"""Hook specifications a Keras Zoo plugin implements (pluggy).

A plugin is a module or object with functions marked `@zoo.hookimpl`, exposed through the
`zoo.plugins` entry-point group. Every hook is optional.
"""

from __future__ import annotations

import pluggy

PROJECT = "zoo"
ENTRY_POINT_GROUP = "zoo.plugins"
# The core's own plugins (datasets; losses, metrics and training modes), each registered by the layer
# that owns it and found through this group of keras-zoo's entry points, so the registry names no module.
CORE_ENTRY_POINT_GROUP = "zoo.core_plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def zoo_models() -> list:
    """Return `ModelSpec`s: the model builders this plugin adds."""


@hookspec
def zoo_datasets() -> list:
    """Return `DatasetSpec`s: the dataset sources this plugin adds."""


@hookspec
def zoo_losses() -> list:
    """Return `LossSpec`s: the losses this plugin adds."""


@hookspec
def zoo_metrics() -> list:
    """Return `MetricSpec`s: the metrics this plugin adds."""


@hookspec
def zoo_training_modes() -> list:
    """Return `TrainingModeSpec`s: ways of training any family (distillation, DP-SGD)."""


@hookspec
def zoo_config_dirs() -> list:
    """Return Hydra config locations (`pkg://package.conf` or `file:///abs/dir`).

    Each location may hold group folders (`model/`, `dataset/`, `experiment/`, ...) whose
    YAML files become selectable on the command line (`zoo train model=my_net`).
    """
