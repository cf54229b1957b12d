"""`zoo COMMAND --help` for every command (no TensorFlow), and the field help of `zoo train --help`."""

from __future__ import annotations

from typing import Any

from zoo.cli.fields import FieldHelp, field_table

HELP_FLAGS = ("-h", "--help")

SUMMARIES = {
    "export": ("zoo export run_dir=DIR [format={formats}] [KEY=VALUE ...]",
               "Export a finished run into a bundle that takes raw inputs, checked against Keras on "
               "held-out examples."),
    "predict": ("zoo predict bundle=DIR input=FILE|DIR output=FILE.csv|.json|.npy [seed=0]",
                "Run an exported bundle on a file or a folder of files (no TensorFlow for ONNX "
                "bundles); a generative bundle draws input=N samples."),
    "serve": ("zoo serve bundle=DIR[,DIR...] | repository=DIR [port=8501] [KEY=VALUE ...]",
              "Serve bundles over HTTP: TF Serving REST, Open Inference v2, /metrics (and "
              "/v1/completions for a causal language model)."),
    "generate": ("zoo generate run_dir=DIR|bundle=DIR prompt=TEXT|input=FILE [KEY=VALUE ...]",
                 "Complete prompts with a language-model run (keras-hub samplers) or an exported "
                 "bundle (onnxruntime, no TensorFlow)."),
    "launch": ("zoo launch [cluster={clusters}] workers=N|nodes=N [dry_run=true] "
               "[zoo train overrides ...]",
               "cluster=local starts N `zoo train strategy=multi_worker` processes on loopback, each with "
               "its TF_CONFIG; cluster=slurm writes an sbatch script (srun per worker, shared run folder, "
               "bounded retry) and submits it; cluster=kubernetes writes an Indexed Job and headless "
               "Service. Every other argument goes to zoo train (docs/distributed.md)."),
    "list": ("zoo list [models|datasets|losses|metrics|modes|plugins|experiments] | zoo list models "
             "NAME|PATTERN [dataset=NAME]",
             "Show the registered names; `zoo list models NAME` (or a pattern like \"*net\") shows a "
             "model's fields, the datasets and tasks it fits, its plugin, and with dataset=NAME its "
             "parameter count (that one view builds the model, so it imports TensorFlow)."),
    "compare": ("zoo compare RUN_DIR [RUN_DIR ...] | DIR [output=compare.png]",
                "Print a table of finished runs (model, dataset, key settings, validation and test "
                "metrics, time, parameters) and write a bar plot; DIR is searched for run folders."),
}

def command_options(command: str) -> list[FieldHelp]:
    """The options of a `key=value` command: type, default, and the field's comment, range and
    choices from its structured config (`zoo.config.commands`)."""
    import dataclasses

    from zoo.cli.fields import field_help
    from zoo.config.commands import COMMAND_OPTIONS

    schema = COMMAND_OPTIONS.get(command)
    if schema is None:
        return []
    inherited = {f.name for base in schema.__mro__[1:] if dataclasses.is_dataclass(base)
                 for f in dataclasses.fields(base)}
    return sorted(field_help(schema), key=lambda row: row.key in inherited)  # the command's own first


def command_help(command: str) -> str:
    """The `--help` text of a command that is not a Hydra app."""
    from zoo.config.commands import CLUSTERS, EXPORT_FORMATS

    usage, what = SUMMARIES[command]
    usage = usage.format(formats="|".join(EXPORT_FORMATS), clusters="|".join(CLUSTERS))
    text = f"usage: {usage}\n\n{what}\n"
    rows = command_options(command)
    if rows:
        text += "\noptions (KEY=VALUE; type, default, meaning):\n" + field_table(rows) + "\n"
    return text


def wants_help(args: list[str]) -> bool:
    return any(arg in HELP_FLAGS for arg in args)


def train_field_help(args: list[str]) -> str:
    """Field help of `zoo train`: the chosen model's and dataset's schema, trainer, optimizer, strategy."""
    from zoo.cli.fields import field_help
    from zoo.config.compose import compose
    from zoo.config.schema import OptimizerConfig, StrategyConfig, TrainerConfig
    from zoo.core.registry import get_registry

    model = dataset = None
    for overrides in ([a for a in args if "=" in a and not a.startswith("-")], []):  # then the defaults
        try:
            cfg = compose(overrides)
            model, dataset = cfg.model.name, cfg.dataset.source
            break
        except Exception:  # noqa: BLE001 - a config error shows when the command runs; help goes on
            continue
    registry = get_registry()
    sections = []
    for title, group, schema in (("model", "model", _schema(registry, "model", model)),
                                 ("dataset", "dataset", _schema(registry, "dataset", dataset)),
                                 ("trainer", "trainer", TrainerConfig),
                                 ("optimizer", "optimizer", OptimizerConfig),
                                 ("strategy", "strategy", StrategyConfig)):
        if schema is None:
            continue
        name = f" ({model})" if title == "model" else f" ({dataset})" if title == "dataset" else ""
        rows = [FieldHelp(f"{group}.{r.key}", r.type, r.default, r.help) for r in field_help(schema)]
        sections.append(f"{title}{name}:\n{field_table(rows)}")
    intro = "== Field help ==\nKEY=VALUE overrides (type, default, meaning):\n\n"
    return intro + "\n\n".join(sections) + "\n"


def evaluate_field_help() -> str:
    """Field help of `zoo evaluate`."""
    from zoo.cli.fields import field_help
    from zoo.config.schema import EvaluateConfig

    table = field_table(field_help(EvaluateConfig))
    return f"== Field help ==\nKEY=VALUE (type, default, meaning):\n{table}\n"


def _schema(registry: Any, kind: str, name: str) -> type | None:
    try:
        return registry.get(kind, name).config
    except Exception:  # noqa: BLE001 - an unknown name is reported when the command runs
        return None
