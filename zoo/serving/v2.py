"""The Open Inference Protocol v2 (KServe, Triton, Seldon): health, metadata and `infer`, JSON or binary.

Binary tensor data is the Triton extension `tritonclient.http` uses by default: the body is a JSON
header of `Inference-Header-Content-Length` bytes followed by the raw tensors (little-endian; BYTES
elements each behind a 4-byte length) in the order of the inputs whose `parameters` give
`binary_data_size`. Outputs go back binary when the request asks (`binary_data` per output, or
`binary_data_output` for all). A text bundle also takes a BYTES input `text` (and `text_pair`).
"""

from __future__ import annotations

import math
import re
import struct
from typing import Any

import numpy as np

from zoo.core.version import __version__
from zoo.serving.codec import (
    ApiError,
    check_shape,
    column_numbers,
    dumps,
    finite_list,
    imputed,
    numbers,
    parse_json,
)
from zoo.serving.repository import ModelEntry, ServedVersion

ROUTE = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?"
                   r"(?P<tail>/ready|/infer|/drift)?/?$")
DATATYPES = {"bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
             "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64", "float16": "FP16",
             "float32": "FP32", "float64": "FP64", "string": "BYTES", "object": "BYTES"}
NUMPY = {v: k for k, v in DATATYPES.items() if k != "object"}
HEADER = "inference-header-content-length"
MAX_RANK = 8


def server_metadata() -> dict[str, Any]:
    return {"name": "keras-zoo", "version": __version__, "extensions": ["binary_tensor_data"]}


def _tensor(spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": spec["name"], "datatype": DATATYPES.get(spec["dtype"], spec["dtype"].upper()),
            "shape": [-1 if d is None else int(d) for d in spec["shape"]]}


def model_metadata(entry: ModelEntry, served: ServedVersion) -> dict[str, Any]:
    fmt = served.bundle.export.format
    return {"name": entry.name, "versions": [str(v) for v in sorted(entry.versions)],
            "platform": "onnxruntime_onnx" if fmt == "onnx" else f"zoo_{fmt}",
            "inputs": [_tensor(s) for s in served.bundle.inputs],
            "outputs": [_tensor(s) for s in served.output_specs]}


def _split(raw: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return raw, b""
    if not header_length.isdigit() or int(header_length) > len(raw):
        raise ApiError(400, f"Inference-Header-Content-Length {header_length!r} is not a length within "
                       f"the body of {len(raw)} bytes")
    return raw[:int(header_length)], raw[int(header_length):]


def parameters(holder: dict[str, Any], where: str) -> dict[str, Any]:
    """The `parameters` object of a request, input or output ({} when absent); anything else is a 400."""
    value = holder.get("parameters")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f"{where}: \"parameters\" must be an object, got {type(value).__name__}")
    return value


def _shape(item: dict[str, Any], where: str, limit: int) -> list[int]:
    """The declared shape: 1 to MAX_RANK positive integers, at most `limit` instances."""
    shape = item.get("shape")
    if (not isinstance(shape, list) or not 0 < len(shape) <= MAX_RANK
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
        raise ApiError(400, f"{where}: shape must be a list of 1 to {MAX_RANK} positive integers (the "
                       f"batch first), got {shape!r:.60}")
    if shape[0] > limit:
        raise ApiError(413, f"{shape[0]} instances in one request, the limit is {limit}: split it")
    return shape


def _bytes_elements(blob: bytes, count: int, where: str) -> np.ndarray:
    values, offset = [], 0
    for _ in range(count):
        if offset + 4 > len(blob):
            raise ApiError(400, f"{where}: BYTES data ends inside an element's length")
        (size,) = struct.unpack_from("<I", blob, offset)
        offset += 4
        if offset + size > len(blob):
            raise ApiError(400, f"{where}: BYTES element of {size} bytes runs past the data")
        try:
            values.append(blob[offset:offset + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(400, f"{where}: a BYTES element is not UTF-8 text") from None
        offset += size
    if offset != len(blob):
        raise ApiError(400, f"{where}: {len(blob) - offset} bytes of BYTES data left over")
    return np.array(values, dtype=object)


def _decode(item: dict[str, Any], binary: bytes | None, where: str, limit: int,
            imputes: bool = False) -> np.ndarray:
    """One input tensor from its JSON `data` or its binary bytes, in its declared shape; a column the
    model imputes takes `null` (JSON) or NaN (binary) as a missing value."""
    shape = _shape(item, where, limit)
    datatype = item.get("datatype")
    if datatype not in NUMPY:
        raise ApiError(400, f"{where}: datatype {datatype!r} is not one of {', '.join(sorted(NUMPY))}")
    count = math.prod(shape)
    if binary is not None:
        if datatype == "BYTES":
            flat = _bytes_elements(binary, count, where)
        else:
            dtype = np.dtype(NUMPY[datatype]).newbyteorder("<")
            if len(binary) != count * dtype.itemsize:
                raise ApiError(400, f"{where}: {len(binary)} bytes of binary data for shape {shape} of "
                               f"{datatype} ({count * dtype.itemsize} expected)")
            flat = np.frombuffer(binary, dtype).astype(NUMPY[datatype])
            if flat.dtype.kind == "f" and not np.isfinite(flat[~np.isnan(flat)] if imputes else flat).all():
                raise ApiError(400, f"{where} holds NaN or infinite numbers: send finite numbers only"
                               + ("" if imputes else " (this input has no missing values to impute)"))
    else:
        data = item.get("data")
        if not isinstance(data, list):
            raise ApiError(400, f"{where}: give its values as \"data\" (a list) or as binary data")
        if datatype == "BYTES":
            flat = np.array(data, dtype=object).reshape(-1)
            if any(not isinstance(v, str) for v in flat):
                raise ApiError(400, f"{where}: BYTES data must be a list of strings")
        elif imputes:
            flat = column_numbers(data, NUMPY[datatype], where).reshape(-1)
        else:
            flat = numbers(data, NUMPY[datatype], where).reshape(-1).astype(NUMPY[datatype])
    if flat.size != count:
        raise ApiError(400, f"{where}: {flat.size} values for shape {shape} ({count} expected)")
    return flat.reshape(shape)


def infer_inputs(served: ServedVersion, raw: bytes, header_length: str | None,
                 limit: int) -> tuple[list[np.ndarray], dict[str, Any]]:
    """The request's tensors in signature order, and its JSON header (for the requested outputs)."""
    head, binary = _split(raw, header_length)
    request = parse_json(head)
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list) or not request["inputs"]:
        raise ApiError(400, 'the body must be {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
    parameters(request, "the request")
    requested_outputs(served, request)
    imputes = {s["name"] for s in served.bundle.inputs if imputed(s)}
    tensors, offset = {}, 0
    for i, item in enumerate(request["inputs"]):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ApiError(400, f"inputs[{i}] must be an object with a name, shape, datatype and data")
        where = f"input {item['name']!r}"
        if item["name"] in tensors:
            raise ApiError(400, f"{where} is given twice: send each input once")
        size = parameters(item, where).get("binary_data_size")
        chunk = None
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(binary):
                raise ApiError(400, f"{where}: binary_data_size {size!r} runs past the binary data")
            chunk, offset = binary[offset:offset + size], offset + size
        tensors[item["name"]] = _decode(item, chunk, where, limit, item["name"] in imputes)
    if offset != len(binary):
        raise ApiError(400, f"{len(binary) - offset} bytes of binary data belong to no input")
    bundle = served.bundle
    if bundle.takes_text and set(tensors) <= {"text", "text_pair"} and "text" in tensors:
        texts = [str(t) for t in tensors["text"].reshape(-1)]
        if "text_pair" in tensors:
            texts = list(zip(texts, [str(t) for t in tensors["text_pair"].reshape(-1)], strict=True))
        return bundle.encode_texts(texts), request
    names = [s["name"] for s in bundle.inputs]
    missing, unknown = [n for n in names if n not in tensors], sorted(set(tensors) - set(names))
    if missing or unknown:
        raise ApiError(400, "; ".join(
            ([f"missing input(s) {', '.join(map(repr, missing))}"] if missing else [])
            + ([f"unknown input(s) {', '.join(map(repr, unknown))}"] if unknown else []))
            + f": the model takes {', '.join(names)}")
    arrays = []
    for spec in bundle.inputs:
        array, want = tensors[spec["name"]], DATATYPES.get(spec["dtype"])
        if DATATYPES[array.dtype.name] != want:
            raise ApiError(400, f"input {spec['name']!r} has datatype {DATATYPES[array.dtype.name]}, "
                           f"the model takes {want}")
        check_shape(array, spec, f"input {spec['name']!r}")
        arrays.append(array)
    if len({len(a) for a in arrays}) > 1:
        raise ApiError(400, "the inputs hold different batch sizes: "
                       + ", ".join(f"{n}={len(a)}" for n, a in zip(names, arrays, strict=True)))
    return arrays, request


def _encode(array: np.ndarray, name: str) -> bytes:
    if array.dtype.kind in "OSU":
        parts = [str(v).encode() for v in array.reshape(-1)]
        return b"".join(struct.pack("<I", len(p)) + p for p in parts)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        finite_list(array, name)  # raises the 500
    return np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()


def requested_outputs(served: ServedVersion, request: dict[str, Any]) -> list[dict[str, Any]]:
    """The outputs a request asks for (all when it names none), checked before the model runs."""
    names = [s["name"] for s in served.output_specs]
    wanted = request.get("outputs") or [{"name": n} for n in names]
    if not isinstance(wanted, list) or not all(isinstance(w, dict) and w.get("name") in names
                                               for w in wanted):
        raise ApiError(400, f"requested outputs must be objects naming one of {', '.join(names)}")
    for item in wanted:
        parameters(item, f"output {item['name']!r}")
    return wanted


def infer_answer(served: ServedVersion, outputs: dict[str, np.ndarray],
                 request: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The response body and headers: JSON, or a JSON header followed by binary outputs."""
    wanted = requested_outputs(served, request)
    everything_binary = bool(parameters(request, "the request").get("binary_data_output", False))
    entries, blobs = [], []
    for item in wanted:
        array = outputs[item["name"]]
        entry: dict[str, Any] = {"name": item["name"], "datatype": DATATYPES.get(array.dtype.name, "BYTES"),
                                 "shape": list(array.shape)}
        if parameters(item, "output").get("binary_data", everything_binary):
            blobs.append(_encode(array, item["name"]))
            entry["parameters"] = {"binary_data_size": len(blobs[-1])}
        else:
            entry["data"] = finite_list(array.reshape(-1), item["name"])
        entries.append(entry)
    answer: dict[str, Any] = {"model_name": served.model, "model_version": str(served.version),
                              "outputs": entries}
    if "id" in request:
        answer["id"] = request["id"]
    head = dumps(answer)
    if not blobs:
        return head, {"content-type": "application/json"}
    return head + b"".join(blobs), {"content-type": "application/octet-stream",
                                    "inference-header-content-length": str(len(head))}
