"""The core's losses, metrics and training modes: the plugin `zoo.builtin.training`, an entry point
of keras-zoo's `zoo.core_plugins` group, registered by the layer that trains with them (the loss and
metric factories live below it, in `zoo.losses` and `zoo.metrics`). Importing it stays TensorFlow-free.
"""

from __future__ import annotations

from zoo.core.hookspecs import hookimpl
from zoo.core.lazy import lazy
from zoo.core.specs import CLASSIFICATION, REGRESSION, LossSpec, MetricSpec, TrainingModeSpec


def _loss(name: str, description: str, tasks: tuple[str, ...]) -> LossSpec:
    return LossSpec(name, lazy(f"zoo.losses:{name}"), description, tasks)


@hookimpl
def zoo_losses() -> list[LossSpec]:
    return [
        _loss("cross_entropy", "sparse categorical cross-entropy on integer labels", (CLASSIFICATION,)),
        _loss("label_smoothing_cross_entropy", "cross-entropy with label smoothing 0.1",
              (CLASSIFICATION,)),
        _loss("focal_cross_entropy", "categorical focal cross-entropy (gamma 2) for imbalanced classes",
              (CLASSIFICATION,)),
        _loss("mse", "mean squared error", (REGRESSION,)),
        _loss("mae", "mean absolute error", (REGRESSION,)),
        _loss("huber", "Huber loss (delta 1.0)", (REGRESSION,)),
    ]


def _metric(name: str, description: str, tasks: tuple[str, ...]) -> MetricSpec:
    return MetricSpec(name, lazy(f"zoo.metrics:{name}"), description, tasks)


@hookimpl
def zoo_metrics() -> list[MetricSpec]:
    return [
        _metric("accuracy", "fraction of correct top-1 predictions", (CLASSIFICATION,)),
        _metric("precision", "macro-averaged precision", (CLASSIFICATION,)),
        _metric("recall", "macro-averaged recall", (CLASSIFICATION,)),
        _metric("f1", "macro-averaged F1 score", (CLASSIFICATION,)),
        _metric("auc", "one-vs-rest ROC AUC", (CLASSIFICATION,)),
        _metric("mae", "mean absolute error", (REGRESSION,)),
        _metric("mse", "mean squared error", (REGRESSION,)),
        _metric("r2", "coefficient of determination R^2", (REGRESSION,)),
    ]


@hookimpl
def zoo_training_modes() -> list[TrainingModeSpec]:
    return [
        # DP-SGD first: its checks read only the config (and refuse a distilled run) before
        # distillation opens its teacher's run folder.
        TrainingModeSpec("dp_sgd", "privacy", lazy("zoo.training.privacy:PrivateTraining"),
                         "differentially private training, DP-SGD with an epsilon ledger (privacy=dp_sgd)",
                         lazy("zoo.training.privacy:check_privacy"),
                         conformance=lazy("zoo.training.privacy:conformance_case")),
        TrainingModeSpec("distill", "distill", lazy("zoo.training.distill:DistillationTraining"),
                         "knowledge distillation from a finished run (experiment=distill "
                         "distill.teacher=RUN)", lazy("zoo.training.distill:configure"),
                         data=lazy("zoo.training.distill:TeacherData"),
                         conformance=lazy("zoo.training.distill:conformance_case")),
    ]
