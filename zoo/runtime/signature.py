"""The input signature an exported model is traced with: names, shapes (batch dynamic), dtypes.

A family whose model takes other inputs than its Keras `model.inputs` say (a BERT's token ids,
segment ids and padding mask) defines `signature(model, info) -> list[tf.TensorSpec]` on
its `ExportModule`; every other model is exported with the Keras model's own inputs.
"""

from __future__ import annotations

from typing import Any

from zoo.core.compat import takes_a_dict
from zoo.core.lazy import import_tensorflow


def input_signature(model: Any, export: Any, info: Any) -> list[Any]:
    """`tf.TensorSpec`s of the model's inputs, with a dynamic batch dimension (`export`: the
    family's `ExportModule`, or None)."""
    tf = import_tensorflow()
    custom = export.signature(model, info) if export is not None else None
    if custom is not None:
        return list(custom)
    specs = []
    for i, tensor in enumerate(model.inputs):
        name = (getattr(tensor, "name", None) or f"input_{i}").split(":")[0]
        specs.append(tf.TensorSpec((None, *tensor.shape[1:]), tf.as_dtype(tensor.dtype), name=name))
    return specs


def model_inputs(model: Any, names: list[str], tensors: list[Any]) -> Any:
    """Tensors in the structure the model is called with: one tensor, a dict by name, or a list."""
    if takes_a_dict(model):
        return dict(zip(names, tensors, strict=True))
    return tensors[0] if len(tensors) == 1 else list(tensors)


def serving_function(model: Any, specs: list[Any]) -> Any:
    """A `tf.function` calling `model` in inference mode with keyword inputs named as `specs`."""
    tf = import_tensorflow()
    names = [spec.name for spec in specs]

    def call(*tensors: Any) -> Any:
        return model(model_inputs(model, names, list(tensors)), training=False)

    return tf.function(call, input_signature=specs)


SCHEMA_KEYS = ("column", "kind", "categories", "missing", "fill", "bins", "resize")


def describe(specs: list[Any], features: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """JSON form of the signature: name, shape (null = any size), dtype, and for raw inputs what they
    accept (`zoo.data.features`: source column, kind, categories, whether blanks are imputed)."""
    raw = {f["name"]: f for f in features or []}
    return [{"name": s.name, "shape": [None if d is None else int(d) for d in s.shape],
             "dtype": s.dtype.name,
             **{k: raw[s.name][k] for k in SCHEMA_KEYS if raw.get(s.name, {}).get(k) is not None}}
            for s in specs]
