"""The evaluation role: how a trained model is scored and which score is its headline."""

from __future__ import annotations

from typing import Any

from zoo.core.specs import CLASSIFICATION
from zoo.data.base import DatasetInfo
from zoo.data.prepared import Prepared
from zoo.tasks.part import Part


class Evaluator(Part):
    """Accuracy and a classification report, or regression errors (the default)."""

    def evaluate(self, model: Any, dataset: Any, prepared: Prepared) -> Any:
        """Score `model` on `dataset`, one batched split of `prepared` (generative families also
        compare against another split); returns a `zoo.tasks.report.Evaluation`."""
        from zoo.tasks.report import evaluate_model

        return evaluate_model(model, dataset, prepared.info)

    def headline(self, info: DatasetInfo) -> str:
        """The test metric printed at the end of `zoo train`."""
        return "accuracy" if info.task == CLASSIFICATION else "mae"
