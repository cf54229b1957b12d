"""Real datasets embedded in scikit-learn: digits, breast_cancer, iris, wine, diabetes."""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.core.errors import DataError, close_matches
from zoo.core.specs import CLASSIFICATION, REGRESSION
from zoo.data.base import DatasetInfo, RawSplits
from zoo.data.splits import label_array, split_arrays, to_raw_splits

REGRESSION_SOURCES = ("diabetes",)
SOURCES = ("digits", "breast_cancer", "iris", "wine", "diabetes")


def fetch(source: str) -> Any:
    """The scikit-learn `Bunch` of `source` (shipped with scikit-learn: no download)."""
    if source not in SOURCES:
        matches = close_matches(source, SOURCES) or SOURCES
        raise DataError(f"unknown scikit-learn dataset {source!r}: use one of "
                        f"{', '.join(matches)} (dataset.source=...)")
    from sklearn import datasets

    return getattr(datasets, f"load_{source}")()


def load(cfg: Any, seed: int) -> RawSplits:
    """Seeded train/validation/test splits of the scikit-learn dataset `cfg.source`."""
    bunch = fetch(cfg.source)
    task = REGRESSION if cfg.source in REGRESSION_SOURCES else CLASSIFICATION
    as_image = bool(getattr(cfg, "as_image", False))
    if as_image and cfg.source != "digits":
        raise DataError(f"dataset.as_image=true works only with digits, not {cfg.source!r}: "
                        "set dataset.as_image=false")
    x = np.asarray(bunch.data, dtype=np.float32)
    if as_image:
        x = x.reshape(-1, 8, 8, 1)
    arrays = split_arrays(x, label_array(bunch.target, task), cfg, seed,
                          stratify=task == CLASSIFICATION)
    return to_raw_splits(arrays, describe(cfg, bunch, task, x.shape[1:], as_image))


def describe(cfg: Any, bunch: Any, task: str, shape: tuple[int, ...], as_image: bool
             ) -> DatasetInfo:
    """The DatasetInfo of a scikit-learn dataset (without example counts)."""
    names = [str(n) for n in bunch.target_names] if task == CLASSIFICATION else None
    features = getattr(bunch, "feature_names", None)
    return DatasetInfo(
        name=getattr(cfg, "name", "") or cfg.source,
        task=task,
        modality="image" if as_image else "tabular",
        input_shape=tuple(int(d) for d in shape),
        num_classes=len(names) if names else None,
        class_names=names,
        feature_names=None if as_image or features is None else [str(f) for f in features],
        extra={"source": f"sklearn.datasets.load_{cfg.source}"},
    )
