"""The training role: how a family's model is checked, compiled and fitted (TF Model Garden's
`Task`: losses, metrics, optimizer and train step, nothing about data or export).

A training mode (distillation, DP-SGD, a third party's) is a `TrainingWrapper` around the
family's training part, registered as a `TrainingModeSpec`: every step goes to the inner part
unless the mode overrides it.
"""

from __future__ import annotations

from typing import Any

from zoo.core.errors import ZooError, plural
from zoo.core.specs import TASKS
from zoo.data.base import DatasetInfo
from zoo.data.prepared import Prepared
from zoo.tasks.part import Part

DEFAULT_LOSS = {"classification": "cross_entropy", "regression": "mse"}
DEFAULT_METRICS = {"classification": ["accuracy"], "regression": ["mae", "mse"]}


def check_task(kind: str, name: str, tasks: tuple[str, ...], task: str) -> None:
    if task not in tasks:
        raise ZooError(f"{kind} {name!r} is for {' or '.join(tasks)}, but the dataset is {task}: "
                       f"pick a {task} {kind} (`zoo list {plural(kind)}`)")


class Training(Part):
    """Supervised classification or regression with Keras `compile`/`fit` (the default)."""

    def check(self, info: DatasetInfo) -> None:
        """Fail early when the loss or a metric does not fit the dataset's task."""
        loss = self.loss_name(info)
        check_task("loss", loss, self.registry.loss(loss).tasks, info.task)
        for name in self.metric_names(info):
            check_task("metric", name, self.registry.metric(name).tasks, info.task)

    def loss_name(self, info: DatasetInfo) -> str:
        if info.task not in TASKS:
            raise ZooError(f"dataset {info.name!r} is {info.task}: model {self.model_name!r} needs "
                           "labels; use a labelled dataset, or a model for unlabelled data "
                           "(`zoo list models`)")
        return self.cfg.trainer.loss or DEFAULT_LOSS[info.task]

    def metric_names(self, info: DatasetInfo) -> list[str]:
        return list(self.cfg.trainer.metrics or DEFAULT_METRICS[info.task])

    def compile(self, model: Any, optimizer: Any, info: DatasetInfo) -> None:
        """Compile `model` (called inside the strategy scope)."""
        loss = self.registry.loss(self.loss_name(info)).build(info)
        if info.target:
            from zoo.losses import StandardizedLoss

            loss = StandardizedLoss(loss, info.target["mean"], info.target["std"])
        model.compile(optimizer=optimizer, loss=loss,
                      metrics=[self.registry.metric(n).build(info) for n in self.metric_names(info)],
                      jit_compile=self.cfg.trainer.jit_compile)

    def fit_model(self, model: Any) -> Any:
        """What the trainer fits: `model`, or a wrapper that trains it (distillation's teacher +
        student); checkpoints and `model.keras` always hold `model` itself."""
        return model

    def build_optimizers(self, model: Any) -> None:
        """Create the optimizer variables before a checkpoint that holds their values is loaded
        (a family with several optimizers builds each of them)."""
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)

    def log_callbacks(self, prepared: Prepared) -> list:
        """Callbacks that add entries to the epoch logs (DP-SGD's epsilon); they run before the
        shared ones, so `history.csv` and the epoch log line show those entries."""
        return []

    def callbacks(self, prepared: Prepared) -> list:
        """Extra Keras callbacks of this family (the shared ones are always there)."""
        return []

    def extra_metrics(self, model: Any, test_ds: Any, prepared: Prepared, evaluation: Any
                      ) -> dict[str, Any]:
        """More top-level entries for `metrics.json` about how the model was trained (DP-SGD's
        epsilon, distillation's teacher vs student)."""
        return {}


class TrainingWrapper(Training):
    """A training mode around a family's training part: every step goes to `inner` unless the mode
    overrides it. The mode shares the inner part's config, run and registry."""

    def __init__(self, inner: Training) -> None:
        super().__init__(inner.cfg, inner.run, inner.registry)
        self.inner = inner

    def check(self, info: DatasetInfo) -> None:
        self.inner.check(info)

    def loss_name(self, info: DatasetInfo) -> str:
        return self.inner.loss_name(info)

    def metric_names(self, info: DatasetInfo) -> list[str]:
        return self.inner.metric_names(info)

    def compile(self, model: Any, optimizer: Any, info: DatasetInfo) -> None:
        self.inner.compile(model, optimizer, info)

    def fit_model(self, model: Any) -> Any:
        return self.inner.fit_model(model)

    def build_optimizers(self, model: Any) -> None:
        self.inner.build_optimizers(model)

    def log_callbacks(self, prepared: Prepared) -> list:
        return self.inner.log_callbacks(prepared)

    def callbacks(self, prepared: Prepared) -> list:
        return self.inner.callbacks(prepared)

    def extra_metrics(self, model: Any, test_ds: Any, prepared: Prepared, evaluation: Any
                      ) -> dict[str, Any]:
        return self.inner.extra_metrics(model, test_ds, prepared, evaluation)
