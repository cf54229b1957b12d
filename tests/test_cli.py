"""The `zoo` command: fast answers without TensorFlow, listings, one-line errors, version."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import zoo

ZOO_ENV = ("ZOO_PLUGINS", "ZOO_DISABLE_PLUGINS", "ZOO_DISABLE_PLUGIN_AUTOLOAD")
TOY_MISSING = "the toy plugin is not installed: run `pip install ./tests/toy_plugin`"
SCRIPT = Path(sys.executable).with_name("zoo")
EXPECTED = {
    "models": {"mlp", "cnn", "resnet", "toy_linear"},
    "datasets": {"digits", "breast_cancer", "iris", "wine", "diabetes", "csv", "image_folder",
                 "tfds"},
    "losses": {"cross_entropy", "mse", "mae", "huber"},
    "metrics": {"accuracy", "precision", "recall", "f1", "auc", "mae", "mse", "r2"},
    "plugins": {"zoo.builtin", "zoo.builtin.training", "mlp", "cnn", "toy"},
    "experiments": {"cnn_digits", "mlp_breast_cancer", "mlp_diabetes", "cnn_mnist",
                    "mlp_csv_regression", "toy_iris"},
}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ZOO_ENV}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "2"}


def zoo_cmd(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run the installed `zoo` console script; the result and its wall time in seconds."""
    assert SCRIPT.exists(), f"no console script at {SCRIPT}: pip install -e ."
    start = time.perf_counter()
    proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env=_env())
    return proc, time.perf_counter() - start


def first_column(table: str) -> list[str]:
    """The names in the first column of a `zoo list` table (header line and the continuation
    lines of a multi-line description skipped)."""
    lines = [line for line in table.splitlines() if line.strip() and not line[0].isspace()]
    return [line.split()[0] for line in lines[1:]]


@pytest.mark.alone  # timed
@pytest.mark.parametrize("args", [["--help"], ["list"]])
def test_fast_commands_answer_quickly(args):
    zoo_cmd(*args)  # warm the file cache: the timing below is of the command, not the disk
    proc, seconds = zoo_cmd(*args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert seconds < 2.0, f"zoo {' '.join(args)} took {seconds:.2f}s"


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["list", "models"], ["list", "models", "cnn"],
                                  ["export", "--help"], ["compare", "--help"], ["train", "--help"]])
def test_fast_commands_never_import_tensorflow(argv):
    code = f"from zoo.cli.main import main; main({argv!r})"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                          text=True, timeout=60, env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "import time:" in proc.stderr  # the import log is really there
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")]
    assert "zoo.cli.main" in imported
    heavy_roots = ("tensorflow", "keras", "tensorflow_datasets")
    heavy = [m for m in imported if m.split(".")[0] in heavy_roots]
    assert not heavy, f"zoo {' '.join(argv)} imported {heavy[:5]}"


def test_help_shows_the_commands():
    proc, _ = zoo_cmd("--help")
    assert proc.returncode == 0
    for command in ("train", "evaluate", "list"):
        assert f"  {command} " in proc.stdout


@pytest.mark.parametrize("what", sorted(EXPECTED))
def test_list_prints_the_registered_names(what):
    if what in ("models", "plugins", "experiments"):
        try:
            metadata.distribution("zoo-toy-plugin")
        except metadata.PackageNotFoundError:
            pytest.fail(TOY_MISSING)
    proc, _ = zoo_cmd("list", what)
    assert proc.returncode == 0, proc.stderr
    names = first_column(proc.stdout)
    assert EXPECTED[what] <= set(names), f"missing {EXPECTED[what] - set(names)}:\n{proc.stdout}"
    assert names == sorted(names) or what == "plugins"
    assert len(names) == len(set(names))


def test_list_without_argument_prints_every_table():
    proc, _ = zoo_cmd("list")
    assert proc.returncode == 0, proc.stderr
    for what in EXPECTED:
        assert f"{what}:" in proc.stdout.splitlines()


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("zoo: error:")
    assert not proc.stdout.strip()
    return lines[0]


def test_list_unknown_table_is_a_one_line_error():
    line = _one_line_error(zoo_cmd("list", "foo")[0])
    assert "'foo'" in line
    for what in EXPECTED:
        assert what in line
    line = _one_line_error(zoo_cmd("list", "model")[0])
    assert "did you mean 'models'" in line


def test_unknown_command_suggests_the_close_one():
    line = _one_line_error(zoo_cmd("trian")[0])
    assert "'trian'" in line and "did you mean 'train'" in line


def test_version():
    proc, _ = zoo_cmd("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"keras-zoo {zoo.__version__}"
    assert zoo.__version__ == metadata.version("keras-zoo")
