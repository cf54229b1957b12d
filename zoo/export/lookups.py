"""String lookups in front of a graph whose runtime cannot look strings up (ONNX, TFLite).

tf2onnx 1.17 cannot convert Keras's `StringLookup` (LookupTableFindV2) and TFLite runs it only with
Flex ops. So the converted graph takes each categorical column's integer id (the model behind its
lookups), and the lookup travels beside it: for ONNX, an ONNX-ML `LabelEncoder` node per column
(strings -> the `StringLookup` ids, unknown -> its out-of-vocabulary id 0) added to the graph, so the
bundle still takes raw strings; for TFLite, the vocabularies in `lookups.json`, applied by the runner.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.data.features import CATEGORICAL, HASHED
from zoo.export.convert import ExportError
from zoo.runtime.lookups import LOOKUPS_JSON

IDS_SUFFIX = "__ids"


def string_features(features: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [f for f in features or [] if f["dtype"] == "string"]


def split_lookups(model: Any, specs: list[Any], features: list[dict[str, Any]] | None, fmt: str
                  ) -> tuple[Any, list[Any], dict[str, list[str]]]:
    """(the model behind its lookups, its specs, vocabulary per looked-up input); unchanged when the
    model takes no strings."""
    strings = string_features(features)
    if not strings:
        return model, specs, {}
    hashed = [f["column"] for f in strings if f["kind"] == HASHED]
    if hashed:
        raise ExportError(f"column {hashed[0]!r} is hashed, which format={fmt} cannot compute: export "
                          "format=savedmodel or keras, or train with it as a categorical column")
    import keras

    from zoo.core.lazy import import_tensorflow
    from zoo.preprocessing.assemble import parts
    from zoo.preprocessing.fit import ENCODER, lookup_name

    tf = import_tensorflow()
    preprocessor, network = parts(model)
    encoder = preprocessor.get_layer(ENCODER)
    vocab = {f["name"]: [str(v) for v in preprocessor.get_layer(lookup_name(f)).get_vocabulary()]
             for f in strings if f["kind"] == CATEGORICAL}
    inputs, new_specs = {}, []
    for spec in specs:
        if spec.name in vocab:
            spec = tf.TensorSpec(spec.shape, tf.int64, name=spec.name)
        inputs[spec.name] = keras.Input(tuple(spec.shape[1:]), dtype=spec.dtype.name, name=spec.name)
        new_specs.append(spec)
    lowered = keras.Model(inputs, network(encoder(inputs)), name=f"{network.name}_by_ids")
    return lowered, new_specs, vocab


def prepend_to_onnx(path: Path, vocab: dict[str, list[str]]) -> None:
    """Rewrite the ONNX file at `path`: each id input becomes a string input through a LabelEncoder."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    graph = model.graph
    for inp in list(graph.input):
        if inp.name not in vocab:
            continue
        ids = inp.name + IDS_SUFFIX
        for node in graph.node:
            node.input[:] = [ids if name == inp.name else name for name in node.input]
        shape = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
        words = vocab[inp.name]  # index 0 is the out-of-vocabulary token
        encoder = helper.make_node("LabelEncoder", [inp.name], [ids], domain="ai.onnx.ml",
                                   name=f"lookup_{inp.name}", keys_strings=words[1:],
                                   values_int64s=list(range(1, len(words))), default_int64=0)
        graph.node.insert(0, encoder)
        position = list(graph.input).index(inp)
        graph.input.remove(inp)
        graph.input.insert(position, helper.make_tensor_value_info(inp.name, TensorProto.STRING, shape))
    ml = [op for op in model.opset_import if op.domain == "ai.onnx.ml"]
    if ml:
        ml[0].version = max(ml[0].version, 2)  # LabelEncoder's string keys and int64 values
    else:
        model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 2))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def write_vocabularies(folder: Path, vocab: dict[str, list[str]]) -> None:
    (folder / LOOKUPS_JSON).write_text(json.dumps(vocab, ensure_ascii=False))
