"""The task contract: how a family turns data into inputs, compiles, is scored and exported.

A task is built once per run with its config and run folder, as TF Model Garden's `Task(params)`:
`Task(cfg, run, registry)`. Its steps then take only what changes between calls (the model, the
prepared splits, the dataset info), never the config again. The trainer, strategy, callbacks and
run folder are shared; a family that trains differently (a GAN's two optimizers, a tokenizer
fitted on the training split) registers its own `Task` subclass with `ModelSpec(task=...)` and
overrides only the steps that differ. A training mode (distillation, DP-SGD) is a
`DelegatingTask` around the family's task, registered as a `TrainingModeSpec` and chosen by its
config node (`zoo.tasks.select.build_task`).

The steps, by part:

- data: `prepare_data` (the preprocessor, fitted on the training split or restored);
- compile and fit: `check`, `loss_name`, `metric_names`, `compile`, `fit_model`,
  `build_optimizers`, `log_callbacks`, `callbacks`;
- evaluation: `evaluate`, `extra_metrics`, `headline`;
- export and serving: `saved_model`, `export_parts`, `export_signature`, `export_text`,
  `export_assets`, `generate`.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from zoo.core.errors import ZooError, plural
from zoo.core.registry import Registry, get_registry
from zoo.core.specs import CLASSIFICATION, TASKS
from zoo.data.base import DatasetInfo, RawSplits

DEFAULT_LOSS = {"classification": "cross_entropy", "regression": "mse"}
DEFAULT_METRICS = {"classification": ["accuracy"], "regression": ["mae", "mse"]}


def check_task(kind: str, name: str, tasks: tuple[str, ...], task: str) -> None:
    if task not in tasks:
        raise ZooError(f"{kind} {name!r} is for {' or '.join(tasks)}, but the dataset is {task}: "
                       f"pick a {task} {kind} (`zoo list {plural(kind)}`)")


class Task:
    """Supervised classification or regression with Keras `compile`/`fit` (the default).

    `cfg` is the run's whole composed config, `run` its `RunDir` (None where no run folder
    exists, e.g. counting parameters for `zoo list`), `registry` the plugin registry.
    """

    def __init__(self, cfg: DictConfig, run: Any = None, registry: Registry | None = None) -> None:
        self.cfg = cfg
        self.run = run
        self.registry = registry or get_registry()

    @property
    def model_name(self) -> str:
        return str(self.cfg.model.name)

    # -- data ---------------------------------------------------------------------------------

    def prepare_data(self, splits: RawSplits, fit: bool) -> RawSplits:
        """Make model inputs from raw splits.

        `fit=True` when training starts: fit the preprocessor (Keras preprocessing layers adapted on
        the training split, `zoo.preprocessing`) and save it with `dataset.json` into the run folder;
        `fit=False` when a finished run is reloaded: restore both from the run folder instead.
        """
        from zoo.preprocessing.prepare import prepare_splits

        return prepare_splits(splits, self.cfg.dataset, self.run, fit)

    # -- compile and fit ----------------------------------------------------------------------

    def check(self, info: DatasetInfo) -> None:
        """Fail early when the loss or a metric does not fit the dataset's task."""
        loss = self.loss_name(info)
        check_task("loss", loss, self.registry.loss(loss).tasks, info.task)
        for name in self.metric_names(info):
            check_task("metric", name, self.registry.metric(name).tasks, info.task)

    def loss_name(self, info: DatasetInfo) -> str:
        if info.task not in TASKS:
            raise ZooError(f"dataset {info.name!r} is {info.task}: model {self.model_name!r} needs "
                           "labels; use a labelled dataset, or a model for unlabelled data "
                           "(`zoo list models`)")
        return self.cfg.trainer.loss or DEFAULT_LOSS[info.task]

    def metric_names(self, info: DatasetInfo) -> list[str]:
        return list(self.cfg.trainer.metrics or DEFAULT_METRICS[info.task])

    def compile(self, model: Any, optimizer: Any, info: DatasetInfo) -> None:
        """Compile `model` (called inside the strategy scope)."""
        loss = self.registry.loss(self.loss_name(info)).build(info)
        if info.target:
            from zoo.losses import StandardizedLoss

            loss = StandardizedLoss(loss, info.target["mean"], info.target["std"])
        model.compile(optimizer=optimizer, loss=loss,
                      metrics=[self.registry.metric(n).build(info) for n in self.metric_names(info)],
                      jit_compile=self.cfg.trainer.jit_compile)

    def fit_model(self, model: Any) -> Any:
        """What the trainer fits: `model`, or a wrapper that trains it (distillation's teacher +
        student); checkpoints and `model.keras` always hold `model` itself."""
        return model

    def build_optimizers(self, model: Any) -> None:
        """Create the optimizer variables before a checkpoint that holds their values is loaded
        (a family with several optimizers builds each of them)."""
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)

    def log_callbacks(self, splits: RawSplits) -> list:
        """Callbacks that add entries to the epoch logs (DP-SGD's epsilon); they run before the
        shared ones, so `history.csv` and the epoch log line show those entries."""
        return []

    def callbacks(self, splits: RawSplits) -> list:
        """Extra Keras callbacks of this family (the shared ones are always there); `splits` are
        the prepared splits."""
        return []

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, model: Any, dataset: Any, splits: RawSplits) -> Any:
        """Score `model` on `dataset`, one batched split of the prepared `splits` (generative
        families also compare against another split); returns a `zoo.tasks.report.Evaluation`."""
        from zoo.tasks.report import evaluate_model

        return evaluate_model(model, dataset, splits.info)

    def extra_metrics(self, model: Any, test_ds: Any, splits: RawSplits, evaluation: Any) -> dict[str, Any]:
        """More top-level entries for `metrics.json` (e.g. distillation's teacher vs student)."""
        return {}

    def headline(self, info: DatasetInfo) -> str:
        """The test metric printed at the end of `zoo train`."""
        return "accuracy" if info.task == CLASSIFICATION else "mae"

    # -- export and serving -------------------------------------------------------------------

    def saved_model(self, model: Any, splits: RawSplits) -> Any:
        """What `model.keras` holds and exports take: the network behind its preprocessor (raw
        inputs in), or the network itself when the family prepares its own inputs."""
        if splits.preprocessor is None:
            return model
        from zoo.preprocessing.assemble import assemble

        return assemble(splits.preprocessor, model, splits.info.features)

    def export_parts(self, model: Any, splits: RawSplits) -> list:
        """What `zoo export` writes (`zoo.tasks.export_parts.ExportPart`s): by default the model itself;
        a GAN exports its generator, a VAE its encoder and decoder."""
        from zoo.tasks.export_parts import default_parts

        return default_parts(model, self, splits)

    def export_signature(self, model: Any, info: DatasetInfo) -> list | None:
        """The named `tf.TensorSpec`s (batch dimension `None`) an export traces the model with, or
        None for the model's own inputs."""
        return None

    def export_text(self, info: DatasetInfo) -> dict[str, Any] | None:
        """How `zoo predict`/`zoo serve` tokenise raw text for this model: the `tokenizer.json` the
        family wrote into the run folder and how its encodings feed the model (`zoo.runtime.text`),
        or None when the model does not read text."""
        return None

    def export_assets(self) -> list:
        """Files of the run folder a bundle carries besides its `vocab*`/`tokenizer*` files (paths)."""
        return []

    def generate(self, prompts: list[str], options: Any, checkpoint: str = "final") -> list[str]:
        """Completions of `prompts` by this finished run (`zoo generate`; `options` is a
        `zoo.runtime.generation_options.GenerationOptions`). Only language models generate text."""
        raise ZooError(f"model {self.model_name!r} does not generate text: `zoo generate` needs the "
                       "run of a causal language model")


class DelegatingTask(Task):
    """A training mode around a family's task (distillation, DP-SGD): every step goes to `inner`
    unless the mode overrides it. The mode shares the inner task's config, run and registry."""

    def __init__(self, inner: Task) -> None:
        super().__init__(inner.cfg, inner.run, inner.registry)
        self.inner = inner

    def prepare_data(self, splits: RawSplits, fit: bool) -> RawSplits:
        return self.inner.prepare_data(splits, fit)

    def check(self, info: DatasetInfo) -> None:
        self.inner.check(info)

    def loss_name(self, info: DatasetInfo) -> str:
        return self.inner.loss_name(info)

    def metric_names(self, info: DatasetInfo) -> list[str]:
        return self.inner.metric_names(info)

    def compile(self, model: Any, optimizer: Any, info: DatasetInfo) -> None:
        self.inner.compile(model, optimizer, info)

    def fit_model(self, model: Any) -> Any:
        return self.inner.fit_model(model)

    def build_optimizers(self, model: Any) -> None:
        self.inner.build_optimizers(model)

    def log_callbacks(self, splits: RawSplits) -> list:
        return self.inner.log_callbacks(splits)

    def callbacks(self, splits: RawSplits) -> list:
        return self.inner.callbacks(splits)

    def evaluate(self, model: Any, dataset: Any, splits: RawSplits) -> Any:
        return self.inner.evaluate(model, dataset, splits)

    def extra_metrics(self, model: Any, test_ds: Any, splits: RawSplits, evaluation: Any) -> dict[str, Any]:
        return self.inner.extra_metrics(model, test_ds, splits, evaluation)

    def headline(self, info: DatasetInfo) -> str:
        return self.inner.headline(info)

    def saved_model(self, model: Any, splits: RawSplits) -> Any:
        return self.inner.saved_model(model, splits)

    def export_parts(self, model: Any, splits: RawSplits) -> list:
        return self.inner.export_parts(model, splits)

    def export_signature(self, model: Any, info: DatasetInfo) -> list | None:
        return self.inner.export_signature(model, info)

    def export_text(self, info: DatasetInfo) -> dict[str, Any] | None:
        return self.inner.export_text(info)

    def export_assets(self) -> list:
        return self.inner.export_assets()

    def generate(self, prompts: list[str], options: Any, checkpoint: str = "final") -> list[str]:
        return self.inner.generate(prompts, options, checkpoint)
