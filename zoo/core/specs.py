"""What a plugin registers: a named model builder, dataset, loss, metric or training mode.

Specs are plain data and import nothing heavy: a plugin module is imported to list its
names, and TensorFlow is imported only when a builder or loader is called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)
# Generative families (GAN, VAE) learn the data distribution; their losses are for this kind only.
GENERATIVE = "generative"
# Datasets of unlabelled examples (text for masked-language-model pre-training).
UNLABELLED = "unlabelled"


@dataclass(frozen=True)
class ConformanceCase:
    """The tiny run on which the conformance kit (`zoo.testing.check_model`) checks a model.

    `overrides` are config overrides after `model=<name>` (the default dataset, scikit-learn's
    digits, unless one is given); `data(folder) -> overrides`, when set, writes a small dataset into
    `folder` and returns the overrides that point at it (`zoo.testing.data` has text sets);
    `formats` are the export formats the model supports (none: not deployable).
    """

    overrides: tuple[str, ...] = ()
    data: Callable[..., list[str]] | None = None
    formats: tuple[str, ...] = ("onnx", "savedmodel", "tflite")


@dataclass(frozen=True)
class ModelSpec:
    """A model builder: `build(cfg, info) -> keras.Model`.

    `cfg` is the `model` config node, `info` the dataset's `DatasetInfo`. `config` is the
    dataclass that types the `model` config group for this name (stored in Hydra's
    ConfigStore as `schema/model/<name>`). A family that prepares, trains, scores or exports
    differently declares the part of that role (a class built as `Part(cfg, run, registry)`);
    None keeps the default part (`zoo.tasks.select.DEFAULTS`).
    """

    name: str
    build: Callable[..., Any]
    description: str
    config: type | None = None
    tasks: tuple[str, ...] = TASKS
    modalities: tuple[str, ...] = ("tabular", "image", "sequence", "text")
    # The roles (`zoo.tasks`): how data is prepared (a `DataPreparer`), how the model trains
    # (a `Training`), how it is scored (an `Evaluator`), how it is exported and generates (an
    # `ExportModule`); None: supervised Keras compile/fit on preprocessed inputs.
    data: Callable[..., Any] | None = None
    training: Callable[..., Any] | None = None
    evaluation: Callable[..., Any] | None = None
    export: Callable[..., Any] | None = None
    # The conformance kit's tiny case (`zoo.testing`); the default trains on the default dataset.
    conformance: ConformanceCase = ConformanceCase()
    # `cost(cfg, batch_size) -> {what: bytes}`: the largest tensors these settings would make,
    # checked before anything is built (`zoo.config.cost`); no TensorFlow in it.
    cost: Callable[..., dict[str, float]] | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset source: `load(cfg, seed) -> RawSplits` (see `zoo.data.base`)."""

    name: str
    load: Callable[..., Any]
    description: str
    config: type | None = None
    cost: Callable[..., dict[str, float]] | None = None  # as ModelSpec.cost


@dataclass(frozen=True)
class LossSpec:
    """A loss factory: `build(info) -> keras loss`."""

    name: str
    build: Callable[..., Any]
    description: str
    tasks: tuple[str, ...] = TASKS


@dataclass(frozen=True)
class MetricSpec:
    """A metric factory: `build(info) -> keras.metrics.Metric`."""

    name: str
    build: Callable[..., Any]
    description: str
    tasks: tuple[str, ...] = TASKS


@dataclass(frozen=True)
class TrainingModeSpec:
    """A way of training any family's model (distillation, DP-SGD), chosen by a config node.

    The mode is on when the config node `node` is set (not null). `configure(cfg) -> cfg | None`
    checks the config before the run folder opens and may return a changed copy (distillation
    trains on its teacher's dataset); `training(inner) -> zoo.tasks.training.TrainingWrapper`
    wraps the family's training part; `data(inner) -> zoo.tasks.preparer.DataPreparer`, when set,
    replaces how data is prepared (distillation adopts its teacher's). Modes apply in
    registration order. `conformance(case: ModeCase) -> overrides | None` gives the overrides that
    turn the mode on for a model's trained conformance case (None: the mode does not apply to that
    model); the conformance kit trains each mode with them.
    """

    name: str
    node: str
    training: Callable[..., Any]
    description: str
    configure: Callable[..., Any] | None = None
    data: Callable[..., Any] | None = None
    conformance: Callable[..., list[str] | None] | None = None


@dataclass(frozen=True)
class ModeCase:
    """What a training mode's `conformance` is given: a model's conformance case, trained.

    `spec` is the model's `ModelSpec`, `cfg` the case's composed config, `info` its `DatasetInfo`
    (the run's `dataset.json`), `run_dir` the finished run (a teacher, for distillation) and
    `network` the trained Keras model (its layers, for a mode that refuses some).
    """

    spec: ModelSpec
    cfg: Any
    info: Any
    run_dir: Any
    network: Any
