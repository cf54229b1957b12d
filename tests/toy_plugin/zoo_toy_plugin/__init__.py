"""A third-party Keras Zoo plugin: a linear model, its config schema and its Hydra configs."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.sdk import ConformanceCase, ModelSpec, bounded, hookimpl


@dataclass
class LinearConfig:
    name: str = "toy_linear"
    l2: float = bounded(0.0, ge=0)  # activity penalty; 0: none


def build_linear(cfg, info):
    """Softmax (or linear) regression on flattened features."""
    import keras

    from zoo.sdk import model_input, task_head

    inputs = model_input(info)
    x = keras.layers.Flatten()(inputs)
    if cfg.l2:
        x = keras.layers.ActivityRegularization(l2=cfg.l2)(x)
    return keras.Model(inputs, task_head(x, info), name="toy_linear")


@hookimpl
def zoo_models():
    return [ModelSpec("toy_linear", build_linear, "linear model from a third-party plugin",
                      LinearConfig, conformance=ConformanceCase(("dataset=wine", "model.l2=0.01")))]


@hookimpl
def zoo_config_dirs():
    return ["pkg://zoo_toy_plugin.conf"]
