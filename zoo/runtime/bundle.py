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

from zoo.core.errors import ZooError
from zoo.runtime.runners import open_runner

EXPORT_JSON, DATASET_JSON = "export.json", "dataset.json"
CONFIG_YAML, MODEL_CARD = "config.yaml", "MODEL_CARD.md"


class BundleError(ZooError):
    """A bundle folder is missing, incomplete, or given inputs it cannot take."""


def as_strings(x: np.ndarray) -> np.ndarray:
    """A string input as onnxruntime takes it: a numpy object array of `str` (bytes decoded)."""
    flat = [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(x, dtype=object).reshape(-1)]
    return np.array(flat, dtype=object).reshape(np.shape(x))


class Bundle:
    """An exported model with the preprocessing and labels it was trained with."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta_file = self.path / EXPORT_JSON
        if not meta_file.exists():
            raise BundleError(f"{self.path} is not an export bundle (no {EXPORT_JSON}): "
                              "pass the folder `zoo export` printed")
        self.meta: dict[str, Any] = json.loads(meta_file.read_text())
        dataset_file = self.path / DATASET_JSON
        self.dataset: dict[str, Any] = json.loads(dataset_file.read_text()) if dataset_file.exists() else {}
        self.name: str = self.meta["name"]
        self.inputs: list[dict[str, Any]] = self.meta["inputs"]
        self.class_names: list[str] | None = self.meta["outputs"].get("class_names")
        pre = self.meta["preprocessing"]
        self.mean = None if pre.get("mean") is None else np.asarray(pre["mean"], np.float32)
        self.std = None if pre.get("std") is None else np.asarray(pre["std"], np.float32)
        self.part: str = self.meta.get("part", "model")
        self.input_kind: str = self.meta.get("input_kind", "data")
        self.text_spec: dict[str, Any] | None = pre.get("text")
        self._text_encoder: Any = None
        self.runner = open_runner(self.meta["format"], self.path / self.meta["model_file"],
                                  [i["name"] for i in self.inputs])
        if self.output_kind == "causal_lm":  # a language model answers text only if these agree
            from zoo.runtime.generate import check_language_model

            check_language_model(self)

    @property
    def output_kind(self) -> str:
        """probabilities | values (a classifier, a regressor) | samples | latent (generative parts)."""
        return self.meta["outputs"].get("kind", "probabilities")

    @property
    def takes_text(self) -> bool:
        return self.text_spec is not None

    def encode_texts(self, texts: list[Any]) -> list[np.ndarray]:
        """Texts (or pairs) as the model's int32 inputs, tokenised as in training (`zoo.runtime.text`)."""
        if self.text_spec is None:
            raise BundleError(f"bundle {self.path} takes {self.meta['modality']} inputs, not text")
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
        if self.meta["task"] != "classification":
            return [float(v) for v in outputs.reshape(len(outputs), -1)[:, 0]]
        names = self.class_names or [str(i) for i in range(outputs.shape[-1])]
        return [names[i] for i in outputs.argmax(-1)]


def load_bundle(path: str | Path) -> Bundle:
    """Open a bundle folder written by `zoo export`."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"bundle folder {path} does not exist: pass the folder `zoo export` printed")
    parts = sorted(p.parent.name for p in path.glob(f"*/{EXPORT_JSON}"))
    if parts and not (path / EXPORT_JSON).exists():
        raise BundleError(f"{path} holds one bundle per part ({', '.join(parts)}): pass "
                          + " or ".join(str(path / p) for p in parts))
    return Bundle(path)
