"""The core's generic dataset sources: the plugin `zoo.builtin`, an entry point of keras-zoo's
`zoo.core_plugins` group (the registry, below this layer, does not name it).

Losses, metrics and training modes are registered by the training layer (`zoo.training.builtin`);
model families are plugins found through entry points.
"""

from __future__ import annotations

from typing import Any

from zoo.config.cost import image_batch_bytes
from zoo.core.hookspecs import hookimpl
from zoo.core.lazy import lazy
from zoo.core.specs import DatasetSpec
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
