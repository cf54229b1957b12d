"""Errors are blamed on what raised them: a plugin's own failure names the plugin, the function
and the line; a model tf2onnx cannot convert names the layer and the fix. Never "internal error ...
please report it" for those."""

from __future__ import annotations

import pytest

from zoo.cli.failures import describe
from zoo.core.registry import get_registry, reset_registry

BROKEN_PLUGIN = '''
from dataclasses import dataclass

from zoo.sdk import ModelSpec, bounded, hookimpl


@dataclass
class PairsConfig:
    name: str = "pairs"
    units: int = bounded(3, ge=1)


def build_pairs(cfg, info):
    if cfg.units % 2:
        raise ValueError(f"units must be even, got {cfg.units}")


@hookimpl
def zoo_models():
    return [ModelSpec("pairs", build_pairs, "a model of pairs of units", PairsConfig)]
'''


@pytest.fixture
def broken_plugin(tmp_path, monkeypatch):
    (tmp_path / "pairs_plugin.py").write_text(BROKEN_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZOO_PLUGINS", "pairs_plugin")
    reset_registry()
    yield
    reset_registry()


def test_a_plugin_builders_own_error_names_the_plugin_and_where(broken_plugin):
    from omegaconf import OmegaConf

    spec = get_registry().model("pairs")
    with pytest.raises(ValueError) as caught:
        spec.build(OmegaConf.create({"name": "pairs", "units": 3}), None)
    line, code = describe(caught.value)
    assert line.startswith("plugin 'pairs_plugin' failed in build_pairs (")
    assert "pairs_plugin.py:" in line and "ValueError: units must be even, got 3" in line, line
    assert "internal error" not in line and code == 1


def test_a_bug_in_the_core_is_still_an_internal_error():
    get_registry()
    try:
        from zoo.config.bounds import out_of_range

        out_of_range(1, None)  # the core's own code fails
    except AttributeError as exc:
        line, _ = describe(exc)
    assert line.startswith("internal error AttributeError") and "please report it" in line


@pytest.mark.parametrize("approximate", [False, True])
def test_an_op_tf2onnx_cannot_convert_names_the_layer_and_the_fix(tmp_path, approximate, caplog):
    import logging

    import keras
    import tensorflow as tf

    from zoo.export.convert import ExportError, to_onnx

    caplog.set_level(logging.INFO, logger="zoo.export")

    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    outputs = keras.layers.Activation(lambda x: keras.activations.gelu(x, approximate=approximate),
                                      name="smooth")(hidden)
    model = keras.Model(inputs, outputs)
    specs = [tf.TensorSpec((None, 4), tf.float32, name="x")]
    if approximate:  # the fix the message gives converts
        to_onnx(model, specs, tmp_path / "model.onnx", 17)
        assert (tmp_path / "model.onnx").stat().st_size > 0
        return
    with pytest.raises(ExportError) as caught:
        to_onnx(model, specs, tmp_path / "model.onnx", 17)
    assert not [r for r in caplog.records if r.name.startswith("tf2onnx")]  # not on the console
    assert any("tf2onnx: " in r.getMessage() for r in caplog.records if r.name == "zoo.export")
    line, code = describe(caught.value)
    assert "smooth" in line and "TensorFlow op Erfc" in line and "approximate=True" in line, line
    assert "internal error" not in line and code == 2
