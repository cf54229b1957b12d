"""Config fields: ranges declared on the field (never guessed from its name), "did you mean"
that never repeats the refused key, plugin config groups selectable as `group=option`."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from zoo.config.bounds import bounds_of
from zoo.config.compose import compose
from zoo.config.schema import EvaluateConfig, TrainConfig
from zoo.config.validate import _dataclass_in, _hints, check_node, check_train_config
from zoo.core.errors import ZooError
from zoo.core.registry import get_registry, reset_registry


@pytest.fixture(autouse=True)
def _fresh():
    reset_registry()
    GlobalHydra.instance().clear()
    yield
    GlobalHydra.instance().clear()
    reset_registry()


@pytest.fixture
def files_unchecked(monkeypatch):
    """For tests of other checks: the data files the configs name are not looked for."""
    monkeypatch.setattr("zoo.config.validate.missing_path", lambda value, item: None)


def _numeric_fields(schema: type, seen: set[type]) -> typing.Iterator[tuple[str, dataclasses.Field]]:
    if schema in seen:
        return
    seen.add(schema)
    hints = _hints(schema)
    for item in dataclasses.fields(schema):
        inner = _dataclass_in(hints.get(item.name))
        if inner is not None:
            yield from _numeric_fields(inner, seen)
        elif item.name not in ("name", "source") and any(t in str(hints.get(item.name))
                                                         for t in ("int", "float")):
            yield f"{schema.__qualname__}.{item.name}", item


def test_every_numeric_field_of_the_built_in_schemas_declares_its_range():
    registry = get_registry()
    schemas = [TrainConfig, EvaluateConfig] + [
        registry.entries[kind][name].spec.config for kind in ("model", "dataset")
        for name in registry.names(kind) if registry.entries[kind][name].spec.config is not None]
    seen: set[type] = set()
    undeclared = [where for schema in schemas for where, item in _numeric_fields(schema, seen)
                  if bounds_of(item) is None]
    assert not undeclared, f"numeric fields without a declared range: {undeclared}"


def test_the_gpt_size_overrides_accept_zero_as_the_sizes_value(files_unchecked):
    cfg = compose(["experiment=gpt_text_lines", "dataset.path=corpus.txt"])
    assert cfg.model.hidden_dim == 0 and cfg.model.intermediate_dim == 0
    check_train_config(cfg, get_registry())  # was: model.hidden_dim=0 is out of range: x >= 1
    GlobalHydra.instance().clear()
    bad = compose(["experiment=gpt_text_lines", "dataset.path=corpus.txt", "model.hidden_dim=-8"])
    with pytest.raises(ZooError, match=r"model.hidden_dim=-8 is out of range: expected x >= 0"):
        check_train_config(bad, get_registry())


def test_zoo_list_shows_the_declared_range(capsys):
    from zoo.cli.main import main

    assert main(["list", "models", "gpt"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("hidden_dim"))
    assert "range x >= 0" in line and "x >= 1" not in line


def test_a_plugin_field_is_checked_only_against_the_range_it_declares():
    from zoo.sdk import bounded

    @dataclass
    class PluginConfig:
        name: str = "p"
        expansion_dim: int = 0  # a name that once implied ">= 1"
        width: int = bounded(4, ge=1)

    check_node(OmegaConf.create({"name": "p", "expansion_dim": 0, "width": 4}), PluginConfig, "model.")
    with pytest.raises(ZooError, match=r"model.width=0 is out of range: expected x >= 1"):
        check_node(OmegaConf.create({"name": "p", "expansion_dim": 0, "width": 0}), PluginConfig,
                   "model.")


def _one_error(capsys, *argv: str) -> str:
    from zoo.cli.main import main

    assert main(list(argv)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zoo: error: "), lines
    return lines[0]


@pytest.mark.parametrize(("argv", "owner", "key", "has"), [
    (("model=gpt", "dataset=text_lines", "dataset.test_path=t.txt"), "dataset 'text_lines'",
     "dataset.test_path", "path, shuffle_buffer, test_fraction, val_fraction"),
    (("experiment=lstm_text_csv", "dataset.path=t.csv", "model.vocabulary_size=500"), "model 'lstm'",
     "model.vocabulary_size", "max_tokens"),
    (("experiment=lstm_text_csv", "dataset.path=t.csv", "+model.vocabulary_size=500"), "model 'lstm'",
     "model.vocabulary_size", "max_tokens"),
])
def test_an_unknown_model_or_dataset_key_names_the_selection_and_its_keys(capsys, tmp_path,
                                                                          monkeypatch, argv, owner,
                                                                          key, has):
    monkeypatch.chdir(tmp_path)
    line = _one_error(capsys, "train", *argv)
    assert f"{owner} has no key '{key}'" in line and has in line, line
    assert f"did you mean '{key}'" not in line and line.count(f"'{key}'") == 1, line
    assert not list(tmp_path.iterdir())


def test_suggestions_never_repeat_the_refused_name():
    from zoo.core.errors import close_matches

    assert close_matches("test_path", ["test_path", "test_split", "path"]) == ["test_split", "path"]


# --- a plugin's own config group ---------------------------------------------------------------
GROUP_PLUGIN = '''
from pathlib import Path
from zoo.sdk import hookimpl


@hookimpl
def zoo_config_dirs():
    return [(Path(__file__).parent / "conf").as_uri()]
'''
NARROW = """# @package _global_
# The MLP with one narrow hidden layer
model:
  hidden_sizes: [8]
"""


@pytest.fixture
def group_plugin(tmp_path, monkeypatch):
    """A plugin whose config folder adds the group `width` (option `narrow`), on ZOO_PLUGINS."""
    package = tmp_path / "width_plugin"
    (package / "conf" / "width").mkdir(parents=True)
    (package / "__init__.py").write_text(GROUP_PLUGIN)
    (package / "conf" / "width" / "narrow.yaml").write_text(NARROW)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO_PLUGINS", "width_plugin")
    reset_registry()
    return package


@pytest.mark.parametrize("selection", ["width=narrow", "+width=narrow"])
def test_a_plugin_group_is_selected_as_group_equals_option(group_plugin, selection):
    cfg = compose(["model=mlp", "dataset=iris", selection])
    assert list(cfg.model.hidden_sizes) == [8]
    check_train_config(cfg, get_registry())
    GlobalHydra.instance().clear()
    assert list(compose(["model=mlp", "dataset=iris"]).model.hidden_sizes) != [8]  # unselected: null


def test_a_plugin_group_on_the_command_line(group_plugin, capsys, tmp_path, monkeypatch):
    from zoo.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "model=mlp", "dataset=iris", "width=narrow", "--cfg", "job"]) == 0
    assert "- 8" in capsys.readouterr().out
    line = _one_error(capsys, "train", "model=mlp", "widht=narrow")
    assert "unknown config key or group 'widht': did you mean 'width'?" in line


def test_the_one_line_keeps_hydras_hint(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _one_error(capsys, "train", "schema/model=mlp")
    assert "No match in the defaults list" in line and "use +schema/model=mlp" in line, line


# --- absurd sizes are refused before anything is allocated -----------------------------------
@pytest.mark.parametrize(("argv", "figure"), [
    (("experiment=lstm_text_csv", "dataset.path=t.csv", "model.sequence_length=10000000"),
     "model 'lstm': one batch of embedded text (model.sequence_length=10000000 x width 64 x batch 32) "
     "would need about 76.3 GB"),
    (("model=cnn", "dataset=image_folder", "dataset.path=photos", "dataset.image_size=[100000,100000]"),
     "dataset 'image_folder': a batch of 32 images of 100000x100000x3 (dataset.image_size) would need "
     "about 3.5 TB"),
    (("experiment=gpt_text_lines", "dataset.path=t.txt", "model.vocabulary_size=1000000000"),
     "model 'gpt': the token embedding (model.vocabulary_size=1000000000 x hidden_dim 128) would need "
     "about 476.8 GB"),
])
def test_an_absurd_size_is_refused_with_the_figure_and_the_limit(capsys, tmp_path, monkeypatch, argv,
                                                                 figure, files_unchecked):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO_MEMORY_LIMIT_BYTES", str(12 << 30))
    line = _one_error(capsys, "train", *argv, "run_dir=run")
    assert figure in line and "more than the 12.0 GB allowed" in line, line
    assert not list(tmp_path.iterdir())  # refused before the run folder (or anything) exists


def test_the_default_sizes_fit(files_unchecked):
    for argv in (["experiment=gpt_text_lines", "dataset.path=t.txt"],
                 ["experiment=lstm_text_csv", "dataset.path=t.csv"],
                 ["experiment=bert_text_csv", "dataset.path=t.csv"],
                 ["model=cnn", "dataset=image_folder", "dataset.path=photos"]):
        GlobalHydra.instance().clear()
        check_train_config(compose(argv), get_registry())


# --- one path syntax for every command ----------------------------------------------------------
FOLDERS = ["runs/my run,1", "runs/it's", "runs/x=y[1]", "runs/$HOME{a}", "runs/back\\slash", "runs/a\\'b"]


@pytest.mark.parametrize("folder", FOLDERS)
def test_a_run_folder_with_shell_metacharacters_is_named_one_way_everywhere(folder):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from zoo.cli.options import parse_options
    from zoo.cli.quoting import hydra_quoted
    from zoo.config.commands import ExportOptions

    parser = OverridesParser.create()
    for given in (f"run_dir={folder}", hydra_quoted(f"run_dir={folder}")):  # as typed, or Hydra-quoted
        assert parser.parse_override(hydra_quoted(given)).value() == folder  # train, evaluate
        assert parse_options("export", ExportOptions, [given]).run_dir == folder  # export, predict


def test_zoo_list_shows_a_multi_line_experiment_description_whole(capsys):
    from zoo.cli.main import main

    assert main(["list", "experiments"]) == 0
    out = capsys.readouterr().out.splitlines()
    row = next(i for i, line in enumerate(out) if line.startswith("gpt_text_lines "))
    column = out[0].index("description")
    assert out[row][column:].startswith("Train a small GPT on your text, then sample from it:")
    assert out[row + 1][column:].startswith("zoo train experiment=gpt_text_lines dataset.path=CORPUS.txt")
    assert out[row + 2][column:].startswith("zoo generate run_dir=runs/gpt")


def test_a_missing_data_file_is_named_before_tensorflow(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    code = ("import sys; from zoo.cli.main import main; code = main(sys.argv[1:]); "
            "print('TF' if 'tensorflow' in sys.modules else 'no TF'); sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", code, "train", "experiment=mlp_csv_regression",
                           "dataset.path=houses.csv", "dataset.target=price"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout.strip() == "no TF", (proc.stdout, proc.stderr)
    assert proc.stderr.strip() == ("zoo: error: dataset.path=houses.csv: no such CSV or Parquet file, "
                                   f"folder or glob (relative paths start at {tmp_path}): check the path")
    assert not list(tmp_path.iterdir())


def test_a_data_path_may_be_a_glob_that_matches(tmp_path):
    """Tables and shards are read from files, folders and globs: a glob that matches something
    passes the path check, one that matches nothing is named like a missing file."""
    import dataclasses

    from zoo.config.bounds import missing_path
    from zoo.data.configs import CSVDatasetConfig

    field = next(f for f in dataclasses.fields(CSVDatasetConfig) if f.name == "path")
    (tmp_path / "part-0.parquet").write_bytes(b"")
    assert missing_path(str(tmp_path / "part-*.parquet"), field) is None
    assert missing_path(str(tmp_path / "part-0.parquet"), field) is None
    assert missing_path(str(tmp_path / "other-*.parquet"), field) == "CSV or Parquet file, folder or glob"


@pytest.mark.parametrize("argv, expected", [
    (["dataset=csv", "dataset.path=.", "dataset.target=y", "dataset.cache=sometimes"],
     "dataset.cache=sometimes: expected one of auto, memory, disk, off, true, false"),
    (["dataset=csv", "dataset.path=.", "dataset.target=y", "dataset.task=Regression"],
     "dataset.task=Regression: expected one of auto, classification, regression (did you mean "
     "'regression'?)"),
    (["experiment=gpt_text_lines", "dataset.path=.", "dataset.documents=paragraph"],
     "dataset.documents=paragraph: expected one of lines, paragraphs, files (did you mean "
     "'paragraphs'?)"),
])
def test_a_choice_outside_its_options_is_refused_with_the_config(argv, expected, capsys, tmp_path,
                                                                monkeypatch):
    """A string field declared with `choice` is checked before any data is read (the cache mode
    was once refused only after the whole table had been loaded)."""
    from zoo.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", *argv]) == 2
    assert capsys.readouterr().err.strip() == f"zoo: error: {expected}"
    assert not list(tmp_path.iterdir())


def test_a_boolean_cache_setting_still_means_memory_or_off(tmp_path):
    import dataclasses

    from zoo.config.bounds import wrong_choice
    from zoo.data.configs import DatasetConfig

    field = next(f for f in dataclasses.fields(DatasetConfig) if f.name == "cache")
    assert wrong_choice("True", field) is None and wrong_choice("False", field) is None
    assert wrong_choice("maybe", field) is not None


# --- the other commands' options: structured configs checked like the training config ----------
COMMAND_CASES = [
    ("export", ["run_dir=r", "fromat=tflite"],
     "zoo export has no option 'fromat': did you mean 'format'? its options are run_dir, format, "),
    ("export", ["run_dir=r", "format=tflit"],
     "zoo export: format=tflit: expected one of onnx, savedmodel, tflite, keras (did you mean 'tflite'?)"),
    ("export", ["run_dir=r", "opset=3"], "zoo export: opset=3 is out of range: expected 9 <= x <= 21"),
    ("export", ["format=onnx"], "zoo export: missing required value(s) run_dir: add run_dir=..."),
    ("serve", ["bundle=b", "max_queue=ten"], "zoo serve: max_queue='ten': expected an integer"),
    ("serve", ["bundle=b", "batch_window_ms=nan"], "zoo serve: batch_window_ms=nan is out of range"),
    ("predict", ["bundle=b", "input=i", "output=o", "trust=maybe"],
     "zoo predict: trust='maybe': expected true or false"),
    ("generate", ["run_dir=r", "prompt=x", "sampler=top-k"],
     "zoo generate: sampler=top-k: expected one of greedy, top_k, top_p, random (did you mean 'top_k'?)"),
    ("generate", ["run_dir=r", "prompt=x", "top_p=0"],
     "zoo generate: top_p=0.0 is out of range: expected 0 < x <= 1"),
    ("launch", ["cluster=slrum"], "zoo launch: cluster=slrum: expected one of local, slurm, kubernetes "
                                  "(did you mean 'slurm'?)"),
    ("compare", ["outptu=x.png"], "zoo compare has no option 'outptu': did you mean 'output'?"),
]


@pytest.mark.parametrize(("command", "args", "expected"), COMMAND_CASES,
                         ids=[f"{c[0]} {c[1][-1]}" for c in COMMAND_CASES])
def test_a_bad_command_option_is_refused_like_a_bad_config_key(command, args, expected):
    from zoo.cli.options import parse_options, split_options
    from zoo.config.commands import COMMAND_OPTIONS

    read = split_options if command == "launch" else parse_options
    with pytest.raises(ZooError) as caught:
        read(command, COMMAND_OPTIONS[command], args)
    assert str(caught.value).startswith(expected), str(caught.value)


def test_command_options_are_typed_and_launch_passes_the_rest_to_train():
    from zoo.cli.options import parse_options, split_options
    from zoo.config.commands import ExportOptions, LaunchOptions, ServeCommand

    export = parse_options("export", ExportOptions, ["run_dir='runs/a,b'", "opset=13", "tolerance=1e-3"])
    assert (export.run_dir, export.opset, export.tolerance, export.format) == ("runs/a,b", 13, 1e-3, "onnx")
    serve = parse_options("serve", ServeCommand, ["bundle=a,b", "access_log=false", "port=0"])
    assert (serve.bundle, serve.access_log, serve.port, serve.max_batch) == ("a,b", False, 0, 64)
    launch, rest = split_options("launch", LaunchOptions,
                                 ["workers=3", "-m", "trainer.epochs=2", "+x=1", "dry_run=true"])
    assert (launch.workers, launch.dry_run, rest) == (3, True, ["-m", "trainer.epochs=2", "+x=1"])


def test_command_help_lists_each_option_with_its_choices_and_range():
    from zoo.cli.help import command_help

    lines = command_help("export").splitlines()
    rows = {line.split()[0]: line for line in lines[4:] if line.startswith("  ")}
    assert "onnx | savedmodel | tflite | keras" in rows["format"]
    assert "17" in rows["opset"] and "range 9 <= x <= 21" in rows["opset"]
    serve = command_help("serve")
    assert "range 0 <= x <= 65535" in serve and "body size" in serve  # a ServeOptions field's comment


CHOICE_SCHEMAS = ("zoo.config.schema:OptimizerConfig", "zoo.config.schema:TrainerConfig",
                  "zoo.config.schema:StrategyConfig", "zoo.config.schema:PrivacyConfig",
                  "zoo.config.schema:TrackingConfig", "zoo.config.schema:EvaluateConfig",
                  "zoo.config.commands:ExportOptions", "zoo.config.commands:GenerateOptions",
                  "zoo.config.commands:LaunchOptions")


def test_each_choice_list_is_spelled_once_in_the_core():
    """A choice list lives on its schema field; the code that acts on the value reads it there
    (strategy, optimizer, schedule, accountant, tracking, evaluate, export, sampler, cluster)."""
    import dataclasses
    import importlib
    from pathlib import Path

    import zoo
    from zoo.config.bounds import CHOICES

    sources = [p.read_text() for p in Path(zoo.__file__).parent.rglob("*.py")]
    seen = 0
    for where in CHOICE_SCHEMAS:
        module, _, name = where.partition(":")
        for item in dataclasses.fields(getattr(importlib.import_module(module), name)):
            options = item.metadata.get(CHOICES)
            if options and len(options) > 2:
                spelled = ", ".join(f'"{o}"' for o in options)
                assert sum(s.count(spelled) for s in sources) == 1, (where, item.name, spelled)
                seen += 1
    assert seen >= 9
    from zoo.config.schema import OptimizerConfig, StrategyConfig, TrainerConfig
    from zoo.training.optim import OPTIMIZERS, SCHEDULES
    from zoo.training.strategy import STRATEGIES

    assert STRATEGIES is dataclasses.fields(StrategyConfig)[0].metadata[CHOICES]
    assert OPTIMIZERS is dataclasses.fields(OptimizerConfig)[0].metadata[CHOICES]
    schedule = next(f for f in dataclasses.fields(TrainerConfig) if f.name == "lr_schedule")
    assert SCHEDULES is schedule.metadata[CHOICES]
