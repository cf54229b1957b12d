"""Hydra configs: every experiment composes, typed schemas reject typos before TensorFlow starts."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

import zoo
from zoo.core.registry import build_registry, reset_registry

ZOO_ENV = ("ZOO_PLUGINS", "ZOO_DISABLE_PLUGINS", "ZOO_DISABLE_PLUGIN_AUTOLOAD")
TOY_MISSING = "the toy plugin is not installed: run `pip install ./tests/toy_plugin`"
# experiments that need the user's own data: the values they must give on the command line
NEEDS_VALUES = {
    "cnn_image_folder": {"dataset.path"},
    "gan_image_folder": {"dataset.path"},
    "vae_image_folder": {"dataset.path"},
    "mlp_csv_classification": {"dataset.path", "dataset.target"},
    "mlp_csv_regression": {"dataset.path", "dataset.target"},
    "lstm_text_csv": {"dataset.path"},
    "bert_text_csv": {"dataset.path"},
    "bert_mlm": {"dataset.path"},  # the unlabelled text
    "lstm_timeseries": {"dataset.path", "dataset.target"},
    "distill": {"distill.teacher"},  # the teacher run folder
    "gpt_text_lines": {"dataset.path"},  # the text to learn
}
EXPECTED_EXPERIMENTS = {"cnn_digits", "mlp_breast_cancer", "mlp_diabetes", "cnn_mnist",
                        "mlp_csv_regression", "toy_iris", "bert_mlm", "bert_ag_news", "bert_sst2", "distill"}
GROUPS = ("model", "dataset", "optimizer", "trainer", "strategy", "experiment")


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    for name in ZOO_ENV:
        monkeypatch.delenv(name, raising=False)
    reset_registry()
    GlobalHydra.instance().clear()
    yield
    GlobalHydra.instance().clear()
    reset_registry()


def require_toy_plugin() -> None:
    try:
        metadata.distribution("zoo-toy-plugin")
    except metadata.PackageNotFoundError:
        pytest.fail(TOY_MISSING)


def _error_text(exc: BaseException) -> str:
    """The message of `exc` and of every exception it was raised from."""
    parts = []
    while exc is not None:
        parts.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


# --- composition ---------------------------------------------------------------------------------

def test_experiment_catalog_lists_core_and_plugin_experiments():
    require_toy_plugin()
    names = set(zoo.list_experiments())
    assert names >= EXPECTED_EXPERIMENTS
    assert zoo.list_experiments("mlp_*") == sorted(n for n in names if n.startswith("mlp_"))


def test_every_experiment_composes_with_registered_names():
    registry = build_registry()
    experiments = zoo.list_experiments()
    assert len(experiments) >= len(EXPECTED_EXPERIMENTS)
    for name in experiments:
        cfg = zoo.compose([f"experiment={name}"])
        assert cfg.model.name in registry.names("model"), f"{name}: model {cfg.model.name!r}"
        assert cfg.dataset.source in registry.names("dataset"), f"{name}: {cfg.dataset.source!r}"
        missing = set(OmegaConf.missing_keys(cfg))
        assert missing == NEEDS_VALUES.get(name, set()), f"{name}: missing {missing}"
        for metric in cfg.trainer.metrics or []:
            assert metric in registry.names("metric"), f"{name}: metric {metric!r}"
        if cfg.trainer.loss:
            assert cfg.trainer.loss in registry.names("loss"), f"{name}: loss {cfg.trainer.loss!r}"


def test_experiment_overrides_the_defaults():
    cfg = zoo.compose(["experiment=mlp_diabetes"])
    assert (cfg.model.name, cfg.dataset.source, cfg.trainer.loss) == ("mlp", "diabetes", "huber")
    assert list(cfg.model.hidden_sizes) == [64, 32]
    cfg = zoo.compose(["experiment=mlp_csv_regression", "dataset.path=data.csv",
                       "dataset.target=price"])
    assert OmegaConf.missing_keys(cfg) == set()
    assert (cfg.dataset.path, cfg.dataset.target, cfg.dataset.task) == ("data.csv", "price",
                                                                         "regression")


def test_default_job_is_cnn_on_digits():
    cfg = zoo.compose([])
    assert cfg.model.name == "cnn"
    assert cfg.dataset.source == "digits" and cfg.dataset.name == "digits"
    assert OmegaConf.missing_keys(cfg) == set()
    assert cfg.optimizer.name == "adam" and cfg.strategy.name == "auto"


# --- typed schemas -------------------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "key"), [
    (["trainer.epocs=3"], "epocs"),
    (["trainer.epochs=three"], "trainer.epochs"),
    (["model.filters=abc"], "model.filters"),
    (["model=mlp", "model.hidden_sizez=[8]"], "hidden_sizez"),
    (["optimizer.beta_1=fast"], "optimizer.beta_1"),
])
def test_schemas_reject_typos_and_wrong_types(overrides, key):
    with pytest.raises((HydraException, OmegaConfBaseException)) as caught:
        zoo.compose(overrides)
    assert key in _error_text(caught.value)


def test_unknown_group_option_lists_the_available_ones():
    with pytest.raises(HydraException) as caught:
        zoo.compose(["model=mlpp"])
    text = _error_text(caught.value)
    assert "mlpp" in text and "mlp" in text.replace("mlpp", "") and "cnn" in text


# --- the command line rejects the same, before TensorFlow is imported -------------------------

RUN_MAIN = textwrap.dedent("""
    import sys
    from zoo.cli.main import main
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    print(f"EXIT={code} TF={'tensorflow' in sys.modules}")
""")


def run_main(*argv: str) -> tuple[int, bool, str, str]:
    """`zoo.cli.main.main(argv)` in a fresh interpreter: exit code, TF imported?, out, err."""
    env = {k: v for k, v in os.environ.items() if k not in ZOO_ENV}
    proc = subprocess.run([sys.executable, "-c", RUN_MAIN, *argv], capture_output=True, text=True,
                          timeout=60, env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"}, cwd=Path.cwd())
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert last.startswith("EXIT="), f"no result line:\n{proc.stdout}\n{proc.stderr}"
    code_text, tf_text = last.split()
    code = code_text.split("=", 1)[1]
    code = int(code) if code.lstrip("-").isdigit() else (0 if code == "None" else 1)
    return code, tf_text == "TF=True", proc.stdout, proc.stderr


def test_cli_rejects_a_misspelt_key_before_tensorflow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, tf, out, err = run_main("train", "trainer.epocs=3")
    assert code != 0
    assert "epocs" in err
    assert not tf, "tensorflow was imported to reject a config typo"
    assert not (tmp_path / "outputs").exists()


def test_cli_rejects_an_unknown_group_option_before_tensorflow():
    code, tf, _, err = run_main("train", "model=mlpp")
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "unknown model 'mlpp'" in lines[0] and "did you mean 'mlp'" in lines[0], err
    assert not tf


def test_cli_rejects_an_unknown_loss_with_a_one_line_error():
    code, tf, _, err = run_main("train", "trainer.loss=cross_entropyy")
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("zoo: error:") and "'cross_entropy'" in lines[0]
    assert "cross_entropyy" in lines[0]
    assert not tf


def test_cli_names_the_missing_required_values():
    code, tf, _, err = run_main("train", "dataset=csv")
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("zoo: error:")
    assert "dataset.path" in lines[0] and "dataset.target" in lines[0]
    assert not tf


def test_cli_prints_the_composed_config_without_tensorflow():
    code, tf, out, err = run_main("train", "--cfg", "job")
    assert code == 0, err
    assert "name: cnn" in out and "source: digits" in out
    assert not tf
    code, tf, out, err = run_main("train", "experiment=mlp_iris", "trainer.epochs=7",
                                  "--cfg", "job")
    assert code == 0, err
    composed = OmegaConf.create(out.rsplit("EXIT=", 1)[0])
    assert composed.model.name == "mlp" and composed.dataset.source == "iris"
    assert composed.trainer.epochs == 7
    assert not tf


def test_cli_train_help_lists_groups_and_options():
    code, tf, out, err = run_main("train", "--help")
    assert code == 0, err
    groups = {}
    for line in out.splitlines():
        group, sep, options = line.partition(": ")
        if sep and group in GROUPS:
            groups[group] = [o.strip() for o in options.split(",")]
    assert set(groups) == set(GROUPS), out
    assert {"cnn", "mlp", "resnet"} <= set(groups["model"])
    assert {"digits", "iris", "csv"} <= set(groups["dataset"])
    assert {"cnn_digits", "mlp_breast_cancer"} <= set(groups["experiment"])
    assert not tf


# --- a third-party plugin's configs --------------------------------------------------------------

def test_plugin_configs_are_on_the_search_path():
    require_toy_plugin()
    cfg = zoo.compose(["model=toy_linear_l2"])
    assert cfg.model.name == "toy_linear"
    assert cfg.model.l2 == pytest.approx(0.001)
    with pytest.raises(HydraException) as caught:  # the plugin's schema is enforced too
        zoo.compose(["model=toy_linear", "model.l1=0.1"])
    assert "l1" in _error_text(caught.value)
    cfg = zoo.compose(["experiment=toy_iris"])
    assert cfg.model.name == "toy_linear" and cfg.dataset.source == "iris"
    assert cfg.trainer.epochs == 60
