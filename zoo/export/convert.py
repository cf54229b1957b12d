"""Write one artifact per format: ONNX (tf2onnx), SavedModel (Keras export), TFLite, Keras int8."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from zoo.config.commands import QUANTIZATIONS
from zoo.core.errors import ZooError
from zoo.core.lazy import import_tensorflow
from zoo.runtime.signature import model_inputs, serving_function

MODEL_FILES = {"onnx": "model.onnx", "savedmodel": "saved_model", "tflite": "model.tflite",
               "keras": "model.keras"}
# ONNX int8/int4: the weights of a language model's key/value-cache decoder (the other graphs stay float)
QUANTIZE = {"onnx": ("none", "int8", "int4"), "savedmodel": ("none",),
            "tflite": tuple(q for q in QUANTIZATIONS if q != "int4"), "keras": ("none", "int8")}


class ExportError(ZooError):
    """An export failed, or its artifact does not compute what the Keras model computes."""


# TensorFlow ops tf2onnx leaves unconverted, and what the user can do about them.
UNCONVERTED_HINTS = {
    "Erfc": "it is exact GELU (Keras `gelu`, approximate=False): build the layer with "
            "keras.activations.gelu(x, approximate=True), or export format=savedmodel",
}


@contextlib.contextmanager
def tf2onnx_messages_to_the_log() -> Iterator[None]:
    """tf2onnx's own warnings and errors go to the `zoo.export` log (shown with --verbose), not
    to the console: what matters of them reaches the user as one `zoo: error:` line."""
    logger = logging.getLogger("tf2onnx")
    saved = logger.handlers[:], logger.propagate
    handler = _Forward()
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers[:], logger.propagate = saved


class _Forward(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger("zoo.export").info("tf2onnx: %s", record.getMessage())


def check_converted(proto: Any, opset: int | None) -> None:
    """Refuse an ONNX graph holding a TensorFlow op tf2onnx could not convert, naming the layer
    (the node's name is the Keras layer path) and the fix."""
    import onnx

    for node in proto.graph.node:
        if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type, ""):
            layer = "/".join(node.name.split("/")[:-1]) or node.name
            hint = UNCONVERTED_HINTS.get(node.op_type, "replace that layer with one built from "
                                         "standard ops, or export format=savedmodel")
            raise ExportError(f"ONNX export: layer {layer!r} uses the TensorFlow op {node.op_type}, "
                              f"which tf2onnx cannot convert (opset={opset}): {hint}")


def to_onnx(model: Any, specs: list[Any], path: Path, opset: int | None,
            features: list[dict[str, Any]] | None = None) -> None:
    """ONNX through `tf2onnx.convert.from_function` (`from_keras` fails on Keras 3 models); string
    lookups become ONNX-ML LabelEncoders in front of the converted graph (`zoo.export.lookups`)."""
    import tf2onnx

    from zoo.core.compat import freeze_normalization
    from zoo.export.lookups import prepend_to_onnx, split_lookups

    model, specs, vocab = split_lookups(model, specs, features, "onnx")
    freeze_normalization(model)
    fn = serving_function(model, specs)
    with tf2onnx_messages_to_the_log():
        try:
            proto, _ = tf2onnx.convert.from_function(fn, input_signature=specs, opset=opset,
                                                     output_path=str(path))
        except ValueError as exc:
            raise ExportError(f"ONNX conversion failed at opset={opset}: {exc} "
                              "(try another opset=...)") from exc
    check_converted(proto, opset)
    if vocab:
        prepend_to_onnx(path, vocab)


def to_savedmodel(model: Any, specs: list[Any], path: Path) -> None:
    """A SavedModel with a `serving_default` signature (what TF Serving loads)."""
    tf = import_tensorflow()
    fn = serving_function(model, specs)
    module = tf.Module()
    module.model = model
    # Every variable, seed-generator states of nested models included, so the signature's captures
    # are reachable from the root (a nested network's Dropout state is not, through `model` alone).
    module.model_variables = list(model.variables)
    module.serve = fn
    tf.saved_model.save(module, str(path), signatures={"serving_default": fn.get_concrete_function()})


def _converter_options(quantize: str, representative: Callable[[], Iterator[list[np.ndarray]]] | None
                       ) -> dict[str, Any]:
    """TFLite converter settings of a quantization mode (passed through Keras's LiteRT export)."""
    tf = import_tensorflow()
    if quantize == "none":
        return {}
    options: dict[str, Any] = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if quantize == "float16":
        options["target_spec"] = {"supported_types": [tf.float16]}
    elif quantize == "int8":
        options["representative_dataset"] = representative
    return options


def to_tflite(model: Any, specs: list[Any], path: Path, quantize: str,
              representative: Callable[[], Iterator[list[np.ndarray]]] | None = None,
              features: list[dict[str, Any]] | None = None) -> None:
    """TFLite (LiteRT) through Keras's `format="litert"`; `quantize` = none | float16 | dynamic | int8.
    String lookups stay outside the graph, in `lookups.json` beside it (`zoo.export.lookups`)."""
    from zoo.export.lookups import split_lookups, write_vocabularies
    from zoo.runtime.lookups import Lookups

    model, specs, vocab = split_lookups(model, specs, features, "tflite")
    if vocab:
        write_vocabularies(path.parent, vocab)
        lookups, raw = Lookups(path.parent, [s.name for s in specs]), representative
        representative = raw and (lambda: (lookups.apply(xs) for xs in raw()))
    # Keras calls `model(*input_signature, training=False)`: several inputs go as one structure.
    names = [spec.name for spec in specs]
    signature = specs if len(specs) == 1 else [model_inputs(model, names, specs)]
    model.export(str(path), format="litert", input_signature=signature, verbose=False,
                 **_converter_options(quantize, representative))


def to_keras_int8(model: Any, path: Path, quantize: str) -> Any:
    """The Keras model itself, weights quantized in place with `model.quantize("int8")`."""
    if quantize == "int8":
        with warnings.catch_warnings():  # layers without weights (pooling, activations) stay float
            warnings.filterwarnings("ignore", message="Layer .* does not have a `quantize` method")
            model.quantize("int8")
    model.save(path)
    return model
