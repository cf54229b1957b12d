"""Helpers shared by the built-in loaders: seeded splits, class labels, numpy -> tf.data.

No TensorFlow at import time: `to_raw_splits` imports it when called.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zoo.core.errors import DataError
from zoo.core.lazy import import_tensorflow
from zoo.core.specs import CLASSIFICATION
from zoo.data.base import DatasetInfo, RawSplits

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
Arrays = dict[str, tuple[np.ndarray, np.ndarray]]  # split name -> (features, labels)


def check_fraction(name: str, value: float) -> float:
    """`value` if it lies in [0, 1), else a DataError naming the `dataset.<name>` setting."""
    if not 0 <= value < 1:
        raise DataError(f"dataset.{name}={value} must lie in [0, 1): set e.g. dataset.{name}=0.1")
    return float(value)


def take_out(y: np.ndarray, size: float | int, seed: int, stratify: bool
             ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rest, taken) of `y`; `size` examples (a fraction or a count) are taken, seeded.

    Stratified on `y` when `stratify`, falling back to a plain seeded split when a class is
    too small to stratify.
    """
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    if not size or len(y) == 0:
        return index, index[:0]
    try:
        rest, taken = train_test_split(index, test_size=size, random_state=seed,
                                       stratify=y if stratify else None)
    except ValueError as error:
        if not stratify:
            raise DataError(f"cannot take {size} of {len(y)} examples: {error}") from error
        log.warning("cannot stratify (%s); splitting without stratification", error)
        return take_out(y, size, seed, stratify=False)
    return rest, taken


def limit_indices(y: np.ndarray, limit: int | None, seed: int, stratify: bool) -> np.ndarray:
    """Indices of at most `limit` examples of `y` (all when `limit` is None), seeded."""
    if limit is None or limit >= len(y):
        return np.arange(len(y))
    if limit < 1:
        raise DataError(f"dataset.limit={limit} must be a positive number of training examples")
    return take_out(y, int(limit), seed, stratify)[1]


def split_arrays(x: np.ndarray, y: np.ndarray, cfg: Any, seed: int, stratify: bool,
                 test: tuple[np.ndarray, np.ndarray] | None = None) -> Arrays:
    """Seeded train/validation/test arrays of `(x, y)`.

    `cfg.test_fraction` of all examples go to test (unless `test` is given), then
    `cfg.val_fraction` of the rest to validation; `cfg.limit` then caps the training examples.
    """
    if test is None:
        fraction = check_fraction("test_fraction", cfg.test_fraction)
        rest, test_index = take_out(y, fraction, seed, stratify)
        test, x, y = (x[test_index], y[test_index]), x[rest], y[rest]
    fraction = check_fraction("val_fraction", cfg.val_fraction)
    train, val = take_out(y, fraction, seed, stratify)
    train = train[limit_indices(y[train], getattr(cfg, "limit", None), seed, stratify)]
    return {"train": (x[train], y[train]), "validation": (x[val], y[val]), "test": test}


def to_raw_splits(arrays: Arrays, info: DatasetInfo,
                  parse: Callable[..., Any] | None = None) -> RawSplits:
    """tf.data datasets of `arrays` (each `(x, y)` mapped by `parse` if given); counts in `info`."""
    tf = import_tensorflow()
    datasets = {}
    for split in SPLITS:
        x, y = arrays[split]
        dataset = tf.data.Dataset.from_tensor_slices((x, y))
        if parse is not None:
            dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        datasets[split] = dataset
        info.num_examples[split] = len(y)
    return RawSplits(datasets["train"], datasets["validation"], datasets["test"], info)


def label_array(y: Sequence[Any] | np.ndarray, task: str) -> np.ndarray:
    """Labels as int32 class ids (classification) or float32 scalars (regression)."""
    return np.asarray(y, dtype=np.int32 if task == CLASSIFICATION else np.float32)


def encode_names(values: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Class ids of string labels and the class names (sorted unique values) they index."""
    names = sorted(set(values))
    return ids_of_names(values, names, "the labels"), names


def ids_of_names(values: Sequence[str], names: Sequence[str], where: str) -> np.ndarray:
    """Class ids of `values` in `names`; a DataError names the first unknown class."""
    lookup = {name: i for i, name in enumerate(names)}
    unknown = [v for v in values if v not in lookup]
    if unknown:
        raise DataError(f"class {unknown[0]!r} in {where} is not among the training classes "
                        f"({', '.join(names)}): fix the label or add examples of it to training")
    return np.array([lookup[v] for v in values], dtype=np.int32)


def check_int_labels(y: np.ndarray, num_classes: int | None, where: str,
                     fix: str = "fix the label or raise dataset.num_classes") -> int:
    """Check integer class ids in `y` lie in [0, num_classes); return the number of classes.

    Without `num_classes` the number of classes is `max(y) + 1`; `fix` ends the range error.
    """
    y = np.asarray(y)
    if len(y) and y.min() < 0:
        raise DataError(f"negative class id {int(y.min())} in {where}: class ids must be "
                        "0..K-1; renumber them, use class names, or set dataset.task=regression")
    if num_classes is None:
        return int(y.max()) + 1 if len(y) else 0
    if len(y) and y.max() >= num_classes:
        raise DataError(f"class id {int(y.max())} in {where} is outside [0, {num_classes}): {fix}")
    return int(num_classes)


def require_classes(num_classes: int, where: str, fix: str) -> None:
    """A DataError unless there are at least two classes to tell apart."""
    if num_classes < 2:
        raise DataError(f"{where} has {num_classes} class: classification needs at least two; "
                        f"{fix}")
