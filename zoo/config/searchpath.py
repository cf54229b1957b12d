"""Wire the config folders that plugins return into Hydra's search path.

Registered explicitly (not through the `hydra_plugins` namespace package, which editable
installs do not find: Hydra issue 3252).
"""

from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.plugins import Plugins
from hydra.plugins.search_path_plugin import SearchPathPlugin

from zoo.core.registry import get_registry


class ZooSearchPathPlugin(SearchPathPlugin):
    """Appends `pkg://...` / `file://...` locations from `zoo_config_dirs` hooks."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        for location, plugin in get_registry().config_dirs:
            search_path.append(provider=f"zoo-plugin:{plugin}", path=location)


def register_search_path() -> None:
    """Register the plugin with Hydra once per process."""
    plugins = Plugins.instance()
    if ZooSearchPathPlugin not in plugins.discover(SearchPathPlugin):
        plugins.register(ZooSearchPathPlugin)
