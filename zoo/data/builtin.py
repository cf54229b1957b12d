"""The core's own plugin: generic dataset sources, losses, metrics and training modes.

Model families are not here: they are plugins found through entry points.
"""

from __future__ import annotations

from typing import Any

from zoo.config.cost import image_batch_bytes
from zoo.core.hookspecs import hookimpl
from zoo.core.lazy import lazy
from zoo.core.specs import (
    CLASSIFICATION,
    REGRESSION,
    DatasetSpec,
    LossSpec,
    MetricSpec,
    TrainingModeSpec,
)
from zoo.data.configs import (
    CSVDatasetConfig,
    ImageFolderDatasetConfig,
    SklearnDatasetConfig,
    TFDSDatasetConfig,
    TFRecordDatasetConfig,
)

SKLEARN_DATASETS = {
    "digits": "handwritten digits, 8x8 grey images, 10 classes, 1797 examples",
    "breast_cancer": "breast cancer diagnosis, 30 features, 2 classes, 569 examples",
    "iris": "iris flowers, 4 features, 3 classes, 150 examples",
    "wine": "wine cultivars, 13 features, 3 classes, 178 examples",
    "diabetes": "diabetes progression, 10 features, regression, 442 examples",
}


@hookimpl
def zoo_datasets() -> list[DatasetSpec]:
    specs = [
        DatasetSpec(name, lazy("zoo.data.sklearn_data:load"), f"scikit-learn: {text}", SklearnDatasetConfig)
        for name, text in SKLEARN_DATASETS.items()
    ]
    specs += [
        DatasetSpec("csv", lazy("zoo.data.csv_data:load"), "your CSV file (dataset.path, dataset.target)",
                    CSVDatasetConfig),
        DatasetSpec("tfrecord", lazy("zoo.data.tfrecord_data:load"),
                    "your TFRecord shards of tf.train.Example (dataset.path, dataset.target)",
                    TFRecordDatasetConfig),
        DatasetSpec("image_folder", lazy("zoo.data.image_folder:load"),
                    "your images, one sub-folder per class (dataset.path)", ImageFolderDatasetConfig,
                    cost=image_folder_cost),
        DatasetSpec("tfds", lazy("zoo.data.tfds_data:load"),
                    "TensorFlow Datasets by name (dataset.name, dataset.data_dir)", TFDSDatasetConfig,
                    cost=tfds_cost),
    ]
    return specs


def image_folder_cost(cfg: Any, batch_size: int) -> dict[str, float]:
    return image_batch_bytes(cfg.image_size, 1 if cfg.color_mode == "grayscale" else 3, batch_size)


def tfds_cost(cfg: Any, batch_size: int) -> dict[str, float]:
    return image_batch_bytes(cfg.get("image_size"), 3, batch_size)


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
        TrainingModeSpec("dp_sgd", "privacy", lazy("zoo.training.privacy:PrivateTask"),
                         "differentially private training, DP-SGD with an epsilon ledger (privacy=dp_sgd)",
                         lazy("zoo.training.privacy:check_privacy"),
                         conformance=lazy("zoo.training.privacy:conformance_case")),
        TrainingModeSpec("distill", "distill", lazy("zoo.training.distill:DistillationTask"),
                         "knowledge distillation from a finished run (experiment=distill "
                         "distill.teacher=RUN)", lazy("zoo.training.distill:configure"),
                         conformance=lazy("zoo.training.distill:conformance_case")),
    ]
