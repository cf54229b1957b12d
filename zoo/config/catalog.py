"""What is on Hydra's search path: the options of a config group, with their descriptions.

Reads the YAML files of the core's `conf/` and of every plugin's config folder without
starting Hydra or TensorFlow (for `zoo list experiments`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from zoo.core.registry import Registry, get_registry

CORE_CONFIG = "pkg://zoo_conf"


@dataclass
class ConfigOption:
    name: str
    description: str
    source: str


def config_root(location: str) -> Any:
    """The folder of a config location (`pkg://package.conf` or `file:///abs/dir`)."""
    if location.startswith("pkg://"):
        return resources.files(location[len("pkg://"):].replace("/", "."))
    return Path(location.removeprefix("file://"))


def description_of(text: str) -> str:
    """The leading `#` comment lines that are not a `@package` directive (one per line)."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        if "@package" not in stripped:
            lines.append(stripped.lstrip("#").strip())
    return "\n".join(line for line in lines if line)


def group_options(group: str, registry: Registry | None = None) -> list[ConfigOption]:
    """Every `<group>/<name>.yaml` on the search path (first location wins on a clash)."""
    registry = registry or get_registry()
    locations = [(CORE_CONFIG, "core")] + list(registry.config_dirs)
    found: dict[str, ConfigOption] = {}
    for location, source in locations:
        try:
            folder = config_root(location).joinpath(group)
            entries = list(folder.iterdir()) if folder.is_dir() else []
        except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
            continue
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.endswith(".yaml") and entry.name[:-5] not in found:
                name = entry.name[:-5]
                found[name] = ConfigOption(name, description_of(entry.read_text()), source)
    return sorted(found.values(), key=lambda o: o.name)


def _folders(location: str) -> set[str]:
    try:
        root = config_root(location)
        return {entry.name for entry in root.iterdir() if entry.is_dir() and entry.name[0] not in "._"}
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, TypeError):
        return set()


def plugin_groups(registry: Registry | None = None) -> list[str]:
    """Config groups that only plugins' config folders hold (not the core's, nor the groups the
    core's defaults list selects: model, dataset, experiment, ...)."""
    registry = registry or get_registry()
    core = _folders(CORE_CONFIG) | {"model", "dataset", "experiment", "hparams_search", "schema", "hydra"}
    found: set[str] = set()
    for location, _ in registry.config_dirs:
        found |= _folders(location)
    return sorted(found - core)


def plain_group_selections(args: list[str], registry: Registry | None = None) -> list[str]:
    """`+GROUP=OPTION` -> `GROUP=OPTION` for a plugin's group: it is in the defaults list (as
    `GROUP: null`), where Hydra's `+` would add it a second time."""
    groups = set(plugin_groups(registry)) if any(a.startswith("+") for a in args) else set()
    return [a[1:] if a.startswith("+") and a[1:].partition("=")[0] in groups else a for a in args]
