"""One training run as an object: its state, and each step a method over that state.

As TF Model Garden's `OrbitExperimentRunner`, `TrainingRun` holds what every step needs (the
validated config, the run folder, the registry, the family's parts, the strategy, the splits and streams,
the resume point, the reporters, the model) so that no step re-threads it through its arguments.
`execute()` calls the steps in order: start, data, streams, build, callbacks, fit, finish.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from zoo.core.errors import WorkFailed
from zoo.core.registry import Registry
from zoo.run.state import RunState
from zoo.tasks.select import Parts

log = logging.getLogger("zoo.train")


@dataclass
class TrainResult:
    """What `zoo.train` returns."""

    run_dir: Path
    metrics: dict[str, Any]
    model: Any = None
    history: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Streams:
    """The batched splits one run fits and scores on."""

    train: Any  # zoo.data.pipeline.TrainStream: the dataset and its steps per epoch
    partial: Any  # a run resumed mid-epoch: the rest of that epoch (a TrainStream), else None
    validation: Any
    test: Any


class TrainingRun:
    """One run of a validated config in an opened (locked, prepared) run folder."""

    def __init__(self, cfg: DictConfig, run: Any, registry: Registry, resuming: bool):
        self.cfg, self.run, self.registry, self.resuming = cfg, run, registry, resuming
        self.strategy: Any = None
        self.parts: Parts | None = None
        self.splits: Any = None  # the data part's prepared splits (with their DatasetInfo)
        self.state: dict[str, Any] = {}  # the checkpoint state a resumed run starts from
        self.point: Any = None  # zoo.training.callbacks.ResumePoint
        self.streams: Streams | None = None
        self.reporters: Any = None
        self.model: Any = None  # the network the run saves
        self.fit_model: Any = None  # what `fit` trains: the network, or a training mode's wrapper
        self.history: dict[str, list[float]] = {}
        self.seconds = 0.0

    def execute(self) -> TrainResult:
        """Every step in order; returns the `TrainResult`."""
        import keras

        from zoo.tasks.select import build_parts
        from zoo.training.callbacks import ResumePoint, choose_checkpoint
        from zoo.training.preemption import StopAtStep, StopSignals
        from zoo.training.reporters import Reporters

        cfg, run, resuming = self.cfg, self.run, self.resuming
        self.strategy = self.start()
        self.parts = build_parts(cfg, run, self.registry)  # the family's roles, training inside any mode
        self.splits = self.data()
        self.state = run.read_state() if resuming else RunState()
        self.point = choose_checkpoint(run, self.state) if resuming else ResumePoint(None, 0)
        if resuming:
            self.cut_history()
        self.streams = self.make_streams()
        self.reporters = Reporters(cfg, run, resuming)  # learning rate, TensorBoard extras, MLflow
        previous_policy = keras.config.dtype_policy().name
        keras.mixed_precision.set_global_policy(cfg.trainer.precision)
        try:
            self.model, self.fit_model = self.build()
            signals = StopSignals()
            callbacks, saver = self.callbacks()
            callbacks.append(StopAtStep(signals, saver, self.strategy))
            saver.weights_of = self.model  # checkpoints hold the network itself, not `fit_model`'s wrapper
            self.fit(callbacks, saver, signals)
            if self.multi_worker:
                from zoo.training.distributed import log_weights_digest

                log_weights_digest(self.model)
            try:  # the last checkpoint is written while the model is saved and scored
                return self.finish(saver.wait)
            finally:
                saver.close()
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)
            self.reporters.close()

    @property
    def multi_worker(self) -> bool:
        from zoo.training.distributed import is_multi_worker

        return is_multi_worker(self.strategy)

    def cut_history(self) -> None:
        """The history of a resumed run ends at its checkpoint: the epochs after it run again."""
        from zoo.run.rundir import cut_history

        epochs = self.point.epoch
        removed = cut_history(self.run.history, epochs)
        if removed:
            log.info("history.csv: %d row(s) after the checkpoint of epoch %d removed; those epochs "
                     "run again", removed, epochs)

    def start(self) -> Any:
        """The distribution strategy, the seeds and op determinism."""
        import keras

        from zoo.core.lazy import import_tensorflow
        from zoo.training.strategy import make_strategy

        tf = import_tensorflow()
        t = self.cfg.trainer
        strategy = make_strategy(self.cfg.strategy)
        keras.utils.set_random_seed(t.seed)
        if t.deterministic and t.jit_compile:
            log.warning("trainer.jit_compile=true: TF op determinism stays off (Keras runs no XLA "
                        "under it), so runs repeat only up to floating-point noise")
        elif t.deterministic:
            tf.config.experimental.enable_op_determinism()
        return strategy

    def data(self) -> Any:
        """The dataset's raw splits, prepared by the data part (its preprocessor fitted, or restored on
        resume) and checked against the loss and metrics."""
        from zoo.data.shares import reading_share
        from zoo.training.distributed import gather_function, worker_share

        parts, cfg, registry, run, resuming = self.parts, self.cfg, self.registry, self.run, self.resuming
        # a streamed table: this worker's data shares only, statistics combined across the workers
        with reading_share(*worker_share(cfg), gather=gather_function(self.strategy)):
            splits = registry.dataset(cfg.dataset.source).load(cfg.dataset, seed=cfg.trainer.seed)
        splits = parts.data.prepare(splits, fit=not resuming or not run.dataset_info.exists())
        info = splits.info
        log.info("dataset %s: %s, %s, input %s, %s", info.name, info.task, info.modality,
                 tuple(info.input_shape), info.num_examples)
        parts.training.check(info)
        return splits

    def make_streams(self) -> Streams:
        """Batched splits at the global batch size (sharded by data under multi-worker), cached as
        `dataset.cache` says; a run resumed mid-epoch gets the rest of that epoch as a stream of its
        own."""
        from zoo.data.caching import choose_cache
        from zoo.data.pipeline import Schedule, eval_stream, train_stream

        splits, cfg, strategy, point = self.splits, self.cfg, self.strategy, self.point
        run_path = self.run.path
        t, info = cfg.trainer, splits.info
        cache = choose_cache(cfg.dataset, info, run_path, epochs=t.epochs - point.epoch)
        global_batch = t.batch_size * strategy.num_replicas_in_sync
        from zoo.training.distributed import share_plan

        plan = share_plan(info, strategy, global_batch, t.steps_per_epoch)  # data held in shares
        batch, rows, max_steps, groups = ((plan.batch, plan.rows, plan.steps, plan.groups) if plan
                                          else (global_batch, None, t.steps_per_epoch, 1))

        batches = getattr(splits, "batches", None) or {}  # model-ready record batches, if any

        def epochs_from(first: int, last: int, step: int = 0, cache_name: str = "train") -> Any:
            schedule = Schedule(t.seed, last, first, step, max_steps)
            return train_stream(splits.train, info, batch, schedule, cfg.dataset.shuffle_buffer,
                                cache.of(cache_name), rows=rows, groups=groups, batches=batches.get("train"))

        partial = None
        if point.step:  # its own disk cache file: two streams cannot share one
            partial = epochs_from(point.epoch, point.epoch + 1, point.step, cache_name="train-rest")
            partial.steps_per_epoch -= point.step
            stream = epochs_from(point.epoch + 1, t.epochs)
        else:
            stream = epochs_from(point.epoch, t.epochs)
        own = plan is not None and plan.eval_shared and self.multi_worker  # each worker its rows
        eval_batch = global_batch // plan.workers if own else global_batch
        val_ds = eval_stream(splits.validation, info, eval_batch, cache.of("validation"),
                             batches.get("validation"))
        if own and info.worker_validation_rows:
            from zoo.training.distributed import validation_steps

            val_ds = val_ds.take(validation_steps(info.worker_validation_rows, eval_batch))
        test_ds = eval_stream(splits.test, info, eval_batch, cache.of("test"), batches.get("test"))
        if self.multi_worker:
            from zoo.training.distributed import distribute_own_share, gathered_test, shard_by_data

            val_ds, test_ds = ((distribute_own_share(strategy, val_ds), gathered_test(test_ds, strategy))
                               if own else (shard_by_data(val_ds), shard_by_data(test_ds)))
            for train in (stream, partial):
                if train is not None:
                    train.dataset = (distribute_own_share(strategy, train.dataset) if plan
                                     else shard_by_data(train.dataset))
        return Streams(stream, partial, val_ds, test_ds)

    def build(self) -> tuple[Any, Any]:
        """In the strategy scope: the network, its optimizer and compile, the resumed checkpoint;
        returns the network and what `fit` trains (the network, or distillation's wrapper)."""
        from zoo.training.distributed import build_from_spec, has_sample_weights, prepare_model
        from zoo.training.optim import build_optimizer

        parts, cfg, strategy, point = self.parts, self.cfg, self.strategy, self.point
        stream = self.streams.train
        t, replicas, info = cfg.trainer, strategy.num_replicas_in_sync, self.splits.info
        with strategy.scope():
            model = self.registry.model(cfg.model.name).build(cfg.model, info)
            optimizer = build_optimizer(cfg.optimizer, t, stream.steps_per_epoch)
            parts.training.compile(model, optimizer, info)
            fit_model = parts.training.fit_model(model)  # a wrapper for distillation (teacher + student)
            # Before fit: left to Keras, the optimizer's variables are created while the train step
            # is first traced, and TF then traces the step a second time (half a second of a
            # small model's first epoch); a resumed run needs them to load its checkpoint anyway.
            parts.training.build_optimizers(model)
            if point.path is not None:
                model.load_weights(point.path)
                log.info("resumed from epoch %d of %d%s", point.epoch, t.epochs,
                         f", step {point.step} of epoch {point.epoch + 1}" if point.step else "")
            if self.multi_worker:
                prepare_model(fit_model, strategy, local_spec(stream.dataset))
            elif replicas > 1 and has_sample_weights(stream.dataset.element_spec):
                build_from_spec(fit_model, strategy, stream.dataset.element_spec)
        log.info("model %s: %s parameters, %d replica(s), global batch %d, %s, XLA %s",
                 cfg.model.name, f"{model.count_params():,}", replicas, t.batch_size * replicas,
                 t.precision, "on" if model.jit_compile else "off")
        return model, fit_model

    def callbacks(self) -> tuple[list, Any]:
        """Every callback of the run in order (the epoch-log writers first), and the checkpoint saver."""
        from zoo.training.callbacks import ResumableCheckpoint, build_callbacks
        from zoo.training.progress import RunEstimate, progress_callbacks

        parts, splits, reporters, point = self.parts, self.splits, self.reporters, self.point
        t = self.cfg.trainer
        callbacks = (progress_callbacks(t) + parts.training.log_callbacks(splits)  # before the epoch line
                     + reporters.log_callbacks())
        callbacks += build_callbacks(self.run, t, self.resuming, self.state.best, point)
        callbacks += parts.training.callbacks(splits) + reporters.callbacks()
        callbacks.append(RunEstimate(t.epochs, point.epoch))
        return callbacks, next(c for c in callbacks if isinstance(c, ResumableCheckpoint))

    def fit(self, callbacks: list, saver: Any, signals: Any) -> None:
        """Keras `fit` (progress comes from zoo.training.progress) into `history` and `seconds`.

        Ctrl-C and SIGTERM stop it before a step, with that step's checkpoint (`zoo.training.preemption`).
        A run resumed mid-epoch fits the rest of that epoch first, then the epochs after it.
        """
        from zoo.training.preemption import StopAtStep

        fit_model, streams, t, point = self.fit_model, self.streams, self.cfg.trainer, self.point
        started = time.perf_counter()
        stopper = next(c for c in callbacks if isinstance(c, StopAtStep))
        history = self.history

        def fit(stream: Any, first: int, last: int) -> None:
            done = fit_model.fit(stream.dataset, epochs=last, initial_epoch=first,
                                 steps_per_epoch=stream.steps_per_epoch, validation_data=streams.validation,
                                 callbacks=callbacks, verbose=0, shuffle=False)
            for key, values in done.history.items():
                history.setdefault(key, []).extend(values)

        try:
            with signals:
                if streams.partial is not None:
                    stopper.step_offset = point.step
                    fit(streams.partial, point.epoch, point.epoch + 1)
                if streams.partial is None or (point.epoch + 1 < t.epochs and not fit_model.stop_training):
                    fit(streams.train, point.epoch + (streams.partial is not None), t.epochs)
                if signals.received is not None:  # after the last step: the last epoch is saved
                    stopper.epoch = t.epochs
                    stopper.stop(0)
        except BaseException:
            saver.interrupted()  # the finished epoch, if no step ran since; files in flight land
            raise
        finally:
            self.seconds = time.perf_counter() - started

    def finish(self, checkpoints_written: Any = None) -> TrainResult:
        """Save the model, score it on the test split, write metrics, report and plots."""
        from zoo.evaluation.artifacts import write_evaluation
        from zoo.evaluation.plots import learning_curves
        from zoo.run.rundir import read_history, write_json

        run, cfg, parts, model, splits = self.run, self.cfg, self.parts, self.model, self.splits
        test_ds, history, seconds, reporters = self.streams.test, self.history, self.seconds, self.reporters
        replicas = self.strategy.num_replicas_in_sync
        info = splits.info
        tmp = run.path / "tmp-model.keras"
        parts.export.saved_model(model, splits).save(tmp)
        tmp.replace(run.model)
        evaluation = parts.evaluation.evaluate(model, test_ds, splits)
        if checkpoints_written is not None:
            checkpoints_written()  # a finished run (metrics.json) always has its last checkpoint
        full_history = read_history(run.history) if run.history.exists() else history
        last = {k: v[-1] for k, v in full_history.items() if k not in ("epoch", "learning_rate") and v}
        metrics = {
            "task": info.task,
            "test": evaluation.metrics,
            "train": {k: v for k, v in last.items() if not k.startswith("val_")},
            "validation": {k[4:]: v for k, v in last.items() if k.startswith("val_")},
            "epochs": len(full_history.get("loss", [])),
            "train_seconds": round(seconds, 2),
            "replicas": replicas,
            "headline": parts.evaluation.headline(info),
        }
        metrics.update(parts.training.extra_metrics(model, test_ds, splits, evaluation))
        if cfg.trainer.plots and full_history.get("loss"):
            run.plots.mkdir(exist_ok=True)
            learning_curves(full_history, run.plots / "learning_curves.png")
        write_evaluation(evaluation, info, run.path, plots=cfg.trainer.plots, report_name="report")
        losses = full_history.get("loss", [])
        if losses and not math.isfinite(losses[-1]):
            metrics["diverged"] = True
            write_json(run.metrics, metrics)
            raise WorkFailed(f"training diverged: the loss became {losses[-1]} in epoch {len(losses)}; "
                             "lower trainer.learning_rate (or set optimizer.clipnorm)")
        write_json(run.metrics, metrics)
        reporters.finished(metrics, evaluation, info)
        headline = metrics["headline"]
        log.info("test %s: %.4f  (run folder: %s)", headline, evaluation.metrics[headline], run.path)
        return TrainResult(run.path, metrics, model, full_history)


def local_spec(dataset: Any) -> Any:
    """The element spec of this worker's batches (of the dataset a distributed one was made from)."""
    return getattr(dataset, "zoo_local_spec", None) or dataset.element_spec


