"""What a family's data preparation returns: the prepared splits and everything fitted on them.

`Prepared` is frozen: the steps after preparation (training, evaluation, export) read it and
never change it, and a family keeps no fitted state of its own between steps (keras-hub keeps
its tokenizer in the `Preprocessor`, not in the `Task`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zoo.data.base import DatasetInfo

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Prepared:
    """Model-ready `(inputs, label[, weight])` datasets of each split, their `DatasetInfo`, and the
    preprocessing fitted on the training split (or restored from the run folder)."""

    train: Any  # tf.data.Dataset
    validation: Any
    test: Any
    info: DatasetInfo
    preprocessor: Any = None  # the fitted keras.Model (raw -> network input), if the family has one
    raw: Mapping[str, Any] | None = None  # split -> the raw dataset, kept when `preprocessor` maps them
    tokenizer: Any = None  # a text family's fitted (or restored) tokenizer
    arrays: Mapping[str, Any] | None = None  # split -> the in-memory arrays the datasets were made from
    batches: Mapping[str, Any] | None = None  # split -> the same rows as model-ready record batches, in order
