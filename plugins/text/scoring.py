"""Test metrics through Keras's compiled `predict` (eager calls are slow for RNNs and BERT)."""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.sdk import DatasetInfo, Evaluator, Prepared


def evaluate_compiled(model: Any, dataset: Any, info: DatasetInfo) -> Any:
    """The same `Evaluation` as `zoo.tasks.report.evaluate_model`, predicted in graph mode."""
    from zoo.sdk import Evaluation, classification_report, regression_report

    labels = np.concatenate([np.asarray(y) for _, y in dataset])
    outputs = np.asarray(model.predict(dataset.map(lambda x, _: x), verbose=0))
    if not np.all(np.isfinite(outputs)):
        names = ("accuracy", "loss") if info.task == "classification" else ("mae", "mse")
        return Evaluation({name: float("nan") for name in names})
    if info.task == "classification":
        return classification_report(labels, outputs, info)
    return regression_report(labels, outputs)


class CompiledEvaluator(Evaluator):
    """The default report, predicted through Keras's compiled `predict` (RNN and BERT families)."""

    def evaluate(self, model: Any, dataset: Any, prepared: Prepared) -> Any:
        return evaluate_compiled(model, dataset, prepared.info)
