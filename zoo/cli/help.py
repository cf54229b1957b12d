"""`zoo COMMAND --help` for every command (no TensorFlow), and the field help of `zoo train --help`."""

from __future__ import annotations

from typing import Any

from zoo.cli.fields import FieldHelp, field_table

HELP_FLAGS = ("-h", "--help")

SUMMARIES = {
    "export": ("zoo export run_dir=DIR [format=onnx|savedmodel|tflite|keras] [KEY=VALUE ...]",
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
    "launch": ("zoo launch [cluster=local|slurm|kubernetes] workers=N|nodes=N [dry_run=true] "
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
    "compare": ("zoo compare RUN_DIR [RUN_DIR ...] | DIR [output=compare.png] [sort=KEY]",
                "Print a table of finished runs (model, dataset, key settings, validation and test "
                "metrics, time, parameters) and write a bar plot; DIR is searched for run folders."),
}

EXPORT_HELP = {
    "run_dir": "a finished zoo train run folder (required)",
    "format": "onnx | savedmodel | tflite | keras",
    "output": "bundle folder (default <run_dir>/export/<format>[_<quantize>], a sub-folder per part)",
    "opset": "ONNX opset",
    "quantize": "none; tflite: float16 | dynamic | int8; keras: int8",
    "tolerance": "largest |keras - exported| allowed on held-out inputs",
    "max_metric_drop": "largest drop of the headline metric a quantized bundle may show",
    "checkpoint": "final | best | last",
    "name": "the bundle's model name (default <model>_<dataset>[_<part>], e.g. cnn_digits)",
    "part": "all, or one part of a multi-part family (a VAE's encoder or decoder)",
}
PREDICT_HELP = {
    "bundle": "an exported bundle folder (required)",
    "input": "a CSV/JSON/image/text file, a folder of them, or N samples for a generative bundle",
    "output": "where predictions go: .csv, .json, .npy (or a folder of PNGs for samples)",
    "seed": "random seed of a generative bundle's samples",
    "trust": "load a bundle whose graph may touch the host (files, Python); see docs/deploy.md",
}
SERVE_HELP = {
    "bundle": "comma-separated bundle folders",
    "repository": "a folder of NAME/1/, NAME/2/, ... versions (watched for new ones)",
    "port": "TCP port (0: any free one)",
    "host": "address to listen on",
}
GENERATE_HELP = {
    "run_dir": "a language-model run folder (TensorFlow + keras-hub samplers)",
    "bundle": "an exported GPT bundle (onnxruntime, no TensorFlow)",
    "prompt": "one prompt",
    "input": "a .txt file (one prompt a line) or .jsonl ({\"prompt\": ...} a line)",
    "output": "write .jsonl, .json or .txt instead of printing",
    "checkpoint": "final | best | last (run_dir only)",
    "max_new_tokens": "tokens to add to each prompt",
    "sampler": "greedy | top_k | top_p | random",
    "temperature": "divides the logits before sampling",
    "top_k": "sampler=top_k: keep the k likeliest tokens",
    "top_p": "sampler=top_p: keep the smallest set with this total probability",
    "seed": "random seed of the sampler",
    "stop": "stop at this string (or a JSON list of strings)",
}
LAUNCH_HELP = {"cluster": "local, slurm or kubernetes",
               "workers": "local: number of worker processes",
               "timeout": "local: seconds before every worker is stopped",
               "nodes": "slurm/kubernetes: number of nodes (pods), one worker each by default",
               "tasks_per_node": "slurm: workers per node",
               "retries": "slurm/kubernetes: reruns after a lost worker (each resumes)",
               "dry_run": "slurm: print the sbatch script instead of submitting it",
               "name": "slurm job name; kubernetes Job and Service name",
               "output": "kubernetes: write the manifest to this file (default: print it)",
               "image": "kubernetes: the container image with keras-zoo installed",
               "claim": "kubernetes: ReadWriteMany PersistentVolumeClaim for the run folders",
               "cpu": "kubernetes: CPU request and limit per worker",
               "memory": "kubernetes: memory request and limit per worker",
               "gpus": "kubernetes: nvidia.com/gpu per worker"}


def option_rows(options: dict[str, Any], texts: dict[str, str]) -> list[FieldHelp]:
    """`FieldHelp` rows of a flat `key=value` command (REQUIRED defaults shown as ???)."""
    from zoo.cli.keyvalue import REQUIRED

    rows = []
    for key, default in options.items():
        shown = "???" if default is REQUIRED else default
        kind = "str" if default is REQUIRED else type(default).__name__
        rows.append(FieldHelp(key, kind, shown, texts.get(key, "")))
    return rows


def command_options(command: str) -> list[FieldHelp]:
    """The options of a `key=value` command with their defaults and help."""
    if command == "export":
        from zoo.cli.deploy import EXPORT_OPTIONS

        return option_rows(EXPORT_OPTIONS, EXPORT_HELP)
    if command == "predict":
        from zoo.cli.deploy import PREDICT_OPTIONS

        return option_rows(PREDICT_OPTIONS, PREDICT_HELP)
    if command == "serve":
        from zoo.cli.deploy import SERVE_OPTIONS
        from zoo.cli.fields import field_help
        from zoo.serving.options import ServeOptions

        return option_rows(SERVE_OPTIONS, SERVE_HELP) + field_help(ServeOptions)
    if command == "generate":
        from zoo.cli.generate import OPTIONS

        return option_rows(OPTIONS, GENERATE_HELP)
    if command == "launch":
        from zoo.cli.launch import OPTIONS as LAUNCH_OPTIONS

        return option_rows(LAUNCH_OPTIONS, LAUNCH_HELP)
    if command == "compare":
        from zoo.cli.compare import OPTION_HELP
        from zoo.cli.compare import OPTIONS as COMPARE_OPTIONS

        return option_rows(COMPARE_OPTIONS, OPTION_HELP)
    return []


def command_help(command: str) -> str:
    """The `--help` text of a command that is not a Hydra app."""
    usage, what = SUMMARIES[command]
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
