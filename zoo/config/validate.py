"""Check a composed config against its schemas before any work starts (no TensorFlow here).

Every key must be a schema field (Hydra's `+key=value` would otherwise add a key nobody reads),
and every number must lie in its field's range (`zoo.config.bounds`). Also: one-line messages
with "did you mean" for Hydra's unknown-key and unknown-option errors.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any

from omegaconf import DictConfig, OmegaConf

from zoo.config.bounds import bounds_of, missing_path, out_of_range, wrong_choice
from zoo.config.cost import check_cost
from zoo.config.schema import EvaluateConfig, TrainConfig
from zoo.core.errors import ZooError, close_matches, unknown_name

GROUP_HINTS = {group: f"`zoo list {group}s` shows them all" for group in ("experiment", "model", "dataset")}


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):
        return {f.name: f.type for f in dataclasses.fields(cls)}


def _dataclass_in(hint: Any) -> type | None:
    """The dataclass a field holds (`X` or `X | None`), else None."""
    if dataclasses.is_dataclass(hint):
        return hint
    for arg in typing.get_args(hint):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def check_node(node: Any, schema: type, path: str, owner: str = "") -> None:
    """Unknown keys and out-of-range numbers in `node` (typed by dataclass `schema`; `owner`,
    e.g. "dataset 'text_lines'", names what the node configures)."""
    if not isinstance(node, DictConfig):
        return
    fields = {f.name: f for f in dataclasses.fields(schema)}
    hints = _hints(schema)
    for key in node:
        if key not in fields:
            raise unknown_key_error(f"{path}{key}", list(fields), path, owner)
    for name, item in fields.items():
        if OmegaConf.is_missing(node, name):
            continue
        value = node[name]
        bounds = bounds_of(item)
        if bounds is not None:
            plain = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
            bad = out_of_range(plain, bounds)
            if bad is not None:
                shown = f"{path}{name}={plain}" + (f" (value {bad})" if isinstance(plain, list) else "")
                raise ZooError(f"{shown} is out of range: expected {bounds.text()}")
        options = wrong_choice(value, item)
        if options is not None:
            matches = close_matches(str(value), list(options))
            hint = f" (did you mean {matches[0]!r}?)" if matches else ""
            raise ZooError(f"{path}{name}={value}: expected one of {', '.join(options)}{hint}")
        what = missing_path(value, item)
        if what is not None:
            raise ZooError(f"{path}{name}={value}: no such {what} (relative paths start at "
                           f"{os.getcwd()}): check the path")
        inner = _dataclass_in(hints.get(name))
        if inner is not None and isinstance(value, DictConfig):
            check_node(value, inner, f"{path}{name}.")


def unknown_key_error(key: str, candidates: list[str], prefix: str = "", owner: str = "",
                      noun: str = "key") -> ZooError:
    """`unknown config key 'a.b': did you mean 'a.c'? ...`; with an `owner` (the model or dataset
    selected): `dataset 'text_lines' has no key 'test_path': its keys are ...`; a command's options
    (`noun="option"`): `zoo export has no option 'fromat': did you mean 'format'? its options are ...`."""
    leaf = key[len(prefix):]
    matches = close_matches(leaf, candidates)
    hint = "did you mean " + ", ".join(repr(prefix + m) for m in matches) + "?" if matches else ""
    if owner:
        hidden = ("name", "source") if noun == "key" else ()  # a model's or dataset's selector
        names = [c for c in candidates if c not in hidden]
        keys = ", ".join(sorted(names) if noun == "key" else names)  # options: in --help's order
        return ZooError(f"{owner} has no {noun} {key!r}: " + (f"{hint} " if hint else "")
                        + f"its {noun}s are {keys}")
    if not prefix:  # a top-level name: a key or a config group
        return ZooError(f"unknown config key or group {key!r}" + (f": {hint}" if hint else "")
                        + " (`zoo train --help` lists the groups, their options and every key)")
    return ZooError(f"unknown config key {key!r}" + (f": {hint}" if hint else "")
                    + " (`zoo train --cfg job` prints every key with its value)")


def owner_text(kind: str, node: DictConfig) -> str:
    """`model 'lstm'` / `dataset 'text_lines'`: what a model or dataset node configures."""
    key = "name" if kind == "model" else "source"
    return f"{kind} {node.get(key)!r}" if not OmegaConf.is_missing(node, key) else kind


def check_train_config(cfg: DictConfig, registry: Any) -> None:
    """Every key known and every number in range, for `zoo train`'s composed config."""
    for kind, key in (("model", "name"), ("dataset", "source")):
        node = cfg.get(kind)
        if isinstance(node, DictConfig) and not OmegaConf.is_missing(node, key):
            spec = registry.get(kind, node[key])
            if spec.config is not None:
                check_node(node, spec.config, f"{kind}.", owner_text(kind, node))
    check_node(cfg, TrainConfig, "")
    check_cost(cfg, registry)


def check_evaluate_config(cfg: DictConfig) -> None:
    check_node(cfg, EvaluateConfig, "")


def _schema_at(path: list[str]) -> list[str]:
    """Field names of the schema node at `path` (model/dataset: every registered schema's)."""
    from zoo.core.registry import get_registry

    if not path:
        from zoo.config.catalog import plugin_groups

        names = {f.name for schema in (TrainConfig, EvaluateConfig) for f in dataclasses.fields(schema)}
        return sorted(names | {"experiment", "hparams_search", *plugin_groups()})
    if path[0] in ("model", "dataset") and len(path) == 1:
        registry = get_registry()
        names: set[str] = set()
        for name in registry.names(path[0]):
            schema = registry.entries[path[0]][name].spec.config
            if schema is not None:
                names |= {f.name for f in dataclasses.fields(schema)}
        return sorted(names)
    schema: Any = TrainConfig
    for part in path:
        schema = _dataclass_in(_hints(schema).get(part)) if schema else None
    return [f.name for f in dataclasses.fields(schema)] if schema else []


def selected_schema(kind: str, args: list[str]) -> tuple[str, list[str]] | None:
    """(owner, field names) of the model or dataset that `zoo train ARGS` selects, composed
    without the overrides of that node (one of which Hydra refused); None if that fails."""
    from hydra.core.global_hydra import GlobalHydra

    from zoo.config.compose import compose
    from zoo.core.registry import get_registry

    overrides = [a for a in args if "=" in a and not a.startswith("-")
                 and not a.lstrip("+~").startswith(f"{kind}.")]
    GlobalHydra.instance().clear()
    try:
        node = compose(overrides).get(kind)
        key = "name" if kind == "model" else "source"
        spec = get_registry().get(kind, node[key])
    except Exception:  # noqa: BLE001 - only a better message is at stake: fall back to the plain one
        return None
    finally:
        GlobalHydra.instance().clear()
    if spec.config is None:
        return None
    return owner_text(kind, node), [f.name for f in dataclasses.fields(spec.config)]


def unknown_key_line(key: str, args: list[str] | None = None) -> str:
    """`unknown config key 'trainer.epoch': did you mean 'trainer.epochs'? ...` (never `+key`);
    for a model or dataset key, the keys of the one `args` select."""
    parts = key.lstrip("+~").split(".")
    prefix = ".".join(parts[:-1]) + "." if len(parts) > 1 else ""
    if args is not None and len(parts) == 2 and parts[0] in ("model", "dataset"):
        selected = selected_schema(parts[0], args)
        if selected is not None:
            owner, names = selected
            return str(unknown_key_error(key.lstrip("+~"), names, prefix, owner))
    return str(unknown_key_error(key.lstrip("+~"), _schema_at(parts[:-1]), prefix))


def unknown_option_line(exc: Any) -> str:
    """`unknown experiment 'mlp_irs': did you mean 'mlp_iris'?` for Hydra's MissingConfigException."""
    missing = str(getattr(exc, "missing_cfg_file", "") or "")
    group, _, name = missing.rpartition("/")
    options = list(getattr(exc, "options", None) or [])
    if not group:
        return f"config {missing!r} not found: check the name (`zoo list experiments` shows experiments)"
    if not options:
        from zoo.config.catalog import group_options

        options = [o.name for o in group_options(group)]
    hint = GROUP_HINTS.get(group, "choose one of " + ", ".join(options))
    return str(unknown_name(f"{group} option" if group not in GROUP_HINTS else group, name, options, hint))


def check_missing(cfg: DictConfig) -> None:
    """Name the required values the command line did not give."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        given = " ".join(f"{key}=..." for key in missing)
        raise ZooError(f"missing required value(s) {', '.join(missing)}: add {given}")
