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


# --- Keras 3.15 private attributes: the only place outside Keras that reads them ----------------

def nested_layers(model: Any, include_self: bool = False) -> list[Any]:
    """Every layer inside `model`, nested models' layers included, in Keras's own order.

    Keras has no public walk over nested layers; `Layer._flatten_layers` is what its own saving,
    training and summaries use (keras/src/layers/layer.py). Used by DP-SGD's refusals and the
    per-epoch reseeding of random layers.
    """
    return list(model._flatten_layers(include_self=include_self))


def seed_generators(model: Any) -> list[Any]:
    """The `keras.random.SeedGenerator`s of every layer (dropout, noise): `Layer._seed_generators`
    has no public accessor (keras-team/keras#19399 asks for one)."""
    return [sg for layer in nested_layers(model, include_self=True)
            for sg in getattr(layer, "_seed_generators", [])]


def loss_tracker(model: Any) -> Any:
    """The `Mean` metric behind the `loss` entry of `fit`'s logs (`Trainer._loss_tracker`), which a
    custom `train_step` that computes its own loss must update as Keras's own step does."""
    return model._loss_tracker


def takes_a_dict(model: Any) -> bool:
    """Whether a functional model is called with a dict of its inputs: `Functional._inputs_struct`
    keeps the structure it was built with (the public `model.inputs` is always a flat list)."""
    return isinstance(getattr(model, "_inputs_struct", None), dict)


def build_symbolically(model: Any, data_batch: Any) -> None:
    """Build model, loss, metrics and optimizer variables from symbolic shapes (the private
    `Trainer._symbolic_build`), then turn off the build Keras would run on the first real batch
    (`_maybe_symbolic_build`), which under MultiWorkerMirroredStrategy reduces a PerReplica batch
    outside a replica context (keras-team/keras#20585, tensorflow/tensorflow#72388)."""
    import types

    model._symbolic_build(data_batch=data_batch)

    def already_built(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        return None

    model._maybe_symbolic_build = types.MethodType(already_built, model)


def tflite_output_names(interpreter: Any) -> dict[str, int]:
    """Output name -> tensor index of a TFLite model's first signature.

    The public `get_signature_list()` names outputs but not their tensors, and
    `get_output_details()` has only converter-made names (`StatefulPartitionedCall:1`);
    `Interpreter._get_full_signature_list` has both. Empty when it is gone."""
    full = getattr(interpreter, "_get_full_signature_list", dict)
    signatures = full() or {}
    return dict(next(iter(signatures.values()), {}).get("outputs", {}))


def distiller_student_features(distiller: Any, inputs: Any, training: Any) -> dict[str, Any]:
    """The outputs of every layer a `keras.distillation.Distiller` distils from, in one student
    pass (`Distiller._student_feature_extractor`, built by Keras for its feature losses)."""
    return distiller._student_feature_extractor(inputs, training=training)
