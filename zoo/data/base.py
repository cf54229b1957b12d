"""What every dataset source returns: raw splits plus a description of the data.

A loader returns `RawSplits` of unbatched, un-normalised `(features, label)` tf.data
datasets; `zoo.data.pipeline` computes normalisation on the training split and batches.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo.core.atomic import write_atomic

MODALITIES = ("tabular", "image", "sequence", "text")


@dataclass
class DatasetInfo:
    """Shape, task and labels of a dataset; saved in each run folder as `dataset.json`."""

    name: str
    task: str  # "classification" | "regression"
    modality: str  # one of MODALITIES
    input_shape: tuple[int, ...]
    num_classes: int | None = None
    class_names: list[str] | None = None
    feature_names: list[str] | None = None
    num_examples: dict[str, int] = field(default_factory=dict)
    input_dtype: str = "float32"
    # Normalisation constants computed on the training split (broadcast over the last axis);
    # families that scale their own data (GAN, VAE) set them. Others preprocess inside the model.
    mean: list[float] | None = None
    std: list[float] | None = None
    # The raw inputs the model takes (`zoo.data.features`); `input_shape` is what the
    # network sees after preprocessing. None for families that prepare their own inputs (text).
    features: list[dict[str, Any]] | None = None
    # Regression: the training split's target mean and std (the network learns standardised
    # targets; its output is scaled back, so predictions and metrics are in the data's units).
    target: dict[str, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetInfo:
        data = dict(data)
        data["input_shape"] = tuple(data["input_shape"])
        return cls(**data)

    def save(self, path: str | Path) -> None:
        write_atomic(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> DatasetInfo:
        return cls.from_dict(json.loads(Path(path).read_text()))


@dataclass
class RawSplits:
    """Unbatched `(features, label)` datasets for each split, and their `DatasetInfo`, as a
    source read them (a family's data part turns them into a `zoo.data.prepared.Prepared`)."""

    train: Any  # tf.data.Dataset
    validation: Any
    test: Any
    info: DatasetInfo
    # Training-split statistics a streaming source computed while reading (`zoo.data.stats`):
    # {"features": input name -> statistics, "target": {"mean", "std"}}; else computed on `train`.
    stats: dict[str, Any] | None = None
    # split -> the same rows as a dataset of batches (a streaming source's record batches), which
    # the preprocessor maps batch by batch instead of re-batching single rows
    batches: dict[str, Any] | None = None
