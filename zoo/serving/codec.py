"""JSON bodies to input arrays and outputs to JSON, refusing what a hostile client may send.

Every refusal is an `ApiError`: an HTTP status and a one-line message, answered as `{"error": ...}`.
Inputs are converted by their signature dtype: numbers (finite only, integers for integer inputs),
`"string"` as numpy object arrays of `str`, `{"b64": ...}` values as UTF-8 text for string inputs and as
image files (PNG, JPEG, ...) for image inputs.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

import numpy as np
import orjson

from zoo.core.errors import first_line

STRING = "string"


class ApiError(Exception):
    """A request that cannot be served: `status`, a message, and extra response headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}


def parse_json(raw: bytes) -> Any:
    """The parsed body (orjson: strict JSON, nesting up to 1024); NaN, Infinity, numbers beyond a
    double, malformed or too deeply nested JSON are a 400."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, _json_error(raw, exc)) from None


def _json_error(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    reason = str(exc)
    if reason.startswith("depth limit"):
        return "the JSON body is nested too deeply (over 1024 levels): send arrays of the model's rank"
    if "infinity" in reason:
        return "the JSON body holds a number beyond a double (NaN or infinite): send finite numbers only"
    start = exc.pos - 1 if raw[exc.pos - 1:exc.pos] == b"-" else exc.pos  # orjson points past a sign
    token = raw[start:start + 9]
    for name in (b"NaN", b"Infinity", b"-Infinity"):
        if token.startswith(name):
            return f"invalid number {name.decode()} in the JSON body: send finite numbers only"
    return f"malformed JSON: {reason}"


def dumps(answer: Any) -> bytes:
    return orjson.dumps(answer)


def finite_list(array: np.ndarray, name: str) -> Any:
    """An output as JSON values; a model that gave NaN or infinity is a 500, never invalid JSON."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ApiError(500, f"the model gave non-finite values for output {name!r}: check the inputs "
                       "and the exported model")
    if array.dtype.kind in "OSU":
        return np.vectorize(_text, otypes=[object])(array).tolist()
    return array.tolist()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _b64(value: dict[str, Any], where: str) -> bytes:
    if len(value) != 1 or not isinstance(value.get("b64"), str):
        raise ApiError(400, f"{where}: an object value must be {{\"b64\": \"<base64>\"}}, got keys "
                       f"{', '.join(map(str, value))}")
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, f"{where}: invalid base64 ({exc})") from None


def text_values(value: Any, where: str) -> Any:
    """Nested lists of str, with `{"b64": ...}` decoded as UTF-8."""
    if isinstance(value, list):
        return [text_values(v, where) for v in value]
    if isinstance(value, dict):
        try:
            return _b64(value, where).decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, f"{where}: the b64 value is not UTF-8 text") from None
    if not isinstance(value, str):
        raise ApiError(400, f"{where} must hold strings, got {type(value).__name__} {value!r:.40}")
    return value


def decode_image(data: bytes, shape: list[Any], where: str) -> np.ndarray:
    """An image file as the input's (height, width, channels) pixels, by `zoo predict`'s rule
    (`zoo.serving.inputs.image_pixels`): at most MAX_IMAGE_PIXELS, never resized."""
    from PIL import Image

    from zoo.core.errors import DataError
    from zoo.serving.inputs import MAX_IMAGE_PIXELS, image_pixels

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image_pixels(image, shape, where)
    except DataError as exc:
        raise ApiError(413 if "pixels, the limit" in str(exc) else 400, str(exc)) from None
    except Image.DecompressionBombError as exc:  # past PIL's own bound, refused when opened
        raise ApiError(413, f"{where}: {first_line(exc)}: the limit is {MAX_IMAGE_PIXELS:,} pixels") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ApiError(400, f"{where}: the b64 value is not a readable image ({first_line(exc)})") from None


def _has_b64(value: Any) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and bool(value) and _has_b64(value[0]))


def to_array(values: Any, spec: dict[str, Any], where: str) -> np.ndarray:
    """A batch of values for one input (`spec`: name, dtype, shape with the batch first), checked:
    dtype, finite numbers, rank and fixed dimensions."""
    dtype, want = spec["dtype"], list(spec["shape"])
    if dtype == STRING:
        array = np.array(text_values(values, where), dtype=object)
        if array.dtype != object or any(not isinstance(v, str) for v in array.reshape(-1)):
            raise ApiError(400, f"{where}: ragged or non-string values")
    elif _has_b64(values) and len(want) == 4:
        array = np.stack([decode_image(_b64(v, where), want[1:], where) if isinstance(v, dict)
                          else numbers(v, dtype, where) for v in values])
    elif imputed(spec):
        array = column_numbers(values, dtype, where)
    else:
        array = numbers(values, dtype, where)
    if array.ndim == len(want) - 1 and len(want) >= 2 and want[-1] == 1:
        array = array[..., None]  # one scalar per example for a (batch, 1) input
    check_shape(array, spec, where)
    return array if dtype == STRING else array.astype(dtype, copy=False)


def check_shape(array: np.ndarray, spec: dict[str, Any], where: str) -> None:
    """A 400 unless `array` has the input's rank and fixed dimensions (the batch first)."""
    want = list(spec["shape"])
    fixed = [(w, g) for w, g in zip(want[1:], array.shape[1:], strict=False) if w is not None]
    if array.ndim != len(want) or any(w != g for w, g in fixed):
        raise ApiError(400, f"{where} has shape {list(array.shape[1:])} per example, expected "
                       f"{want[1:]} (null = any size)")


def imputed(spec: dict[str, Any]) -> bool:
    """Whether an input is a table column whose missing values the model fills in."""
    return spec.get("kind") == "numeric" and spec.get("fill") is not None


def column_numbers(values: Any, dtype: str, where: str) -> np.ndarray:
    """A table column whose blanks the model imputes: `null` is a missing value (NaN), every other
    value a finite number."""
    flat = values if isinstance(values, list) else [values]
    blanks = [v is None or (isinstance(v, list) and v and v[0] is None) for v in flat]
    filled = numbers([0.0 if b else v for v, b in zip(flat, blanks, strict=True)], dtype, where)
    mask = np.asarray(blanks).reshape((len(flat),) + (1,) * (filled.ndim - 1))
    return np.where(mask, np.nan, filled).astype(dtype, copy=False)


def _only_numbers(values: Any, target: np.dtype, where: str) -> None:
    """JSON numbers only: a string ("100") or a boolean (true) is never taken as a number (nor a
    number as a boolean)."""
    try:
        flat = np.asarray(values, dtype=object).reshape(-1)
    except ValueError:
        return  # ragged: numbers() names it
    kinds = set(map(type, flat))
    if kinds <= {int, float} or (target.kind == "b" and kinds <= {bool}):
        return
    for kind, shown in ((str, "a string"), (bool, "a boolean"), (dict, "an object"), (type(None), "null")):
        if kind in kinds:
            example = orjson.dumps(next(v for v in flat if type(v) is kind)).decode()
            raise ApiError(400, f"{where} takes numbers ({target.name}), got {shown} ({example:.40}): send "
                           "JSON numbers, without quotes")


def numbers(values: Any, dtype: str, where: str) -> np.ndarray:
    """Nested lists of numbers as an array of `dtype` (then cast): finite, integral for integer
    dtypes, within range; anything else is a 400 naming the input."""
    if _has_b64(values):
        raise ApiError(400, f"{where}: b64 values are for string and image inputs, this one takes {dtype}")
    target = np.dtype(dtype)
    _only_numbers(values, target, where)
    if target.kind == "f":  # the common case in one pass; a failure takes the path that names it
        try:
            with np.errstate(over="ignore"):
                array = np.asarray(values, dtype=target)
        except (ValueError, TypeError):
            pass
        else:
            if not np.isfinite(array).all():
                raise ApiError(400, f"{where} holds NaN, missing or infinite numbers (or beyond {dtype}): "
                               "send finite numbers only")
            return array
    try:
        array = np.asarray(values)
    except ValueError as exc:
        raise ApiError(400, f"{where}: ragged values ({str(exc).split(';')[0]})") from None
    if array.dtype.kind not in "biuf":
        raise ApiError(400, f"{where} must hold numbers of dtype {dtype}, got {array.dtype.name} values")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ApiError(400, f"{where} holds NaN or infinite numbers: send finite numbers only")
        if target.kind in "iub" and not np.equal(np.mod(array, 1), 0).all():
            raise ApiError(400, f"{where} takes integers ({dtype}), got fractional numbers")
    if target.kind in "iu" and array.size:
        info = np.iinfo(target)
        if array.min() < info.min or array.max() > info.max:
            raise ApiError(400, f"{where}: values outside the range of {dtype}")
    return array
