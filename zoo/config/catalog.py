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
    """The first `#` comment line that is not a `@package` directive."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and "@package" not in stripped:
            return stripped.lstrip("#").strip()
        if stripped and not stripped.startswith("#"):
            break
    return ""


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
