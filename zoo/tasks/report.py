"""Test metrics and per-class reports from a model's predictions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn import metrics as skm

from zoo.core.specs import CLASSIFICATION
from zoo.data.base import DatasetInfo


@dataclass
class Evaluation:
    """Summary metrics, the per-class report and the raw arrays behind them."""

    metrics: dict[str, float]
    report: dict[str, Any] = field(default_factory=dict)
    confusion: np.ndarray | None = None
    y_true: np.ndarray | None = None
    y_pred: np.ndarray | None = None


def predict(model: Any, dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels and model outputs over a batched `(features, label)` dataset."""
    labels, outputs = [], []
    for features, label in dataset:
        outputs.append(np.asarray(model(features, training=False)))
        labels.append(np.asarray(label))
    labels, outputs = np.concatenate(labels), np.concatenate(outputs)
    combine = getattr(dataset, "zoo_combine", None)  # each worker's test rows, combined
    return tuple(combine(labels, outputs)) if combine else (labels, outputs)


def classification_report(y_true: np.ndarray, probs: np.ndarray, info: DatasetInfo) -> Evaluation:
    y_true = y_true.reshape(-1).astype(int)
    y_pred = probs.argmax(axis=-1)
    labels = list(range(info.num_classes))
    names = info.class_names or [str(i) for i in labels]
    report = skm.classification_report(y_true, y_pred, labels=labels, target_names=names,
                                       output_dict=True, zero_division=0)
    loss = skm.log_loss(y_true, np.clip(probs, 1e-7, 1.0), labels=labels)
    summary = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "loss": float(loss),
        "precision": float(report["macro avg"]["precision"]),
        "recall": float(report["macro avg"]["recall"]),
        "f1": float(report["macro avg"]["f1-score"]),
    }
    present = np.unique(y_true)
    if len(present) == info.num_classes and info.num_classes > 1:
        scores = probs[:, 1] if info.num_classes == 2 else probs
        summary["auc"] = float(skm.roc_auc_score(y_true, scores, multi_class="ovr"))
    confusion = skm.confusion_matrix(y_true, y_pred, labels=labels)
    return Evaluation(summary, report, confusion, y_true, y_pred)


def regression_report(y_true: np.ndarray, pred: np.ndarray) -> Evaluation:
    y_true, pred = y_true.reshape(-1), pred.reshape(-1)
    mse = float(skm.mean_squared_error(y_true, pred))
    summary = {"mae": float(skm.mean_absolute_error(y_true, pred)), "mse": mse,
               "rmse": float(np.sqrt(mse)), "r2": float(skm.r2_score(y_true, pred))}
    return Evaluation(summary, {}, None, y_true, pred)


def evaluate_model(model: Any, dataset: Any, info: DatasetInfo) -> Evaluation:
    """Predict over `dataset` and compute the task's metrics."""
    y_true, outputs = predict(model, dataset)
    if not np.all(np.isfinite(outputs)):  # a diverged model: no metric is meaningful
        names = ("accuracy", "loss") if info.task == CLASSIFICATION else ("mae", "mse")
        return Evaluation({name: float("nan") for name in names})
    if info.task == CLASSIFICATION:
        return classification_report(y_true, outputs, info)
    return regression_report(y_true, outputs)
