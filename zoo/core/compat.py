"""Work-arounds for Keras/TF behaviour that other code must not depend on, each with its reason.

Each function here is checked by `tests/test_compat.py`, which fails when upstream changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def freeze_normalization(model: Any) -> None:
    """Store adapted `Normalization` means and variances as numpy arrays before an ONNX conversion.

    Keras 3.15 keeps them as eager tensors, which `tf.function` captures as placeholders; tf2onnx 1.17
    then turns each into an extra graph input (`.../normalization/Sub/y:0`), so the ONNX model cannot
    run (Keras's own `model.export(format="onnx")` has the same fault). Numpy arrays become constants.
    The values are unchanged, so the Keras model computes exactly what it did.
    """
    import keras

    for layer in _all_layers(model):
        normalization = isinstance(layer, keras.layers.Normalization) and layer.built
        if normalization and hasattr(layer, "mean") and not isinstance(layer.mean, np.ndarray):
            layer.mean = np.asarray(layer.mean)
            layer.variance = np.asarray(layer.variance)


def _all_layers(model: Any) -> list[Any]:
    """Every layer of `model`, nested models' layers included (public `layers` only)."""
    found, stack = [], [model]
    while stack:
        layer = stack.pop()
        found.append(layer)
        stack.extend(getattr(layer, "layers", []))
    return found
