"""What of a run gets exported: one or more *parts*, each a Keras model with its signature.

A classifier or regressor is one part, `model`. A family whose deployable models are not the trained
Keras model itself defines `parts(model, prepared) -> list[ExportPart]` on its `ExportModule`:
a GAN exports its generator, a VAE its encoder and its decoder. Each part is exported, checked and
bundled on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import ZooError

DEFAULT_PART = "model"
Sample = Callable[[str, int], tuple[list[np.ndarray], np.ndarray | None]]


@dataclass
class ExportPart:
    """One exportable Keras model: its inputs, a source of check data, and what it outputs.

    `sample(split, limit)` gives up to `limit` inputs (in signature order) for split `train`
    (int8 calibration) or `test` (the check), with labels when the task has a metric, else None.
    `outputs` and `preprocessing` go to `export.json` as they are; `input_kind` says what
    `zoo predict` reads for it: `data` (the dataset's examples) or `latent` (latent vectors).
    """

    name: str
    model: Any
    specs: list[Any]
    sample: Sample
    outputs: dict[str, Any]
    preprocessing: dict[str, Any] = field(default_factory=lambda: {"normalize": False, "mean": None,
                                                                   "std": None})
    input_kind: str = "data"
    metric_task: str | None = None  # classification | regression: the quantized check's metric
    features: list[dict[str, Any]] | None = None  # raw inputs (`zoo.data.features`), if any
    tolerance_scale: float = 1.0  # float check: |keras - exported| <= tolerance x this (output scale)
    description: str = ""
    # ONNX only: writes further graphs beside the checked artifact (a decoder's key/value-cache
    # graph), checks them itself, and returns what `export.json`'s `outputs` gains
    companions: Callable[[Path, dict[str, Any]], dict[str, Any]] | None = None


def as_inputs(features: Any, specs: list[Any]) -> list[np.ndarray]:
    """Model features (an array, a tuple or a dict of them) as a list in signature order."""
    if isinstance(features, dict):
        return [np.asarray(features[s.name]) for s in specs]
    if isinstance(features, tuple | list):
        return [np.asarray(f) for f in features]
    return [np.asarray(features)]


def sample_arrays(split: Any, info: Any, specs: list[Any], limit: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Up to `limit` normalised examples of a split as model inputs and labels."""
    return take(split, info, specs, limit)


def take(split: Any, info: Any, specs: list[Any], limit: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Up to `limit` examples of a split (`eval_stream` of `info`; None: as they are) as inputs in
    signature order, strings as numpy object arrays of `str`, and their labels."""
    from zoo.data.pipeline import eval_stream

    chunks, labels, n = [], [], 0
    for features, label, *_ in eval_stream(split, info, 256, cache=False):
        chunks.append([np.vectorize(bytes.decode, otypes=[object])(x) if x.dtype == object else x
                       for x in as_inputs(features, specs)])
        labels.append(np.asarray(label))
        n += len(labels[-1])
        if n >= limit:
            break
    inputs = [np.concatenate([c[i] for c in chunks])[:limit] for i in range(len(specs))]
    return inputs, np.concatenate(labels)[:limit]


def raw_arrays(split: Any, specs: list[Any], limit: int, resize: list[int] | None = None
               ) -> tuple[list[np.ndarray], np.ndarray]:
    """Up to `limit` raw examples of a split (strings as numpy object arrays of str) and labels.

    Images of varying size are brought to `resize` first (rounded, in their own dtype), so that they
    batch; `zoo predict` on images of other sizes is checked against Keras by the tests."""
    if resize:
        import tensorflow as tf

        def same_size(image: Any, label: Any, *rest: Any) -> tuple:
            resized = tf.image.resize(tf.cast(image, tf.float32), resize)
            resized = tf.round(resized) if image.dtype.is_integer else resized
            return (tf.cast(resized, image.dtype), label, *rest)

        split = split.map(same_size)
    return take(split, None, specs, limit)


def raw_specs(features: list[dict[str, Any]]) -> list[Any]:
    """The `tf.TensorSpec`s of raw inputs (batch dimension dynamic)."""
    from zoo.core.lazy import import_tensorflow

    tf = import_tensorflow()
    return [tf.TensorSpec((None, *f["shape"]), tf.as_dtype(f["dtype"]), name=f["name"]) for f in features]


def raw_part(model: Any, export: Any, prepared: Any) -> ExportPart:
    """The network behind its fitted preprocessor: a bundle that takes raw examples."""
    info = prepared.info
    specs = raw_specs(info.features)
    resize = info.features[0].get("resize") if len(info.features) == 1 else None

    def sample(split: str, limit: int) -> tuple[list[np.ndarray], np.ndarray | None]:
        return raw_arrays(prepared.raw[split], specs, limit, resize)

    kind = "probabilities" if info.task == "classification" else "values"
    return ExportPart(DEFAULT_PART, export.saved_model(model, prepared), specs, sample,
                      {"kind": kind, "class_names": info.class_names}, {"inside_model": True},
                      metric_task=info.task, features=info.features,
                      tolerance_scale=max(1.0, abs((info.target or {}).get("std", 1.0))))


def default_parts(model: Any, export: Any, prepared: Any) -> list[ExportPart]:
    """The trained model itself, taking normalised dataset examples (one part named `model`);
    `export` is the family's `ExportModule`, `prepared` the run's `Prepared` data."""
    from zoo.runtime.signature import input_signature

    info = prepared.info
    if prepared.preprocessor is not None:
        return [raw_part(model, export, prepared)]
    specs = input_signature(model, export, info)

    def sample(split: str, limit: int) -> tuple[list[np.ndarray], np.ndarray | None]:
        return sample_arrays(getattr(prepared, split), info, specs, limit)

    scaling = info.scaling  # export.json's preprocessing: (x - mean) / std, applied by the runtime
    preprocessing: dict[str, Any] = {"normalize": scaling is not None, "mean": scaling and scaling.offset,
                                     "std": scaling and scaling.scale}
    text = export.text(info)
    if text:
        preprocessing["text"] = text
    kind = "probabilities" if info.task == "classification" else "values"
    return [ExportPart(DEFAULT_PART, model, specs, sample, {"kind": kind, "class_names": info.class_names},
                       preprocessing, metric_task=info.task)]


def export_parts(model: Any, export: Any, prepared: Any) -> list[ExportPart]:
    """The parts the family's `ExportModule` exports (by default the model itself)."""
    return list(export.parts(model, prepared))


def select(parts: list[ExportPart], wanted: str) -> list[ExportPart]:
    """`part=all` (every part) or one part by name; a ZooError lists the names."""
    if wanted in ("all", "", None):
        return parts
    chosen = [p for p in parts if p.name == wanted]
    if not chosen:
        raise ZooError(f"part={wanted!r}: this model exports {', '.join(p.name for p in parts)} "
                       "(or part=all)")
    return chosen
