"""Check an exported artifact against the Keras model on held-out data before calling it done.

Float exports must match the Keras outputs within `tolerance` (maximum absolute difference);
quantized ones may change the task's headline metric by at most `max_metric_drop` (accuracy
points for classification, relative increase of the mean absolute error for regression).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.core.progress import Progress
from zoo.core.specs import CLASSIFICATION


def run_batches(run: Any, inputs: list[np.ndarray], batch: int, label: str = "") -> np.ndarray:
    """Outputs of `run(list of arrays)` over `inputs`, `batch` rows at a time; with a `label`, a
    progress bar (`zoo.core.progress`) counts the rows."""
    n = len(inputs[0])
    if not label:
        return np.concatenate([run([x[i:i + batch] for x in inputs]) for i in range(0, n, batch)])
    chunks = []
    with Progress(label, n, unit="inputs") as progress:
        for i in range(0, n, batch):
            chunks.append(run([x[i:i + batch] for x in inputs]))
            progress.advance(min(batch, n - i))
    return np.concatenate(chunks)


def headline(outputs: np.ndarray, labels: np.ndarray, task: str) -> tuple[str, float]:
    """The task's headline metric: accuracy, or mean absolute error for regression."""
    if task == CLASSIFICATION:
        return "accuracy", float(np.mean(outputs.argmax(-1) == labels.reshape(-1).astype(int)))
    return "mae", float(np.mean(np.abs(outputs.reshape(-1) - labels.reshape(-1))))


def metric_drop(name: str, reference: float, exported: float) -> float:
    """How much worse the exported artifact scores (negative when it scores better)."""
    if name == "accuracy":
        return reference - exported
    return (exported - reference) / max(abs(reference), 1e-12)


def compare(reference: np.ndarray, exported: np.ndarray, labels: np.ndarray | None, task: str,
            quantized: bool, tolerance: float, max_metric_drop: float, held_out: int) -> dict[str, Any]:
    """The figures of `export.json`'s `verification`, with `passed` and the reason if not."""
    batch = slice(0, held_out)
    diff = float(np.max(np.abs(reference[batch].astype(np.float64) - exported[batch])))
    result: dict[str, Any] = {"examples": int(len(reference)), "held_out_batch": int(len(reference[batch])),
                              "max_abs_diff": diff, "quantized": quantized}
    if labels is not None:
        name, ref = headline(reference, labels, task)
        _, exp = headline(exported, labels, task)
        result.update(metric=name, keras=ref, exported=exp, change=exp - ref,
                      drop=metric_drop(name, ref, exp))
    if quantized:
        result["max_metric_drop"] = max_metric_drop
        ok = labels is None or result["drop"] <= max_metric_drop
        if labels is None:
            result["note"] = "no task metric for this model: the difference is reported, not bounded"
        why = (f"{result.get('metric')} drops by {result.get('drop', 0):.4f} "
               f"> max_metric_drop={max_metric_drop}")
    else:
        result["tolerance"] = tolerance
        ok = diff <= tolerance
        why = f"max |keras - exported| = {diff:.3g} > tolerance={tolerance}"
    result["passed"] = bool(ok and np.all(np.isfinite(exported)))
    if not result["passed"]:
        result["failure"] = why if not ok else "the exported model outputs NaN or infinity"
    return result
