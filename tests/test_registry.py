"""The plugin registry: entry points, name clashes, unknown names, broken and blocked plugins."""

from __future__ import annotations

import importlib.metadata as metadata
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import zoo
from zoo.core import hookspecs
from zoo.core.errors import DuplicateNameError, UnknownNameError
from zoo.core.registry import CORE_PLUGIN, KINDS, build_registry, reset_registry
from zoo.core.specs import DatasetSpec, LossSpec, MetricSpec, ModelSpec

CORE_PLUGINS = ["zoo.builtin", "zoo.builtin.training"]  # datasets; losses, metrics, training modes

REPO = Path(__file__).resolve().parents[1]
ZOO_ENV = ("ZOO_PLUGINS", "ZOO_DISABLE_PLUGINS", "ZOO_DISABLE_PLUGIN_AUTOLOAD")
TOY_MISSING = "the toy plugin is not installed: run `pip install ./tests/toy_plugin`"
BUILTIN_FAMILIES = {"mlp": "zoo_plugins.mlp", "cnn": "zoo_plugins.cnn"}


@pytest.fixture(autouse=True)
def _plugin_env(monkeypatch):
    """No plugin switches from the caller's shell; no registry cached by a test."""
    for name in ZOO_ENV:
        monkeypatch.delenv(name, raising=False)
    reset_registry()
    yield
    reset_registry()


def _zoo_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ZOO_ENV}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def _zoo(*args: str, **env: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("zoo")
    return subprocess.run([str(script), *args], env=_zoo_env(**env), capture_output=True,
                          text=True, timeout=60)


def _plugin(registry, name):
    found = [p for p in registry.plugins if p.name == name]
    assert len(found) == 1, f"plugin {name!r} listed {len(found)} times: {registry.plugins}"
    return found[0]


# --- built-in families are ordinary plugins -------------------------------------------------

def test_builtin_families_are_entry_points_of_keras_zoo():
    eps = {ep.name: ep for ep in metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP)}
    for name, module in BUILTIN_FAMILIES.items():
        assert name in eps, f"no {name!r} entry point in group {hookspecs.ENTRY_POINT_GROUP}"
        assert eps[name].value == module
        assert eps[name].dist is not None and eps[name].dist.metadata["Name"] == "keras-zoo"


def test_list_plugins_reports_entry_point_sources():
    plugins = {p.name: p for p in zoo.list_plugins()}
    assert plugins[CORE_PLUGIN].ok and "core" in plugins[CORE_PLUGIN].source
    for name, module in BUILTIN_FAMILIES.items():
        info = plugins[name]
        assert info.ok, info.error
        assert info.source == f"keras-zoo ({module})"
        assert info.version == metadata.version("keras-zoo")
    registry = build_registry()
    assert registry.owner("model", "mlp") == "mlp"
    assert registry.owner("model", "cnn") == "cnn"
    assert registry.owner("model", "resnet") == "cnn"
    assert registry.owner("dataset", "digits") == CORE_PLUGIN


def test_core_package_never_names_the_builtin_plugins():
    offenders = []
    files = [p for p in (REPO / "zoo").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert len([p for p in files if p.suffix == ".py"]) > 10, "zoo/ sources not found"
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [f"{path.relative_to(REPO)}:{i}" for i, line in
                      enumerate(text.splitlines(), 1) if "zoo_plugins" in line]
    assert not offenders, f"the core names the built-in plugin package: {offenders}"


# --- name clashes and unknown names ---------------------------------------------------------

def _write_module(folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(body))


@pytest.fixture
def two_clashing_plugins(tmp_path, monkeypatch):
    body = """
        from zoo import ModelSpec, hookimpl


        def build(cfg, info):
            raise AssertionError("never built")


        @hookimpl
        def zoo_models():
            return [ModelSpec("twin_net", build, "a model that {owner} registers")]
    """
    names = ("zoo_test_clash_a", "zoo_test_clash_b")
    for name in names:
        _write_module(tmp_path, name, body.replace("{owner}", name))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO_PLUGINS", ",".join(names))
    yield names
    for name in names:
        sys.modules.pop(name, None)


def test_same_model_name_from_two_plugins_is_an_error_naming_both(two_clashing_plugins):
    first, second = two_clashing_plugins
    registry = build_registry()
    assert _plugin(registry, first).ok and _plugin(registry, first).source == "ZOO_PLUGINS"
    assert _plugin(registry, second).ok
    with pytest.raises(DuplicateNameError) as caught:
        registry.get("model", "twin_net")
    message = str(caught.value)
    assert "twin_net" in message and first in message and second in message
    assert "\n" not in message
    # the clash does not hide the other names
    assert registry.model("mlp").name == "mlp"


def test_unknown_name_suggests_close_matches():
    registry = build_registry()
    with pytest.raises(UnknownNameError) as caught:
        registry.get("model", "mlpp")
    message = str(caught.value)
    assert "'mlpp'" in message and "'mlp'" in message and "\n" not in message
    assert isinstance(caught.value, KeyError)  # still a KeyError for callers that expect one
    with pytest.raises(UnknownNameError, match="cross_entropy"):
        registry.loss("cross_entropyy")
    with pytest.raises(UnknownNameError, match="zoo list losses"):
        registry.loss("no_such_loss_at_all")


# --- broken, blocked and disabled plugins ---------------------------------------------------

@pytest.fixture
def broken_distribution(tmp_path):
    """An installed distribution whose `zoo.plugins` entry point fails to import."""
    info = tmp_path / "fake_broken-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[zoo.plugins]\nbroken = zoo_broken_plugin\n")
    (tmp_path / "zoo_broken_plugin.py").write_text('raise ImportError("needs libfoo")\n')
    return tmp_path


def test_broken_third_party_plugin_is_reported_and_others_keep_working(broken_distribution):
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(broken_distribution),
                                                     os.environ.get("PYTHONPATH")]))}
    plugins = _zoo("list", "plugins", **env)
    assert plugins.returncode == 0, plugins.stderr
    rows = {line.split()[0]: line for line in plugins.stdout.splitlines()[1:] if line.strip()}
    assert "broken" in rows, plugins.stdout
    assert "FAILED" in rows["broken"] and "needs libfoo" in rows["broken"]
    for name in BUILTIN_FAMILIES:
        assert name in rows and " ok " in rows[name], plugins.stdout
    models = _zoo("list", "models", **env)
    assert models.returncode == 0, models.stderr
    names = {line.split()[0] for line in models.stdout.splitlines()[1:] if line.strip()}
    assert {"mlp", "cnn"} <= names


def test_disable_plugins_blocks_the_toy_plugin(monkeypatch):
    registry = build_registry()
    assert "toy" in {p.name for p in registry.plugins}, TOY_MISSING
    assert "toy_linear" in registry.names("model")
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "toy")
    registry = build_registry()
    toy = _plugin(registry, "toy")
    assert not toy.ok and "ZOO_DISABLE_PLUGINS" in toy.error
    assert "toy_linear" not in registry.names("model")
    assert "pkg://zoo_toy_plugin.conf" not in [d for d, _ in registry.config_dirs]
    assert {"mlp", "cnn"} <= set(registry.names("model"))


def test_disable_autoload_loads_only_the_core(monkeypatch):
    monkeypatch.setenv("ZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = build_registry()
    assert [p.name for p in registry.plugins] == CORE_PLUGINS
    assert registry.names("model") == []
    assert registry.config_dirs == []
    assert {"digits", "iris", "csv"} <= set(registry.names("dataset"))
    assert "cross_entropy" in registry.names("loss") and "accuracy" in registry.names("metric")


def test_core_alone_never_imports_the_builtin_plugin_package():
    code = ("import sys; from zoo.core.registry import build_registry; r = build_registry(); "
            "print(r.names('model'), ','.join(p.name for p in r.plugins), 'zoo_plugins' in sys.modules)")
    env = _zoo_env(ZOO_DISABLE_PLUGIN_AUTOLOAD="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", ",".join(CORE_PLUGINS), "False"]


# --- every spec says what it is ---------------------------------------------------------------

def test_hooks_are_documented():
    for hook in KINDS.values():
        doc = inspect.getdoc(getattr(hookspecs, hook))
        assert doc and doc.strip(), f"hookspec {hook} has no description"


@pytest.mark.parametrize(("kind", "spec_type"), [
    ("model", ModelSpec), ("dataset", DatasetSpec), ("loss", LossSpec), ("metric", MetricSpec),
])
def test_every_registered_spec_has_a_one_line_description(kind, spec_type):
    registry = build_registry()
    names = registry.names(kind)
    assert names, f"no {kind} registered"
    for name in names:
        spec = registry.get(kind, name)
        assert isinstance(spec, spec_type), f"{kind} {name!r} is a {type(spec).__name__}"
        assert spec.name == name
        text = spec.description
        assert isinstance(text, str) and text.strip(), f"{kind} {name!r} has no description"
        assert "\n" not in text and len(text) <= 100, f"{kind} {name!r}: {text!r}"


# --- training modes are chosen like tasks ----------------------------------------------------

def test_a_training_mode_is_chosen_by_its_config_node_and_wraps_the_family_training(tmp_path, monkeypatch,
                                                                                     capsys):
    from types import SimpleNamespace

    from omegaconf import open_dict

    from zoo.cli.listing import run_list
    from zoo.tasks.select import build_parts
    from zoo.tasks.training import Training

    _write_module(tmp_path, "zoo_test_mode", """
        from zoo.sdk import TrainingModeSpec, TrainingWrapper, hookimpl


        class Tagged(TrainingWrapper):
            def metric_names(self, info):
                return ["tagged", *self.inner.metric_names(info)]


        @hookimpl
        def zoo_training_modes():
            return [TrainingModeSpec("tagged", "tagging", Tagged, "tags the headline metric")]
    """)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO_PLUGINS", "zoo_test_mode")
    registry = build_registry()
    assert registry.names("training mode") == ["distill", "dp_sgd", "tagged"]
    cfg = zoo.compose(["model=mlp", "dataset=iris"])
    info = SimpleNamespace(task="classification")
    assert type(build_parts(cfg, None, registry).training) is Training  # no mode's node is set
    with open_dict(cfg):
        cfg.tagging = {"on": True}
    parts = build_parts(cfg, tmp_path, registry)
    training = parts.training
    assert type(training).__name__ == "Tagged" and type(training.inner) is Training
    assert (training.cfg, training.run, training.registry) == (cfg, tmp_path, registry)  # built once, shared
    assert training.metric_names(info) == ["tagged", "accuracy"]
    assert parts.evaluation.headline(info) == "accuracy"  # a mode wraps the training part only
    assert type(build_parts(cfg, None, registry, modes=False).training) is Training  # a run, reloaded
    run_list(["modes"])
    listed = capsys.readouterr().out
    assert "tagged" in listed and "zoo_test_mode" in listed and "dp_sgd" in listed
    sys.modules.pop("zoo_test_mode", None)


def test_missing_core_entry_points_are_one_clear_plugin_error(monkeypatch):
    """An install whose metadata predates `zoo.core_plugins` says to reinstall instead of silently
    having no datasets, losses or metrics."""
    from zoo.core import registry as registry_module

    entry_points = registry_module.metadata.entry_points
    monkeypatch.setattr(registry_module.metadata, "entry_points", lambda group: (
        [] if group == hookspecs.CORE_ENTRY_POINT_GROUP else entry_points(group=group)))
    registry = build_registry()
    core = registry.plugins[0]
    assert core.name == CORE_PLUGIN and not core.ok and "reinstall" in core.error
    assert "digits" not in registry.names("dataset") and "cross_entropy" not in registry.names("loss")


# --- the roles a family declares -------------------------------------------------------------

def public_steps(cls: type) -> set[str]:
    """The public methods of a part class (its steps), inherited ones included."""
    import inspect

    return {name for name, value in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}


def test_the_training_wrapper_forwards_every_step_of_the_training_part():
    """A step added to `Training` without a forwarder on `TrainingWrapper` would skip the family's
    own step under every training mode: each step is defined on the wrapper and reaches `inner`."""
    import inspect

    from zoo.tasks.training import Training, TrainingWrapper

    steps = public_steps(Training)
    assert steps == {"check", "loss_name", "metric_names", "compile", "fit_model", "build_optimizers",
                     "log_callbacks", "callbacks", "extra_metrics"}  # grows with the training part
    assert steps <= set(vars(TrainingWrapper)), steps - set(vars(TrainingWrapper))

    class Inner(Training):
        pass

    calls = []
    for step in steps:
        setattr(Inner, step, lambda self, *args, _step=step: calls.append((_step, args)) or _step)
    cfg = zoo.compose(["model=mlp"])
    wrapper = TrainingWrapper(Inner(cfg))
    for step in sorted(steps):
        signature = inspect.signature(getattr(Training, step))
        args = tuple(object() for _ in list(signature.parameters)[1:])
        answer = getattr(wrapper, step)(*args)
        assert calls[-1] == (step, args)  # the inner part's step, with the same arguments
        assert answer == (None if signature.return_annotation == "None" else step)  # its answer


def test_a_family_declares_only_the_roles_it_changes():
    from zoo.tasks.evaluator import Evaluator
    from zoo.tasks.export_module import ExportModule
    from zoo.tasks.preparer import DataPreparer
    from zoo.tasks.select import build_parts
    from zoo.tasks.training import Training

    registry = build_registry()
    for name in ("mlp", "cnn"):  # the built-in supervised families declare no role
        spec = registry.model(name)
        assert (spec.data, spec.training, spec.evaluation, spec.export) == (None, None, None, None)
    parts = build_parts(zoo.compose(["model=mlp"]), None, registry)
    assert [type(p) for p in (parts.data, parts.training, parts.evaluation, parts.export)] == [
        DataPreparer, Training, Evaluator, ExportModule]
    gpt = build_parts(zoo.compose(["model=gpt"]), None, registry)
    mlm = build_parts(zoo.compose(["model=bert_mlm"]), None, registry)
    bases = {type(gpt.training).__mro__[1].__name__, type(mlm.training).__mro__[1].__name__}
    assert bases == {"LanguageModel"}  # one language-model training part serves both


def test_data_preparation_returns_a_frozen_value_and_leaves_the_raw_splits_alone(tmp_path):
    import dataclasses

    from zoo.run.rundir import RunDir
    from zoo.tasks.select import build_part

    cfg = zoo.compose(["model=mlp", "dataset=iris"])
    splits = zoo.load_dataset("iris")
    before = splits.info.to_dict()
    prepared = build_part("data", cfg, RunDir(tmp_path)).prepare(splits, fit=True)
    assert splits.info.to_dict() == before and splits.info.features is None  # the input is as it was
    assert prepared.info.features and prepared.preprocessor is not None  # fitted on the training split
    assert prepared.raw["train"] is splits.train
    with pytest.raises(dataclasses.FrozenInstanceError):
        prepared.info = splits.info
