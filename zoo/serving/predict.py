"""`predict(bundle, input, output)`: one output row per input (name, label, probabilities)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ZooError
from zoo.export.runtime import Bundle, load_bundle
from zoo.serving.inputs import read_inputs

BATCH = 256


def rows(bundle: Bundle, names: list[str], outputs: np.ndarray) -> list[dict[str, Any]]:
    """Records of the predictions: input name, label, and the class probabilities (or the value)."""
    labels = bundle.labels(outputs)
    if bundle.meta["task"] != "classification":
        return [{"input": n, "prediction": v} for n, v in zip(names, labels, strict=True)]
    classes = bundle.class_names or [str(i) for i in range(outputs.shape[-1])]
    return [{"input": n, "label": label, "probabilities": dict(zip(classes, map(float, probs), strict=True))}
            for n, label, probs in zip(names, labels, outputs, strict=True)]


def write(records: list[dict[str, Any]], output: Path) -> None:
    """JSON when `output` ends in .json, else CSV with one `p_<class>` column per class."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".json":
        output.write_text(json.dumps(records, indent=2) + "\n")
        return
    flat = [{k: v for k, v in r.items() if k != "probabilities"}
            | {f"p_{c}": p for c, p in r.get("probabilities", {}).items()} for r in records]
    with output.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)


def predict(bundle: str | Path, input: str | Path, output: str | Path) -> list[dict[str, Any]]:
    """Run a bundle on a file or folder of inputs and write the predictions to `output`."""
    if not str(output):
        raise ZooError("output= is empty: give a .csv or .json file to write")
    model = load_bundle(bundle)
    names, inputs = read_inputs(Path(input), model)
    n = len(names)
    outputs = np.concatenate([model.predict([x[i:i + BATCH] for x in inputs]) for i in range(0, n, BATCH)])
    records = rows(model, names, outputs)
    write(records, Path(output))
    return records
