"""The task contract: how a family turns data into inputs, compiles, and is scored.

The trainer, strategy, callbacks and run folder are shared; a family that trains differently
(a GAN's two optimizers, a tokenizer fitted on the training split) registers its own `Task`
with `ModelSpec(task=...)` and overrides only the steps that differ.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from zoo.core.errors import ZooError, plural
from zoo.core.registry import Registry
from zoo.core.specs import CLASSIFICATION, TASKS
from zoo.data.base import DatasetInfo, RawSplits

DEFAULT_LOSS = {"classification": "cross_entropy", "regression": "mse"}
DEFAULT_METRICS = {"classification": ["accuracy"], "regression": ["mae", "mse"]}


def check_task(kind: str, name: str, tasks: tuple[str, ...], task: str) -> None:
    if task not in tasks:
        raise ZooError(f"{kind} {name!r} is for {' or '.join(tasks)}, but the dataset is {task}: "
                       f"pick a {task} {kind} (`zoo list {plural(kind)}`)")


class Task:
    """Supervised classification or regression with Keras `compile`/`fit` (the default)."""

    def prepare_data(self, splits: RawSplits, cfg: DictConfig, run: Any, fit: bool) -> RawSplits:
        """Make model inputs from raw splits.

        `fit=True` when training starts: fit the preprocessor (Keras preprocessing layers adapted on
        the training split, `zoo.preprocessing`) and save it with `dataset.json` into the run folder;
        `fit=False` when a finished run is reloaded: restore both from the run folder instead.
        """
        from zoo.preprocessing.prepare import prepare_splits

        return prepare_splits(splits, cfg.dataset, run, fit)

    def check(self, cfg: DictConfig, info: DatasetInfo, registry: Registry) -> None:
        """Fail early when the loss or a metric does not fit the dataset's task."""
        check_task("loss", self.loss_name(cfg, info), registry.loss(self.loss_name(cfg, info)).tasks,
                   info.task)
        for name in self.metric_names(cfg, info):
            check_task("metric", name, registry.metric(name).tasks, info.task)

    def loss_name(self, cfg: DictConfig, info: DatasetInfo) -> str:
        if info.task not in TASKS:
            raise ZooError(f"dataset {info.name!r} is {info.task}: model {self.model_name(cfg)!r} needs "
                           "labels; use a labelled dataset, or a model for unlabelled data "
                           "(`zoo list models`)")
        return cfg.trainer.loss or DEFAULT_LOSS[info.task]

    @staticmethod
    def model_name(cfg: DictConfig) -> str:
        return str(cfg.model.name)

    def metric_names(self, cfg: DictConfig, info: DatasetInfo) -> list[str]:
        return list(cfg.trainer.metrics or DEFAULT_METRICS[info.task])

    def compile(self, model: Any, optimizer: Any, cfg: DictConfig, info: DatasetInfo,
                registry: Registry) -> None:
        """Compile `model` (called inside the strategy scope)."""
        loss = registry.loss(self.loss_name(cfg, info)).build(info)
        if info.target:
            from zoo.losses import StandardizedLoss

            loss = StandardizedLoss(loss, info.target["mean"], info.target["std"])
        model.compile(optimizer=optimizer, loss=loss,
                      metrics=[registry.metric(n).build(info) for n in self.metric_names(cfg, info)],
                      jit_compile=cfg.trainer.jit_compile)

    def saved_model(self, model: Any, splits: RawSplits) -> Any:
        """What `model.keras` holds and exports take: the network behind its preprocessor (raw
        inputs in), or the network itself when the family prepares its own inputs."""
        if splits.preprocessor is None:
            return model
        from zoo.preprocessing.assemble import assemble

        return assemble(splits.preprocessor, model, splits.info.features)

    def fit_model(self, model: Any) -> Any:
        """What the trainer fits: `model`, or a wrapper that trains it (distillation's teacher +
        student); checkpoints and `model.keras` always hold `model` itself."""
        return model

    def build_optimizers(self, model: Any) -> None:
        """Create the optimizer variables before a checkpoint that holds their values is loaded
        (a family with several optimizers builds each of them)."""
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)

    def export_signature(self, model: Any, info: DatasetInfo) -> list | None:
        """The named `tf.TensorSpec`s (batch dimension `None`) an export traces the model with, or
        None for the model's own inputs."""
        return None

    def export_assets(self, run: Any) -> list:
        """Files a bundle carries besides the run's `vocab*`/`tokenizer*` files (paths)."""
        return []

    def extra_metrics(self, model: Any, test_ds: Any, info: DatasetInfo, evaluation: Any) -> dict[str, Any]:
        """More top-level entries for `metrics.json` (e.g. distillation's teacher vs student)."""
        return {}

    def export_parts(self, model: Any, cfg: DictConfig, splits: RawSplits) -> list:
        """What `zoo export` writes (`zoo.tasks.export_parts.ExportPart`s): by default the model itself;
        a GAN exports its generator, a VAE its encoder and decoder."""
        from zoo.tasks.export_parts import default_parts

        return default_parts(model, self, cfg, splits)

    def export_text(self, cfg: DictConfig, info: DatasetInfo) -> dict[str, Any] | None:
        """How `zoo predict`/`zoo serve` tokenise raw text for this model: the `tokenizer.json` the
        family wrote into the run folder and how its encodings feed the model (`zoo.runtime.text`),
        or None when the model does not read text."""
        return None

    def generate(self, run: Any, cfg: DictConfig, prompts: list[str], options: Any,
                 checkpoint: str = "final") -> list[str]:
        """Completions of `prompts` by a trained run (`zoo generate`; `options` is a
        `zoo.runtime.generation_options.GenerationOptions`). Only language models generate text."""
        raise ZooError(f"model {self.model_name(cfg)!r} does not generate text: `zoo generate` needs the "
                       "run of a causal language model")

    def callbacks(self, cfg: DictConfig, info: DatasetInfo, run: Any) -> list:
        """Extra Keras callbacks of this family (the shared ones are always there)."""
        return []

    def log_callbacks(self, cfg: DictConfig, info: DatasetInfo, run: Any) -> list:
        """Callbacks that add entries to the epoch logs (DP-SGD's epsilon); they run before the
        shared ones, so `history.csv` and the epoch log line show those entries."""
        return []

    def evaluate(self, model: Any, dataset: Any, info: DatasetInfo) -> Any:
        """Score `model` on a batched dataset; returns a `zoo.tasks.report.Evaluation`."""
        from zoo.tasks.report import evaluate_model

        return evaluate_model(model, dataset, info)

    def headline(self, info: DatasetInfo) -> str:
        """The test metric printed at the end of `zoo train`."""
        return "accuracy" if info.task == CLASSIFICATION else "mae"


class DelegatingTask(Task):
    """A training mode around a family's task (distillation, DP-SGD): every step goes to `inner`
    unless the mode overrides it."""

    def __init__(self, inner: Task):
        self.inner = inner

    def prepare_data(self, splits: RawSplits, cfg: DictConfig, run: Any, fit: bool) -> RawSplits:
        return self.inner.prepare_data(splits, cfg, run, fit)

    def check(self, cfg: DictConfig, info: DatasetInfo, registry: Registry) -> None:
        self.inner.check(cfg, info, registry)

    def loss_name(self, cfg: DictConfig, info: DatasetInfo) -> str:
        return self.inner.loss_name(cfg, info)

    def metric_names(self, cfg: DictConfig, info: DatasetInfo) -> list[str]:
        return self.inner.metric_names(cfg, info)

    def compile(self, model: Any, optimizer: Any, cfg: DictConfig, info: DatasetInfo,
                registry: Registry) -> None:
        self.inner.compile(model, optimizer, cfg, info, registry)

    def fit_model(self, model: Any) -> Any:
        return self.inner.fit_model(model)

    def build_optimizers(self, model: Any) -> None:
        self.inner.build_optimizers(model)

    def export_signature(self, model: Any, info: DatasetInfo) -> list | None:
        return self.inner.export_signature(model, info)

    def export_assets(self, run: Any) -> list:
        return self.inner.export_assets(run)

    def saved_model(self, model: Any, splits: RawSplits) -> Any:
        return self.inner.saved_model(model, splits)

    def extra_metrics(self, model: Any, test_ds: Any, info: DatasetInfo, evaluation: Any) -> dict[str, Any]:
        return self.inner.extra_metrics(model, test_ds, info, evaluation)

    def export_parts(self, model: Any, cfg: DictConfig, splits: RawSplits) -> list:
        return self.inner.export_parts(model, cfg, splits)

    def export_text(self, cfg: DictConfig, info: DatasetInfo) -> dict[str, Any] | None:
        return self.inner.export_text(cfg, info)

    def callbacks(self, cfg: DictConfig, info: DatasetInfo, run: Any) -> list:
        return self.inner.callbacks(cfg, info, run)

    def log_callbacks(self, cfg: DictConfig, info: DatasetInfo, run: Any) -> list:
        return self.inner.log_callbacks(cfg, info, run)

    def evaluate(self, model: Any, dataset: Any, info: DatasetInfo) -> Any:
        return self.inner.evaluate(model, dataset, info)

    def headline(self, info: DatasetInfo) -> str:
        return self.inner.headline(info)


def task_for(spec: Any) -> Task:
    """The task of a model spec: its own, or the supervised default."""
    return spec.task() if getattr(spec, "task", None) else Task()
