"""Built-in metrics, each a factory `name(info) -> keras.metrics.Metric`."""

from __future__ import annotations

import keras

from zoo.data.base import DatasetInfo


class _OneHotLabels:
    """Mixin: feed integer class labels to a metric that expects one-hot labels."""

    num_classes: int

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        one_hot = keras.ops.one_hot(labels, self.num_classes, dtype=y_pred.dtype)
        return super().update_state(one_hot, y_pred, sample_weight)


@keras.saving.register_keras_serializable(package="zoo")
class MacroAverage(keras.metrics.Metric):
    """Macro-averaged precision or recall of argmax predictions, from a confusion matrix (Keras's
    `Precision`/`Recall` are binary or micro-averaged; macro F1 is Keras's `F1Score`, below)."""

    KINDS = ("precision", "recall", "f1")

    def __init__(self, num_classes: int, kind: str = "f1", **kwargs):
        super().__init__(name=kwargs.pop("name", kind), **kwargs)
        if kind not in self.KINDS:
            raise ValueError(f"kind={kind!r}: expected one of {self.KINDS}")
        self.num_classes, self.kind = num_classes, kind
        self.matrix = self.add_variable((num_classes, num_classes), "zeros", name="confusion")

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        predicted = keras.ops.argmax(y_pred, axis=-1)
        pairs = labels * self.num_classes + keras.ops.cast(predicted, "int32")
        counts = keras.ops.bincount(pairs, minlength=self.num_classes**2)
        counts = keras.ops.reshape(keras.ops.cast(counts, self.dtype), self.matrix.shape)
        self.matrix.assign_add(counts)

    def result(self):
        tp = keras.ops.diagonal(self.matrix)
        precision = keras.ops.divide_no_nan(tp, keras.ops.sum(self.matrix, axis=0))
        recall = keras.ops.divide_no_nan(tp, keras.ops.sum(self.matrix, axis=1))
        per_class = {"precision": precision, "recall": recall,
                     "f1": keras.ops.divide_no_nan(2 * precision * recall, precision + recall)}
        return keras.ops.mean(per_class[self.kind])

    def reset_state(self):
        self.matrix.assign(keras.ops.zeros(self.matrix.shape, self.dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes, "kind": self.kind}


@keras.saving.register_keras_serializable(package="zoo")
class SparseF1(_OneHotLabels, keras.metrics.F1Score):
    """Keras's macro `F1Score` of argmax predictions, fed integer class labels."""

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(average="macro", threshold=None,
                         **{k: v for k, v in kwargs.items() if k not in ("average", "threshold")})
        self.num_classes = num_classes

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="zoo")
class SparseAUC(_OneHotLabels, keras.metrics.AUC):
    def __init__(self, num_classes: int, **kwargs):
        super().__init__(multi_label=True, num_labels=num_classes,
                         **{k: v for k, v in kwargs.items() if k not in ("multi_label", "num_labels")})
        self.num_classes = num_classes

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes}


def accuracy(info: DatasetInfo) -> keras.metrics.Metric:
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy")


def precision(info: DatasetInfo) -> keras.metrics.Metric:
    return MacroAverage(info.num_classes, "precision")


def recall(info: DatasetInfo) -> keras.metrics.Metric:
    return MacroAverage(info.num_classes, "recall")


def f1(info: DatasetInfo) -> keras.metrics.Metric:
    return SparseF1(info.num_classes, name="f1")


def auc(info: DatasetInfo) -> keras.metrics.Metric:
    return SparseAUC(info.num_classes, name="auc")


def mae(info: DatasetInfo) -> keras.metrics.Metric:
    return keras.metrics.MeanAbsoluteError(name="mae")


def mse(info: DatasetInfo) -> keras.metrics.Metric:
    return keras.metrics.MeanSquaredError(name="mse")


def r2(info: DatasetInfo) -> keras.metrics.Metric:
    return keras.metrics.R2Score(name="r2")
