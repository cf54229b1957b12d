"""Building blocks every family shares: the input layer and the task head."""

from __future__ import annotations

from typing import Any

from zoo.core.specs import CLASSIFICATION
from zoo.data.base import DatasetInfo


def model_input(info: DatasetInfo, name: str = "features") -> Any:
    """A `keras.Input` matching the dataset's features."""
    import keras

    return keras.Input(shape=info.input_shape, dtype=info.input_dtype, name=name)


def task_head(x: Any, info: DatasetInfo, name: str = "head") -> Any:
    """Softmax class probabilities for classification, one linear output for regression.

    The head computes in float32 so mixed precision keeps the outputs and the loss stable. A
    regression head learns standardised targets and scales them back (`Rescaling` by the training
    split's target std and mean), so the model predicts in the data's units.
    """
    import keras

    if info.task == CLASSIFICATION:
        logits = keras.layers.Dense(info.num_classes, name=f"{name}_logits")(x)
        return keras.layers.Activation("softmax", dtype="float32", name=name)(logits)
    if not info.target:
        return keras.layers.Dense(1, dtype="float32", name=name)(x)
    z = keras.layers.Dense(1, dtype="float32", name=f"{name}_standardized")(x)
    return keras.layers.Rescaling(info.target["std"], info.target["mean"], dtype="float32", name=name)(z)
