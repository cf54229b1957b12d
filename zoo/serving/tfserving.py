"""TF Serving's REST API: predict (row and columnar formats), classify, regress, status and metadata.

Paths are TF Serving's: `/v1/models/NAME[/versions/N | /labels/L][:predict | :classify | :regress |
/metadata]`, plus `/drift` (input drift against the training data) here. Errors are TF Serving's
`{"error": "..."}` with 400 for a bad argument and 404 for an unknown model, version or label.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from zoo.core.errors import DataError
from zoo.serving.codec import ApiError, finite_list, text_values, to_array
from zoo.serving.repository import ServedVersion

ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
                   r"(?P<tail>/metadata|/drift|:predict|:classify|:regress)?/?$")
SIGNATURE = "serving_default"
TF_DTYPES = {"float16": "DT_HALF", "float32": "DT_FLOAT", "float64": "DT_DOUBLE", "int8": "DT_INT8",
             "int16": "DT_INT16", "int32": "DT_INT32", "int64": "DT_INT64", "uint8": "DT_UINT8",
             "bool": "DT_BOOL", "string": "DT_STRING"}


def check_signature(body: dict[str, Any]) -> None:
    name = body.get("signature_name")
    if name not in (None, "", SIGNATURE):
        raise ApiError(400, f'Serving signature name: "{name}" not found in signature def: this model has '
                       f'"{SIGNATURE}" only')


def _looks_like_text(value: Any) -> bool:
    """A text instance: a string, a b64 value, or a list whose first item is one (a sentence pair)."""
    return (isinstance(value, str) or (isinstance(value, dict) and set(value) == {"b64"})
            or (isinstance(value, list) and bool(value) and isinstance(value[0], str | dict)))


def _texts(served: ServedVersion, rows: list[Any]) -> list[np.ndarray]:
    """Text instances (strings, b64 text, or pairs) tokenised into the model's inputs."""
    from zoo.runtime.text import as_text

    pairs = bool(served.bundle.text_spec.get("pairs"))
    try:
        texts = [as_text(text_values(row, f"instance {i}") if isinstance(row, dict) else row, pairs,
                         f"instance {i}") for i, row in enumerate(rows)]
    except DataError as exc:
        raise ApiError(400, str(exc)) from None
    return served.bundle.encode_texts(texts)


def _count(n: int, limit: int) -> None:
    if n == 0:
        raise ApiError(400, "the request holds no instances: send at least one")
    if n > limit:
        raise ApiError(413, f"{n} instances in one request, the limit is {limit}: split it")


def _by_name(rows: list[Any], specs: list[dict[str, Any]], what: str) -> list[list[Any]]:
    """Columns of named instances (`{"input name": value}`), in signature order."""
    names = [s["name"] for s in specs]
    if not all(isinstance(r, dict) for r in rows):
        raise ApiError(400, f"each {what} must be an object with {', '.join(names)}")
    columns = []
    for name in names:
        missing = next((i for i, r in enumerate(rows) if name not in r), None)
        if missing is not None:
            raise ApiError(400, f"{what} {missing} lacks input {name!r}: give {', '.join(names)}")
        columns.append([r[name] for r in rows])
    unknown = sorted(set().union(*rows) - set(names))
    if unknown:
        raise ApiError(400, f"unknown input(s) {', '.join(map(repr, unknown))}: the model takes "
                       f"{', '.join(names)}")
    return columns


def _named(rows: list[Any]) -> bool:
    """Rows of `{"input name": value}` objects (a `{"b64": ...}` value is not a name)."""
    return isinstance(rows[0], dict) and set(rows[0]) != {"b64"}


def row_inputs(served: ServedVersion, rows: Any, limit: int, what: str = "instance") -> list[np.ndarray]:
    """Arrays in signature order from TF Serving's row format (`instances`, or classify `examples`)."""
    if not isinstance(rows, list):
        raise ApiError(400, f'"instances" must be a list, got {type(rows).__name__}')
    _count(len(rows), limit)
    if served.bundle.takes_text and _looks_like_text(rows[0]):
        return _texts(served, rows)
    specs = served.bundle.inputs
    columns = [rows] if len(specs) == 1 and not _named(rows) else _by_name(rows, specs, what)
    return [to_array(c, s, f"input {s['name']!r}") for c, s in zip(columns, specs, strict=True)]


def column_inputs(served: ServedVersion, inputs: Any, limit: int) -> list[np.ndarray]:
    """Arrays in signature order from TF Serving's columnar format (`inputs`: a tensor, or one per name)."""
    specs = served.bundle.inputs
    names = [s["name"] for s in specs]
    if isinstance(inputs, dict) and set(inputs) != {"b64"}:
        unknown = sorted(set(inputs) - set(names))
        missing = [n for n in names if n not in inputs]
        if unknown or missing:
            raise ApiError(400, f"named inputs {', '.join(map(repr, sorted(inputs)))} do not match the "
                           f"model's {', '.join(names)}")
        columns = [inputs[n] for n in names]
    elif len(specs) == 1 or served.bundle.takes_text:
        if not isinstance(inputs, list):
            raise ApiError(400, '"inputs" must be a list (a batch) or an object of one list per input')
        if served.bundle.takes_text and inputs and _looks_like_text(inputs[0]):
            _count(len(inputs), limit)
            return _texts(served, inputs)
        columns = [inputs]
    else:
        raise ApiError(400, f'"inputs" must be an object with {", ".join(names)}')
    arrays = []
    for column, spec in zip(columns, specs, strict=True):
        if not isinstance(column, list):
            raise ApiError(400, f"input {spec['name']!r} must be a list with one item per example")
        _count(len(column), limit)
        arrays.append(to_array(column, spec, f"input {spec['name']!r}"))
    if len({len(a) for a in arrays}) > 1:
        raise ApiError(400, "the named inputs hold different numbers of examples: "
                       + ", ".join(f"{s['name']}={len(a)}" for s, a in zip(specs, arrays, strict=True)))
    return arrays


def request_inputs(served: ServedVersion, body: Any, limit: int) -> tuple[list[np.ndarray], bool]:
    """A predict body's arrays and whether it used the row format."""
    if not isinstance(body, dict):
        raise ApiError(400, 'the body must be a JSON object: {"instances": [...]} or {"inputs": ...}')
    check_signature(body)
    if ("instances" in body) == ("inputs" in body):
        raise ApiError(400, 'the body must be {"instances": [...]} (row format) or {"inputs": ...} '
                       "(columnar format), exactly one of them")
    if "instances" in body:
        return row_inputs(served, body["instances"], limit), True
    return column_inputs(served, body["inputs"], limit), False


def predict_answer(served: ServedVersion, outputs: dict[str, np.ndarray], rows: bool) -> dict[str, Any]:
    """TF Serving's answer: `predictions` (row format) or `outputs` (columnar); class labels too."""
    values = {name: finite_list(v, name) for name, v in outputs.items()}
    if not rows:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) > 1:  # named outputs (a VAE encoder): one object per example
        n = len(next(iter(outputs.values())))
        return {"predictions": [{k: v[i] for k, v in values.items()} for i in range(n)]}
    answer: dict[str, Any] = {"predictions": next(iter(values.values()))}
    if kind(served) == "classifier":
        answer["labels"] = served.bundle.labels(next(iter(outputs.values())))
    return answer


def examples_inputs(served: ServedVersion, body: Any, limit: int) -> list[np.ndarray]:
    """Classify/regress bodies: `examples` (objects of input name -> value) merged with `context`."""
    if not isinstance(body, dict) or not isinstance(body.get("examples"), list):
        raise ApiError(400, 'the body must be {"examples": [{"input name": value, ...}, ...]}')
    check_signature(body)
    context = body.get("context") or {}
    if not isinstance(context, dict):
        raise ApiError(400, '"context" must be an object of input name -> value')
    rows = [context | e if isinstance(e, dict) else e for e in body["examples"]]
    _count(len(rows), limit)
    specs = served.bundle.inputs
    columns = _by_name(rows, specs, "example")
    return [to_array(c, s, f"input {s['name']!r}") for c, s in zip(columns, specs, strict=True)]


def kind(served: ServedVersion) -> str:
    """classifier, regressor or other (generative parts: predict only)."""
    bundle = served.bundle
    if bundle.output_kind == "probabilities" and bundle.export.task == "classification":
        return "classifier"
    return "regressor" if bundle.output_kind == "values" else "other"


def classify_answer(served: ServedVersion, outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    probs = next(iter(outputs.values()))
    names = served.bundle.class_names or [str(i) for i in range(probs.shape[-1])]
    scores = finite_list(probs, "probabilities")
    return {"result": [[[n, s] for n, s in zip(names, row, strict=True)] for row in scores]}


def regress_answer(outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    values = next(iter(outputs.values()))
    return {"result": finite_list(values.reshape(len(values), -1)[:, 0], "prediction")}


def _tensor_info(spec: dict[str, Any]) -> dict[str, Any]:
    dims = [{"size": str(-1 if d is None else d), "name": ""} for d in spec["shape"]]
    return {"dtype": TF_DTYPES.get(spec["dtype"], "DT_INVALID"),
            "tensor_shape": {"dim": dims, "unknown_rank": False}, "name": spec["name"]}


def metadata(served: ServedVersion) -> dict[str, Any]:
    """TF Serving's `GET .../metadata`: the signature, plus what the bundle says of itself under `zoo`."""
    meta = served.bundle.export
    signature = {"inputs": {s["name"]: _tensor_info(s) for s in served.bundle.inputs},
                 "outputs": {s["name"]: _tensor_info(s) for s in served.output_specs},
                 "method_name": "tensorflow/serving/predict"}
    return {"model_spec": {"name": served.model, "signature_name": "", "version": str(served.version)},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}},
                         "zoo": {"task": meta.task, "modality": meta.modality, "kind": kind(served),
                                 "class_names": served.bundle.class_names, "format": meta.format,
                                 "part": served.bundle.part,
                                 "text": (served.bundle.text_spec or {}).get("tokenizer"),
                                 "quantize": meta.quantize, "verification": meta.verification,
                                 "drift_profile": served.drift is not None}}}
