"""`predict(bundle, input, output)`: one output row per input (name, label, probabilities), or the
samples a generator or decoder draws, or the latent codes an encoder gives."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.atomic import atomic_open, refuse_overwrite, write_atomic
from zoo.core.errors import DataError, ZooError
from zoo.core.progress import Progress
from zoo.runtime.bundle import Bundle, check_finite, load_bundle
from zoo.serving.inputs import read_inputs

BATCH = 256
TABLE_SUFFIXES = (".csv", ".json", ".npy")


def rows(bundle: Bundle, names: list[str], outputs: dict[str, np.ndarray], texts: list[Any] | None = None,
         inputs: list[np.ndarray] | None = None) -> list[dict[str, Any]]:
    """Records of the predictions: the input's name (and text), then what the bundle's part outputs."""
    heads = [{"input": n} for n in names]
    if texts:
        for head, text in zip(heads, texts, strict=True):
            head.update({"text": text} if isinstance(text, str) else {"text": text[0], "text_pair": text[1]})
    kind = bundle.output_kind
    if kind == "latent":
        return [head | {k: outputs[k][i].tolist() for k in bundle.export.outputs["names"]}
                for i, head in enumerate(heads)]
    values = next(iter(outputs.values()))
    if kind == "samples":
        labelled = len(bundle.inputs) > 1 and inputs is not None and bundle.class_names
        return [head | ({"label": bundle.class_names[int(inputs[1][i])]} if labelled else {})
                | {"sample": values[i].tolist()} for i, head in enumerate(heads)]
    labels = bundle.labels(values)
    if bundle.export.task != "classification":
        return [head | {"prediction": v} for head, v in zip(heads, labels, strict=True)]
    classes = bundle.class_names or [str(i) for i in range(values.shape[-1])]
    return [head | {"label": label, "probabilities": dict(zip(classes, map(float, probs), strict=True))}
            for head, label, probs in zip(heads, labels, values, strict=True)]


def _flat(record: dict[str, Any], feature_names: list[str] | None) -> dict[str, Any]:
    """A CSV row: class probabilities as `p_<class>`, vectors as `<name>_<i>` (or feature names)."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "probabilities":
            flat.update({f"p_{c}": p for c, p in value.items()})
        elif isinstance(value, list):
            values = np.asarray(value).reshape(-1).tolist()
            names = (feature_names if key == "sample" and feature_names and len(feature_names) == len(values)
                     else [f"{key}_{i}" for i in range(len(values))])
            flat.update(zip(names, values, strict=True))
        else:
            flat[key] = value
    return flat


def write(records: list[dict[str, Any]], output: Path, feature_names: list[str] | None = None) -> None:
    """JSON when `output` ends in .json, else CSV (one `p_<class>` column per class, one column per value)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".json":
        write_atomic(output, json.dumps(records, indent=2, allow_nan=False) + "\n")
        return
    flat = [_flat(r, feature_names) for r in records]
    with atomic_open(output, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)


def write_images(samples: np.ndarray, records: list[dict[str, Any]], folder: Path,
                 value_range: list[float]) -> None:
    """One PNG per sample (`<row>[_<label>].png`), the data range mapped to 0..255."""
    from PIL import Image

    if samples.ndim != 4 or samples.shape[-1] not in (1, 3):
        raise DataError(f"samples of shape {list(samples.shape[1:])} are not grey or RGB images: "
                        "write them to a .csv, .json or .npy output")
    lo, hi = value_range
    pixels = np.clip(np.round((samples - lo) / max(hi - lo, 1e-12) * 255), 0, 255).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    width = len(str(len(records)))
    for image, record in zip(pixels, records, strict=True):
        label = f"_{record['label']}" if "label" in record else ""
        with atomic_open(folder / f"{int(record['input']):0{width}d}{label}.png", "wb") as handle:
            Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(handle, format="PNG")


def check_output(bundle: Path, source: Path, output: Path) -> None:
    """Refuse an output that would overwrite the input, the bundle or a run's own files."""
    refuse_overwrite(output, {"the input": source, "the bundle folder": bundle}, what="the predictions")


def predict(bundle: str | Path, input: str | Path, output: str | Path, seed: int = 0,
            trust: bool | None = None) -> list[dict[str, Any]]:
    """Run a bundle on a file or folder of inputs (or a number of samples to draw); write `output`.

    Classifiers and regressors write CSV or JSON; a generator or decoder also writes `.npy` or a
    folder of PNG images (an output without one of the suffixes .csv, .json, .npy). `trust=True`
    loads a bundle whose graph may touch the host (`zoo.runtime.trust`; None: ZOO_TRUST_BUNDLES).
    """
    if not str(output):
        raise ZooError("output= is empty: give a .csv or .json file to write")
    check_output(Path(bundle), Path(str(input)), Path(output))
    model = load_bundle(bundle, trust)
    if model.output_kind == "causal_lm":
        raise ZooError(f"bundle {bundle} is a language model: complete prompts with "
                       f"`zoo generate bundle={bundle} input={input} output=FILE.jsonl`")
    names, inputs, texts = read_inputs(input, model, seed)
    n = len(names)
    chunks = []
    with Progress("predict", n, unit="inputs") as progress:
        what = f"input {input}, row" if model.output_kind in ("probabilities", "values") else "input"
        if isinstance(inputs[0], list):  # images of their own sizes: one at a time
            for i, image in enumerate(inputs[0]):
                chunks.append(model.outputs([image[None]]))
                check_finite(chunks[-1], names[i:i + 1], f"input {input}, image")
                progress.advance()
        else:
            for i in range(0, n, BATCH):
                chunks.append(model.outputs([x[i:i + BATCH] for x in inputs]))
                check_finite(chunks[-1], names[i:i + BATCH], what)
                progress.advance(min(BATCH, n - i))
    outputs = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    records = rows(model, names, outputs, texts, inputs)
    output = Path(output)
    samples = next(iter(outputs.values()))
    if model.output_kind == "samples" and output.suffix.lower() == ".npy":
        output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(output, "wb") as handle:
            np.save(handle, samples)
    elif model.output_kind == "samples" and output.suffix.lower() not in TABLE_SUFFIXES:
        write_images(samples, records, output, model.export.outputs["range"])
    else:
        write(records, output, model.export.outputs.get("feature_names"))
    return records
