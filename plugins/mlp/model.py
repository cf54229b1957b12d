"""MLP builder."""

from __future__ import annotations

from typing import Any

import keras

from zoo.sdk import DatasetInfo, model_input, task_head


def build_mlp(cfg: Any, info: DatasetInfo) -> keras.Model:
    """Dense layers of `cfg.hidden_sizes`, each optionally batch-normalised and dropped out."""
    inputs = model_input(info)
    x = keras.layers.Flatten(name="flatten")(inputs) if len(info.input_shape) > 1 else inputs
    for i, units in enumerate(cfg.hidden_sizes):
        x = keras.layers.Dense(units, use_bias=not cfg.batch_norm, name=f"dense_{i}")(x)
        if cfg.batch_norm:
            x = keras.layers.BatchNormalization(name=f"bn_{i}")(x)
        x = keras.layers.Activation(cfg.activation, name=f"act_{i}")(x)
        if cfg.dropout > 0:
            x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    return keras.Model(inputs, task_head(x, info), name="mlp")
