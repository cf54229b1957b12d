"""What every dataset source returns: raw splits plus a description of the data.

A loader returns `RawSplits` of unbatched, un-normalised `(features, label)` tf.data
datasets; `zoo.data.pipeline` computes normalisation on the training split and batches.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo.core.formats import format_of, stamped, unstamped, write_versioned

MODALITIES = ("tabular", "image", "sequence", "text")
DATASET_FORMAT = 2  # 2: typed `text`, `scaling` and worker shares; 1 (zoo 0.1.0, unversioned): in `extra`


@dataclass
class TextFacts:
    """What a text family's builder, exporter and generator read back about its data and its fitted
    tokenizer (`dataset.json` "text"). The data source sets `pairs`; the family sets the rest."""

    pairs: bool = False  # each example is a pair of texts
    vocabulary_size: int | None = None  # the embedding's rows (tokens the model can see)
    vocabulary: list[str] | None = None  # the vocabulary itself, when short enough to keep here (LSTM)
    vocabulary_file: str | None = None  # the vocabulary's file in the run folder (LSTM, BERT)
    tokenizer: str | None = None  # the tokenizer's file in the run folder (GPT: tokenizer.json)
    lowercase: bool | None = None  # the tokenizer lowercases (BERT's WordPiece)
    end_token_id: int | None = None  # the token that ends a text (GPT)
    inputs: list[str] | None = None  # the model's input names (token ids, padding mask, ...)
    max_predictions: int | None = None  # masked positions per sequence (BERT-MLM)
    tokens: dict[str, int] | None = None  # tokens per split (GPT)


@dataclass
class Scaling:
    """A linear map into model space that a family applies to its own data (GAN, VAE):
    `(x - offset) / scale` per channel (the last axis), chosen so that the training split spans
    `value_range` (a min-max scale; the pipeline applies it, the export inverts it)."""

    offset: list[float]
    scale: list[float]
    value_range: list[float] | None = None  # [low, high] the training split spans after scaling


# format 1 kept a family's facts in `extra`: these keys moved into `TextFacts`
_TEXT_KEYS = {"text_pairs": "pairs", **{k: k for k in (
    "vocabulary_size", "vocabulary", "vocabulary_file", "tokenizer", "lowercase", "end_token_id", "inputs",
    "max_predictions", "tokens")}}


@dataclass
class DatasetInfo:
    """Shape, task and labels of a dataset; saved in each run folder as `dataset.json` (format
    `DATASET_FORMAT`, docs/architecture.md "Files on disk")."""

    name: str
    task: str  # "classification" | "regression"
    modality: str  # one of MODALITIES
    input_shape: tuple[int, ...]
    num_classes: int | None = None
    class_names: list[str] | None = None
    feature_names: list[str] | None = None
    num_examples: dict[str, int] = field(default_factory=dict)
    input_dtype: str = "float32"
    # The raw inputs the model takes (`zoo.data.features`); `input_shape` is what the
    # network sees after preprocessing. None for families that prepare their own inputs (text).
    features: list[dict[str, Any]] | None = None
    # Regression: the training split's target mean and std (the network learns standardised
    # targets; its output is scaled back, so predictions and metrics are in the data's units).
    target: dict[str, float] | None = None
    # Families that scale their own data (GAN, VAE) set it; others preprocess inside the model.
    scaling: Scaling | None = None
    text: TextFacts = field(default_factory=TextFacts)
    # A streamed table held in data shares (`dataset.shares`): how many, each share's training rows,
    # each worker's training rows, and what a share is ("files", "byte ranges of each file", ...).
    shares: int | None = None
    share_train_rows: list[int] | None = None
    worker_train_rows: list[int] | None = None
    worker_validation_rows: list[int] | None = None  # each worker's own validation rows
    worker_share: str | None = None
    # Free-form notes for people reading the file: where the data came from (path, files, format,
    # TFDS version and split specs, label map). Nothing in zoo reads them; a third-party source or
    # family may add its own keys here (what a builder reads back belongs in a typed field).
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The file's content, stamped with its format (`from_dict` reads it back as it is)."""
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        if self.text == TextFacts():
            data["text"] = None
        return stamped(data, DATASET_FORMAT)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path = "dataset.json") -> DatasetInfo:
        """A `dataset.json`'s content (any format up to `DATASET_FORMAT`; a newer one is a FormatError
        naming `source`); a field of the wrong kind is a TypeError or ValueError."""
        version = format_of(data, source, DATASET_FORMAT)
        data = unstamped(data)
        if version == 1:
            data = _from_format_1(data)
        data["input_shape"] = tuple(data["input_shape"])
        if data.get("scaling") is not None:
            data["scaling"] = Scaling(**data["scaling"])
        data["text"] = TextFacts(**(data.get("text") or {}))
        return cls(**data)

    def save(self, path: str | Path) -> None:
        write_versioned(path, unstamped(self.to_dict()), DATASET_FORMAT)

    @classmethod
    def load(cls, path: str | Path) -> DatasetInfo:
        return cls.from_dict(json.loads(Path(path).read_text()), path)


def _from_format_1(data: dict[str, Any]) -> dict[str, Any]:
    """Format 1 (zoo 0.1.0) as format 2: a family's facts from `extra` into typed fields, and the
    min-max scale its `mean`/`std` held into `scaling`."""
    data, extra = dict(data), dict(data.get("extra") or {})
    text = {new: extra.pop(old) for old, new in _TEXT_KEYS.items() if old in extra}
    data["text"] = text or None
    for key in ("worker_train_rows", "worker_share"):  # format 1 kept these two in `extra`
        data[key] = extra.pop(key, None)
    mean, std = data.pop("mean", None), data.pop("std", None)
    value_range = extra.pop("value_range", None)
    data["scaling"] = None if mean is None else {"offset": mean, "scale": std, "value_range": value_range}
    data["extra"] = extra
    return data


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
    # split -> a function returning a fresh iterator over the same record batches as numpy
    # `(columns by input name, labels)`, for preprocessing in numpy (`zoo.preprocessing.table_numpy`)
    sources: dict[str, Any] | None = None
