"""A third-party Keras Zoo plugin: a linear model, its config schema, its Hydra configs, and the two
roles it changes (docs/plugins.md, "The roles a family declares"): training also reports macro-F1,
evaluation also reports the size of the learnt weights. Its data and export parts are the defaults."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.sdk import CLASSIFICATION, ConformanceCase, Evaluator, ModelSpec, Training, bounded, hookimpl, lazy


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


class LinearTraining(Training):
    """The default training; a classifier also tracks macro-F1 unless `trainer.metrics` are set."""

    def metric_names(self, info):
        names = super().metric_names(info)
        if info.task == CLASSIFICATION and not self.cfg.trainer.metrics and "f1" not in names:
            names.append("f1")
        return names


class LinearEvaluator(Evaluator):
    """The default scores, and the L2 norm of the linear layer's weights (`weight_norm`)."""

    def evaluate(self, model, dataset, prepared):
        import numpy as np

        evaluation = super().evaluate(model, dataset, prepared)
        linear = next(layer for layer in reversed(model.layers) if layer.get_weights())
        kernel = linear.get_weights()[0]
        evaluation.metrics["weight_norm"] = float(np.linalg.norm(kernel))
        return evaluation


@hookimpl
def zoo_models():
    return [ModelSpec("toy_linear", build_linear, "linear model from a third-party plugin",
                      LinearConfig, training=lazy("zoo_toy_plugin:LinearTraining"),
                      evaluation=lazy("zoo_toy_plugin:LinearEvaluator"),
                      conformance=ConformanceCase(("dataset=wine", "model.l2=0.01")))]


@hookimpl
def zoo_config_dirs():
    return ["pkg://zoo_toy_plugin.conf"]
