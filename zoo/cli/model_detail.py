"""`zoo list models NAME|PATTERN [dataset=NAME]`: what one model is, its fields, what it fits.

Everything but the parameter count comes from the registry and the config files (no TensorFlow);
`dataset=NAME` loads that dataset and builds the model on it to count its parameters.
"""

from __future__ import annotations

import fnmatch
import re
import tempfile

from zoo.cli.fields import field_help, field_table
from zoo.config.catalog import config_root, group_options
from zoo.core.errors import ZooError, unknown_name
from zoo.core.registry import Registry

OVERRIDE = re.compile(r"^\s*-\s*override\s+/(model|dataset)\s*:\s*(\S+)", re.MULTILINE)
NAME = re.compile(r"^name:\s*(\S+)", re.MULTILINE)
FIRST_DEFAULT = re.compile(r"^defaults:\s*\n\s*-\s*(\w+)\s*$", re.MULTILINE)


def config_text(registry: Registry, group: str, option: str) -> str | None:
    """The YAML text of `group/option.yaml` on the search path (first location wins)."""
    for location, _ in [("pkg://zoo_conf", "core"), *registry.config_dirs]:
        try:
            path = config_root(location).joinpath(group).joinpath(f"{option}.yaml")
            if path.is_file():
                return path.read_text()
        except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
            continue
    return None


def model_of_option(registry: Registry, option: str, depth: int = 0) -> str:
    """The registered model a `model=` config option builds (`mlp_small` -> `mlp`, via its defaults)."""
    text = config_text(registry, "model", option) or ""
    named = NAME.search(text)
    if named:
        return named.group(1)
    parent = FIRST_DEFAULT.search(text)
    if parent and depth < 5 and parent.group(1) != option:
        return model_of_option(registry, parent.group(1), depth + 1)
    return option


def experiments_of(registry: Registry) -> dict[str, tuple[str, str]]:
    """experiment -> (registered model, dataset config) it chooses (read from the YAML files)."""
    found: dict[str, tuple[str, str]] = {}
    for option in group_options("experiment", registry):
        chosen = dict(OVERRIDE.findall(config_text(registry, "experiment", option.name) or ""))
        model = model_of_option(registry, chosen["model"]) if chosen.get("model") else ""
        found[option.name] = (model, chosen.get("dataset", ""))
    return found


def parameter_count(name: str, dataset: str) -> int:
    """Parameters of model `name` built for the config group option `dataset` (imports TensorFlow)."""
    from zoo.config.compose import compose
    from zoo.core.registry import get_registry
    from zoo.run.rundir import RunDir
    from zoo.tasks.select import build_part

    registry = get_registry()
    cfg = compose([f"model={name}", f"dataset={dataset}"])
    spec = registry.model(cfg.model.name)
    splits = registry.dataset(cfg.dataset.source).load(cfg.dataset, seed=cfg.trainer.seed)
    with tempfile.TemporaryDirectory(prefix="zoo-list-") as tmp:
        prepared = build_part("data", cfg, RunDir(tmp), registry).prepare(splits, fit=True)
        return int(spec.build(cfg.model, prepared.info).count_params())


def model_detail(registry: Registry, name: str, dataset: str | None) -> str:
    """The detail view of one registered model."""
    entry = registry.entries["model"][name]
    spec = entry.spec
    experiments = experiments_of(registry)
    used = sorted((exp, data) for exp, (model, data) in experiments.items() if model == name)
    lines = [f"{name}: {spec.description}",
             f"  plugin:      {entry.plugin}",
             f"  tasks:       {', '.join(spec.tasks)}",
             f"  inputs:      {', '.join(spec.modalities)} (any dataset of these kinds)"]
    datasets = sorted({data for _, data in used if data})
    if datasets:
        lines.append(f"  datasets:    {', '.join(datasets)} (in its experiments)")
    if used:
        lines.append(f"  experiments: {', '.join(exp for exp, _ in used)}")
    if dataset:
        lines.append(f"  parameters:  {parameter_count(name, dataset):,} on dataset={dataset}")
    else:
        lines.append(f"  parameters:  add dataset=NAME to count them (e.g. zoo list models {name} "
                     f"dataset={datasets[0] if datasets else 'digits'})")
    lines.append("  fields (model.KEY=VALUE; type, default, meaning):")
    rows = field_help(spec.config) if spec.config else []
    lines.append(field_table(rows, indent="    "))
    return "\n".join(lines)


def run_model_detail(registry: Registry, args: list[str]) -> int:
    """Print the detail view of every model matching the patterns in `args`."""
    options = dict(a.split("=", 1) for a in args if "=" in a)
    unknown = set(options) - {"dataset"}
    if unknown:
        raise ZooError(f"zoo list models: unknown option {sorted(unknown)[0]!r} (options: dataset=NAME)")
    patterns = [a for a in args if "=" not in a]
    names = registry.names("model")
    chosen: list[str] = []
    for pattern in patterns:
        matched = [n for n in names if fnmatch.fnmatch(n, pattern)]
        if not matched:
            raise unknown_name("model", pattern, names, "`zoo list models` shows them; patterns like "
                                                      "\"*net\" work too")
        chosen += [n for n in matched if n not in chosen]
    print("\n\n".join(model_detail(registry, n, options.get("dataset")) for n in chosen))
    return 0
