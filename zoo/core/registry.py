"""The plugin registry: loads plugins through pluggy and answers name look-ups.

Plugins come from the `zoo.plugins` entry-point group (built-in families use it too) and
from `ZOO_PLUGINS=module,module` for local development. `ZOO_DISABLE_PLUGIN_AUTOLOAD=1`
skips entry points and `ZOO_DISABLE_PLUGINS=name,name` blocks single plugins. A plugin that
fails to import is recorded with its error and the others keep working.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
from dataclasses import dataclass, field
from typing import Any

import pluggy

from zoo.core import hookspecs
from zoo.core.errors import DuplicateNameError, first_line, unknown_name
from zoo.core.specs import DatasetSpec, LossSpec, MetricSpec, ModelSpec, TrainingModeSpec

# The core's own plugins are keras-zoo's entry points in `hookspecs.CORE_ENTRY_POINT_GROUP`, each
# registered by the layer that owns it (datasets by the data layer; losses, metrics and training modes
# by the training layer), so the registry, the lowest layer, names no module above it.
CORE_PLUGIN = "zoo.builtin"  # the core datasets' plugin: its name in `zoo list plugins`, ZOO_DISABLE_PLUGINS
REINSTALL = ("keras-zoo's entry points (group zoo.core_plugins) are missing: reinstall it "
             "(pip install -e . in a checkout)")
KINDS = {"model": "zoo_models", "dataset": "zoo_datasets", "loss": "zoo_losses", "metric": "zoo_metrics",
         "training mode": "zoo_training_modes"}


@dataclass
class PluginInfo:
    """One plugin as `zoo list plugins` shows it."""

    name: str
    source: str
    version: str = ""
    error: str = ""
    core: bool = False  # one of keras-zoo's own (`zoo.core_plugins`)

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class Entry:
    """A registered spec and the plugin that registered it."""

    spec: Any
    plugin: str


@dataclass
class Registry:
    """Every name registered by the loaded plugins, by kind."""

    plugins: list[PluginInfo] = field(default_factory=list)
    modules: dict[str, str] = field(default_factory=dict)  # a plugin's module -> the plugin's name
    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    conflicts: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    config_dirs: list[tuple[str, str]] = field(default_factory=list)

    def add(self, kind: str, spec: Any, plugin: str) -> None:
        table = self.entries[kind]
        if spec.name in table:
            owners = self.conflicts.setdefault((kind, spec.name), [table[spec.name].plugin])
            owners.append(plugin)
            return
        table[spec.name] = Entry(spec, plugin)

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def get(self, kind: str, name: str) -> Any:
        """The spec registered as `name`; a clear error for unknown or clashing names."""
        if (kind, name) in self.conflicts:
            owners = self.conflicts[(kind, name)]
            raise DuplicateNameError(
                f"{kind} {name!r} is registered by both plugins {owners[0]!r} and {owners[1]!r}: "
                f"uninstall one, or block one with ZOO_DISABLE_PLUGINS={owners[1]}"
            )
        try:
            return self.entries[kind][name].spec
        except KeyError:
            raise unknown_name(kind, name, self.entries[kind]) from None

    def model(self, name: str) -> ModelSpec:
        return self.get("model", name)

    def dataset(self, name: str) -> DatasetSpec:
        return self.get("dataset", name)

    def loss(self, name: str) -> LossSpec:
        return self.get("loss", name)

    def metric(self, name: str) -> MetricSpec:
        return self.get("metric", name)

    def training_modes(self) -> list[TrainingModeSpec]:
        """Every registered training mode, in registration order."""
        return [entry.spec for entry in self.entries["training mode"].values()]

    def owner(self, kind: str, name: str) -> str:
        return self.entries[kind][name].plugin


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _dist_version(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ep.value, ""
    return f"{dist.metadata['Name']} ({ep.value})", dist.version


def _load_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    blocked = set(_env_list("ZOO_DISABLE_PLUGINS"))
    infos = []
    core_eps = sorted(metadata.entry_points(group=hookspecs.CORE_ENTRY_POINT_GROUP), key=lambda e: e.name)
    if not core_eps:
        infos.append(PluginInfo(CORE_PLUGIN, "keras-zoo (core)", error=REINSTALL, core=True))
    for ep in core_eps:
        source, version = _dist_version(ep)
        info = PluginInfo(ep.name, f"{source} core", version, core=True)
        if ep.name in blocked:
            info.error = "blocked by ZOO_DISABLE_PLUGINS: the core's own names it registers are gone"
        else:
            try:
                pm.register(ep.load(), name=ep.name)
            except Exception as exc:  # the other plugins keep working; `zoo list plugins` shows it
                info.error = first_line(exc, typed=True)
        infos.append(info)
    core_names = {info.name for info in infos}
    for name in blocked:
        pm.set_blocked(name)
    candidates: list[tuple[str, Any, str, str]] = []
    if os.environ.get("ZOO_DISABLE_PLUGIN_AUTOLOAD", "") not in ("1", "true", "yes"):
        eps = sorted(metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda e: e.name)
        for ep in eps:
            source, version = _dist_version(ep)
            candidates.append((ep.name, ep.load, source, version))
    for module in _env_list("ZOO_PLUGINS"):
        candidates.append((module, lambda m=module: importlib.import_module(m), "ZOO_PLUGINS", ""))
    for name, load, source, version in candidates:
        info = PluginInfo(name, source, version)
        if name in blocked:
            info.error = "blocked by ZOO_DISABLE_PLUGINS"
        elif pm.has_plugin(name) or name in core_names:
            info.error = f"a plugin named {name!r} is already loaded from another package"
        else:
            try:
                pm.register(load(), name=name)
            except Exception as exc:  # a broken plugin must not break the others
                info.error = first_line(exc, typed=True)
        infos.append(info)
    return infos


def build_registry() -> Registry:
    """Load all plugins and collect what each registers."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry(plugins=_load_plugins(pm))
    by_name = {info.name: info for info in registry.plugins}
    core = {info.name for info in registry.plugins if info.core}
    for kind, hook_name in {**KINDS, "config": "zoo_config_dirs"}.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name not in core:
                registry.modules[getattr(impl.plugin, "__name__", "")] = impl.plugin_name
            try:
                items = impl.function() or []
            except Exception as exc:
                by_name[impl.plugin_name].error = f"{hook_name} failed: {first_line(exc, typed=True)}"
                continue
            for item in items:
                if kind == "config":
                    registry.config_dirs.append((str(item), impl.plugin_name))
                else:
                    registry.add(kind, item, impl.plugin_name)
    return registry


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = build_registry()
    return _REGISTRY


def plugin_of_module(module: str) -> str | None:
    """The plugin whose package holds `module` (`my_pkg.model` -> the plugin `my_pkg`), if the
    registry is loaded (an error path never loads it)."""
    if _REGISTRY is None or not module:
        return None
    owners = [(prefix, name) for prefix, name in _REGISTRY.modules.items()
              if prefix and (module == prefix or module.startswith(prefix + "."))]
    return max(owners)[1] if owners else None


def reset_registry() -> None:
    """Forget the loaded plugins (after installing one, or in tests)."""
    global _REGISTRY
    _REGISTRY = None
