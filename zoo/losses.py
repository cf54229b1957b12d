"""Built-in losses, each a factory `name(info) -> keras loss` (registered in `zoo.training.builtin`)."""

from __future__ import annotations

import keras

from zoo.data.base import DatasetInfo


@keras.saving.register_keras_serializable(package="zoo")
class SparseLabelLoss(keras.losses.Loss):
    """Applies a one-hot loss (label smoothing, focal) to integer class labels."""

    def __init__(self, inner: keras.losses.Loss | dict, num_classes: int, **kwargs):
        super().__init__(name=kwargs.pop("name", "sparse_label_loss"), **kwargs)
        self.inner = keras.losses.deserialize(inner) if isinstance(inner, dict) else inner
        self.num_classes = num_classes

    def call(self, y_true, y_pred):
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        one_hot = keras.ops.one_hot(labels, self.num_classes, dtype=y_pred.dtype)
        return self.inner.call(one_hot, y_pred)

    def get_config(self) -> dict:
        return {**super().get_config(), "inner": keras.losses.serialize(self.inner),
                "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="zoo")
class StandardizedLoss(keras.losses.Loss):
    """A regression loss on standardised targets, for a model whose output is in the data's units:
    `inner((y - mean) / std, (pred - mean) / std)`, so the loss scale (and Huber's delta) does not
    depend on the units of the target while predictions and metrics stay in them."""

    def __init__(self, inner: keras.losses.Loss | dict, mean: float, std: float, **kwargs):
        inner = keras.losses.deserialize(inner) if isinstance(inner, dict) else inner
        super().__init__(name=kwargs.pop("name", inner.name), **kwargs)
        self.inner, self.mean, self.std = inner, float(mean), float(std)

    def call(self, y_true, y_pred):
        scale = lambda y: (keras.ops.cast(y, y_pred.dtype) - self.mean) / self.std  # noqa: E731
        return self.inner.call(scale(y_true), scale(y_pred))

    def get_config(self) -> dict:
        return {**super().get_config(), "inner": keras.losses.serialize(self.inner),
                "mean": self.mean, "std": self.std}


def cross_entropy(info: DatasetInfo) -> keras.losses.Loss:
    return keras.losses.SparseCategoricalCrossentropy(name="cross_entropy")


def label_smoothing_cross_entropy(info: DatasetInfo) -> keras.losses.Loss:
    inner = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    return SparseLabelLoss(inner, info.num_classes, name="label_smoothing_cross_entropy")


def focal_cross_entropy(info: DatasetInfo) -> keras.losses.Loss:
    inner = keras.losses.CategoricalFocalCrossentropy(gamma=2.0)
    return SparseLabelLoss(inner, info.num_classes, name="focal_cross_entropy")


def mse(info: DatasetInfo) -> keras.losses.Loss:
    return keras.losses.MeanSquaredError(name="mse")


def mae(info: DatasetInfo) -> keras.losses.Loss:
    return keras.losses.MeanAbsoluteError(name="mae")


def huber(info: DatasetInfo) -> keras.losses.Loss:
    return keras.losses.Huber(delta=1.0, name="huber")
