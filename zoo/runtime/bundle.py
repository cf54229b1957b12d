"""Load a bundle for inference: its metadata, preprocessing (normalisation, text tokenizer) and runner.

Importing this module and running an ONNX bundle needs numpy and onnxruntime only (and the
`tokenizers` package for a BERT bundle given text): `zoo predict` and `zoo serve` never import
TensorFlow for ONNX bundles.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import DataError, ZooError, first_line
from zoo.core.formats import format_of
from zoo.data.base import DATASET_FORMAT
from zoo.runtime.export_meta import EXPORT_FORMAT, ExportMeta
from zoo.runtime.runners import open_runner
from zoo.runtime.trust import check_onnx, check_savedmodel, check_tflite, inside, trusted_by_environment

EXPORT_JSON, DATASET_JSON = "export.json", "dataset.json"
CONFIG_YAML, MODEL_CARD = "config.yaml", "MODEL_CARD.md"


class BundleError(ZooError):
    """A bundle folder is missing, incomplete, or given inputs it cannot take."""


class NonFiniteOutputs(DataError):
    """Inputs the model answers with NaN or infinity: `rows` are their positions in the batch."""

    def __init__(self, rows: list[int], names: list[str], what: str):
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        super().__init__(f"{what} {shown}: the model's outputs are not finite (NaN or infinite), the inputs "
                         "lie far outside what it was trained on (huge numbers?): fix or drop them")
        self.rows = rows


def check_finite(outputs: dict[str, np.ndarray], names: list[str] | None = None, what: str = "row") -> None:
    """The one rule for every way a bundle answers (`zoo predict`, TF Serving REST, v2): inputs whose
    outputs are not finite are refused, naming them (`names[i]`, else their position), never written
    as `nan` or `Infinity`."""
    bad: set[int] = set()
    for value in outputs.values():
        if value.dtype.kind in "fc" and value.ndim and not np.isfinite(value).all():
            bad.update(np.flatnonzero(~np.isfinite(value.reshape(len(value), -1)).all(axis=1)).tolist())
    if bad:
        rows = sorted(bad)
        raise NonFiniteOutputs(rows, [names[i] if names else str(i) for i in rows], what)


def as_strings(x: np.ndarray) -> np.ndarray:
    """A string input as onnxruntime takes it: a numpy object array of `str` (bytes decoded)."""
    flat = [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(x, dtype=object).reshape(-1)]
    return np.array(flat, dtype=object).reshape(np.shape(x))


class Bundle:
    """An exported model with the preprocessing and labels it was trained with."""

    def __init__(self, path: str | Path, trust: bool | None = None):
        self.path = Path(path)
        meta_file = self.path / EXPORT_JSON
        if not meta_file.exists():
            raise BundleError(f"{self.path} is not an export bundle (no {EXPORT_JSON}): "
                              "pass the folder `zoo export` printed")
        raw = read_json(meta_file)
        if isinstance(raw, dict):  # a newer format is named before its fields are judged
            format_of(raw, meta_file, EXPORT_FORMAT)
        self.meta: dict[str, Any] = validate_meta(raw, self.path)  # the file as written
        self.export = ExportMeta.from_dict(self.meta, meta_file)  # the same, typed
        dataset_file = self.path / DATASET_JSON
        self.dataset: dict[str, Any] = read_json(dataset_file) if dataset_file.exists() else {}
        if not isinstance(self.dataset, dict):
            raise BundleError(f"{dataset_file} holds {type(self.dataset).__name__}, not an object: export "
                              "the run again")
        format_of(self.dataset, dataset_file, DATASET_FORMAT)  # a newer one is named with the fix
        self.name: str = self.export.name
        self.inputs: list[dict[str, Any]] = self.export.inputs
        self.class_names: list[str] | None = self.export.outputs.get("class_names")
        pre = self.export.preprocessing
        self.mean = None if pre.get("mean") is None else np.asarray(pre["mean"], np.float32)
        self.std = None if pre.get("std") is None else np.asarray(pre["std"], np.float32)
        self.part: str = self.export.part
        self.input_kind: str = self.export.input_kind
        self.text_spec: dict[str, Any] | None = pre.get("text")
        self._text_encoder: Any = None
        fmt, model_file = self.export.format, inside(self.path, self.export.model_file, "model_file")
        trusted = trusted_by_environment() if trust is None else trust
        self.trusted: bool = trusted
        if fmt == "onnx":
            check_onnx(model_file, self.path, trusted)
        if not trusted and fmt == "savedmodel":
            check_savedmodel(model_file, self.path)
        try:
            self.runner = open_runner(fmt, model_file, [i["name"] for i in self.inputs])
        except ZooError:
            raise
        except Exception as exc:  # noqa: BLE001 - every runtime has its own errors for a bad file
            raise BundleError(f"bundle {self.path}: cannot load {self.export.model_file} "
                              f"({first_line(exc, typed=True)}): export the run again, or check the "
                              "bundle's origin") from None
        if not trusted and fmt == "tflite":
            check_tflite(self.runner.interpreter, self.path)
        if self.output_kind == "causal_lm":  # a language model answers text only if these agree
            from zoo.runtime.generate import check_language_model

            check_language_model(self)

    @property
    def output_kind(self) -> str:
        """probabilities | values (a classifier, a regressor) | samples | latent (generative parts)."""
        return self.export.outputs.get("kind", "probabilities")

    @property
    def takes_text(self) -> bool:
        return self.text_spec is not None

    def encode_texts(self, texts: list[Any]) -> list[np.ndarray]:
        """Texts (or pairs) as the model's int32 inputs, tokenised as in training (`zoo.runtime.text`)."""
        if self.text_spec is None:
            raise BundleError(f"bundle {self.path} takes {self.export.modality} inputs, not text")
        if self._text_encoder is None:
            from zoo.runtime.text import TextEncoder

            self._text_encoder = TextEncoder(self.path, self.text_spec)
        encoded = self._text_encoder.encode(texts)
        if len(self.inputs) == 1 and len(encoded) == 1:
            return list(encoded.values())
        names = [i["name"] for i in self.inputs]
        if not set(names) <= set(encoded):
            raise BundleError(f"the text tokenizer gives {', '.join(encoded)}, the model takes "
                              f"{', '.join(names)}: export the run again")
        return [encoded[name] for name in names]

    def check(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Cast raw inputs to the signature's dtypes; a BundleError names a wrong shape."""
        if len(inputs) != len(self.inputs):
            raise BundleError(f"the model takes {len(self.inputs)} input(s) "
                              f"({', '.join(i['name'] for i in self.inputs)}), got {len(inputs)}")
        checked = []
        for spec, x in zip(self.inputs, inputs, strict=True):
            want = spec["shape"][1:]
            fixed = [(w, g) for w, g in zip(want, x.shape[1:], strict=False) if w is not None]
            if x.ndim != len(spec["shape"]) or any(w != g for w, g in fixed):
                raise BundleError(f"input {spec['name']!r} has shape {list(x.shape[1:])} per example, "
                                  f"expected {want} (null = any size)")
            checked.append(as_strings(x) if spec["dtype"] == "string" else x.astype(spec["dtype"]))
        return checked

    def preprocess(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Apply the training split's normalisation to the (first, numeric) input."""
        if self.mean is None:
            return inputs
        return [((inputs[0] - self.mean) / self.std).astype(np.float32), *inputs[1:]]

    def predict(self, inputs: list[np.ndarray]) -> np.ndarray:
        """Model outputs (class probabilities or regression values) for raw, un-normalised inputs."""
        return self.runner.run(self.preprocess(self.check(inputs)))

    def outputs(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Every output by name (one for most parts; `z_mean` and `z_log_var` for a VAE encoder)."""
        return self.runner.run_all(self.preprocess(self.check(inputs)))

    def labels(self, outputs: np.ndarray) -> list[Any] | None:
        """The predicted label of each row: a class name, or the regression value (None for samples)."""
        if self.output_kind not in ("probabilities", "values"):
            return None
        if self.export.task != "classification":
            return [float(v) for v in outputs.reshape(len(outputs), -1)[:, 0]]
        names = self.class_names or [str(i) for i in range(outputs.shape[-1])]
        return [names[i] for i in outputs.argmax(-1)]


def read_json(path: Path) -> Any:
    """A bundle's JSON file; a truncated or unreadable one is a BundleError naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path} is not readable JSON ({first_line(exc)}): export the run again") from None


def _fail(path: Path, key: str, want: str, got: Any) -> BundleError:
    shown = json.dumps(got, default=str)[:60]
    return BundleError(f"{path / EXPORT_JSON}: {key} must be {want}, got {shown}: export the run again")


def validate_meta(meta: Any, path: Path) -> dict[str, Any]:
    """export.json checked when a bundle is opened: the fields zoo reads, of the types it reads them
    as, and every file it names inside the bundle."""
    if not isinstance(meta, dict):
        raise _fail(path, "export.json", "an object", meta)
    for key in ("name", "format", "model_file"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            raise _fail(path, key, "a non-empty string", meta.get(key))
    for key in ("outputs", "preprocessing"):
        if not isinstance(meta.get(key), dict):
            raise _fail(path, key, "an object", meta.get(key))
    for key in ("task", "modality", "part", "input_kind"):
        if key in meta and not isinstance(meta[key], str):
            raise _fail(path, key, "a string", meta[key])
    inputs = meta.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _fail(path, "inputs", "a non-empty list", inputs)
    for i, spec in enumerate(inputs):
        shape = spec.get("shape") if isinstance(spec, dict) else None
        if (not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not isinstance(
                spec.get("dtype"), str) or not isinstance(shape, list) or not shape
                or not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
                           for d in shape)):
            raise _fail(path, f"inputs[{i}]", "an object with a name, a dtype and a shape of positive "
                        "integers or null", spec)
    names = meta["outputs"].get("class_names")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise _fail(path, "outputs.class_names", "a list of strings", names)
    for key in ("mean", "std"):
        value = meta["preprocessing"].get(key)
        if value is not None and not _numbers(value):
            raise _fail(path, f"preprocessing.{key}", "numbers", value)
    text = meta["preprocessing"].get("text")
    if text is not None and not isinstance(text, dict):
        raise _fail(path, "preprocessing.text", "an object", text)
    for key, name in (("preprocessing.text.tokenizer", (text or {}).get("tokenizer")),
                      ("outputs.tokenizer", meta["outputs"].get("tokenizer"))):
        if name is not None:
            inside(path, name, key)
    return meta


def _numbers(value: Any) -> bool:
    if isinstance(value, list):
        return all(_numbers(v) for v in value)
    return isinstance(value, int | float) and not isinstance(value, bool)


def load_bundle(path: str | Path, trust: bool | None = None) -> Bundle:
    """Open a bundle folder written by `zoo export`; an untrusted one (`trust` False, or None without
    ZOO_TRUST_BUNDLES=1) is first checked against `zoo.runtime.trust`'s policy."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"bundle folder {path} does not exist: pass the folder `zoo export` printed")
    parts = sorted(p.parent.name for p in path.glob(f"*/{EXPORT_JSON}"))
    if parts and not (path / EXPORT_JSON).exists():
        raise BundleError(f"{path} holds one bundle per part ({', '.join(parts)}): pass "
                          + " or ".join(str(path / p) for p in parts))
    return Bundle(path, trust)
