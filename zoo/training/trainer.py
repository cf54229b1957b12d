"""`train(cfg)`: data, strategy, model, fit, test metrics, artifacts — one run folder."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from zoo.config.validate import check_train_config
from zoo.core.errors import Interrupted, Preempted, WorkFailed, ZooError, unknown_name
from zoo.core.registry import Registry, get_registry
from zoo.run.state import RunState
from zoo.run.tracking import check_tracking
from zoo.tasks.select import build_task, configure
from zoo.tasks.task import Task

log = logging.getLogger("zoo.train")


@dataclass
class TrainResult:
    """What `zoo.train` returns."""

    run_dir: Path
    metrics: dict[str, Any]
    model: Any = None
    history: dict[str, list[float]] = field(default_factory=dict)


CHOICES = {
    "trainer.lr_schedule": ("constant", "cosine", "linear", "plateau"),
    "trainer.precision": ("float32", "mixed_float16", "mixed_bfloat16"),
    "strategy.name": ("auto", "mirrored", "one_device", "multi_worker"),
    "optimizer.name": ("adam", "adamw", "sgd", "rmsprop"),
}


def check_names(cfg: DictConfig, registry: Registry | None = None) -> None:
    """Fail before any work starts when a name or choice in `cfg` is unknown."""
    for key, choices in CHOICES.items():
        value = OmegaConf.select(cfg, key)
        if value not in choices:
            raise unknown_name(key, str(value), choices, "choose one of " + ", ".join(choices))
    registry = registry or get_registry()
    registry.model(cfg.model.name)
    registry.dataset(cfg.dataset.source)
    if cfg.trainer.loss:
        registry.loss(cfg.trainer.loss)
    for name in cfg.trainer.metrics or []:
        registry.metric(name)


def default_run_dir() -> Path:
    return Path("outputs") / datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")


def train(cfg: DictConfig, run_dir: str | Path | None = None) -> TrainResult:
    """Train the model `cfg` describes; every artifact goes into the run folder."""
    from zoo.run.rundir import RunDir
    from zoo.training.distributed import writable_run

    registry = get_registry()
    cfg = configure(cfg, registry)  # the training modes' checks (distillation adopts its teacher's data)
    check_names(cfg, registry)
    check_train_config(cfg, registry)  # the Python API gets the command line's range checks
    check_tracking(cfg)
    run = RunDir(run_dir or cfg.get("run_dir") or default_run_dir())
    try:
        with writable_run(cfg, run) as (writing, resuming), writing.logging_to_file():
            log.info("run folder: %s%s", writing.path, " (resuming)" if resuming else "")
            return _train_in(writing, cfg, registry, resuming)
    except Preempted:
        raise
    except KeyboardInterrupt:
        raise interrupted(run) from None
    except Exception as exc:
        from zoo.training.distributed import lost_worker

        lost = lost_worker(cfg, run, exc)
        if lost is None:
            raise
        raise lost from None


def interrupted(run: Any) -> KeyboardInterrupt:
    """Ctrl-C: say what the run folder keeps and how to go on."""
    if run.state.exists():
        state = run.read_state()
        epoch, step = state.epoch, state.step
        where = f"epoch {epoch + 1}, step {step}" if step else f"epoch {epoch}"
        return Interrupted(f"interrupted: {run.path} keeps the checkpoint of {where}; run the same "
                           f"command (with run_dir={run.path} if it had none) to resume")
    return Interrupted("interrupted before the first checkpoint was saved, so there is nothing to resume: "
                       "run the same command to start again (trainer.checkpoint_every_seconds sets how "
                       "often checkpoints are saved)")


@dataclass
class Streams:
    """The batched splits one run fits and scores on."""

    train: Any  # zoo.data.pipeline.TrainStream: the dataset and its steps per epoch
    partial: Any  # a run resumed mid-epoch: the rest of that epoch (a TrainStream), else None
    validation: Any
    test: Any


def _train_in(run: Any, cfg: DictConfig, registry: Registry, resuming: bool) -> TrainResult:
    """The steps of one run, each a function below: start, data, streams, build, callbacks, fit,
    finish."""
    import keras

    from zoo.training.callbacks import ResumePoint, choose_checkpoint
    from zoo.training.preemption import StopAtStep, StopSignals
    from zoo.training.reporters import Reporters

    t = cfg.trainer
    strategy = _start(cfg)
    task = build_task(cfg, run, registry)  # the family's task, inside any training mode cfg turns on
    splits = _data(task, cfg, registry, run, resuming)
    state = run.read_state() if resuming else RunState()
    point = choose_checkpoint(run, state) if resuming else ResumePoint(None, 0)
    if resuming:
        _cut_history(run, point.epoch)
    streams = _streams(splits, cfg, strategy, point, run.path)
    reporters = Reporters(cfg, run, resuming)  # learning rate, TensorBoard extras, MLflow
    previous_policy = keras.config.dtype_policy().name
    keras.mixed_precision.set_global_policy(t.precision)
    try:
        model, fit_model = _build(task, cfg, registry, splits.info, strategy, streams.train, point)
        signals = StopSignals()
        callbacks, saver = _callbacks(run, task, splits, reporters, t, resuming, state.best, point)
        callbacks.append(StopAtStep(signals, saver, strategy))
        saver.weights_of = model  # checkpoints hold the network itself, not `fit_model`'s wrapper
        history, seconds = _fit(fit_model, streams, callbacks, saver, t, point, signals)
        if _multi_worker(strategy):
            from zoo.training.distributed import log_weights_digest

            log_weights_digest(model)
        try:  # the last checkpoint is written while the model is saved and scored
            return _finish(run, cfg, task, model, splits, streams.test, history, seconds,
                           strategy.num_replicas_in_sync, reporters, saver.wait)
        finally:
            saver.close()
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
        reporters.close()


def _cut_history(run: Any, epochs: int) -> None:
    """The history of a resumed run ends at its checkpoint: the epochs after it run again."""
    from zoo.run.rundir import cut_history

    removed = cut_history(run.history, epochs)
    if removed:
        log.info("history.csv: %d row(s) after the checkpoint of epoch %d removed; those epochs "
                 "run again", removed, epochs)


def _multi_worker(strategy: Any) -> bool:
    from zoo.training.distributed import is_multi_worker

    return is_multi_worker(strategy)


def _start(cfg: DictConfig) -> Any:
    """The distribution strategy, the seeds and op determinism."""
    import keras

    from zoo.core.lazy import import_tensorflow
    from zoo.training.strategy import make_strategy

    tf = import_tensorflow()
    t = cfg.trainer
    strategy = make_strategy(cfg.strategy)
    keras.utils.set_random_seed(t.seed)
    if t.deterministic and t.jit_compile:
        log.warning("trainer.jit_compile=true: TF op determinism stays off (Keras runs no XLA "
                    "under it), so runs repeat only up to floating-point noise")
    elif t.deterministic:
        tf.config.experimental.enable_op_determinism()
    return strategy


def _data(task: Task, cfg: DictConfig, registry: Registry, run: Any, resuming: bool) -> Any:
    """The dataset's raw splits, prepared by the task (its preprocessor fitted, or restored on
    resume) and checked against the loss and metrics."""
    from zoo.data.shares import reading_share
    from zoo.training.distributed import worker_share

    with reading_share(*worker_share(cfg)):  # a streamed table: this worker's record batches only
        splits = registry.dataset(cfg.dataset.source).load(cfg.dataset, seed=cfg.trainer.seed)
    splits = task.prepare_data(splits, fit=not resuming or not run.dataset_info.exists())
    info = splits.info
    log.info("dataset %s: %s, %s, input %s, %s", info.name, info.task, info.modality,
             tuple(info.input_shape), info.num_examples)
    task.check(info)
    return splits


def _streams(splits: Any, cfg: DictConfig, strategy: Any, point: Any, run_path: Path) -> Streams:
    """Batched splits at the global batch size (sharded by data under multi-worker), cached as
    `dataset.cache` says; a run resumed mid-epoch gets the rest of that epoch as a stream of its own."""
    from zoo.data.caching import choose_cache
    from zoo.data.pipeline import eval_stream, train_stream

    t, info = cfg.trainer, splits.info
    cache = choose_cache(cfg.dataset, info, run_path)
    global_batch = t.batch_size * strategy.num_replicas_in_sync
    shares = info.worker_train_rows if _multi_worker(strategy) else None
    batch, rows, max_steps = global_batch, None, t.steps_per_epoch
    if shares:  # each worker holds its own rows: batched at its part of the global batch
        from zoo.training.distributed import share_steps

        if strategy.num_replicas_in_sync != len(shares):
            raise ZooError(f"{strategy.num_replicas_in_sync} replicas on {len(shares)} workers: a streamed "
                           "table's shares need one replica per worker (hide extra devices, e.g. "
                           "CUDA_VISIBLE_DEVICES to one GPU per worker)")
        batch = global_batch // len(shares)
        rows = shares[read_tf_config_index()]
        max_steps = share_steps(shares, batch, t.steps_per_epoch)

    def epochs_from(first: int, last: int, step: int = 0, cache_name: str = "train") -> Any:
        return train_stream(splits.train, info, batch, t.seed, last, first, max_steps,
                            cfg.dataset.shuffle_buffer, cache.of(cache_name), initial_step=step,
                            rows=rows)

    partial = None
    if point.step:  # its own disk cache file: two streams cannot share one
        partial = epochs_from(point.epoch, point.epoch + 1, point.step, cache_name="train-rest")
        partial.steps_per_epoch -= point.step
        stream = epochs_from(point.epoch + 1, t.epochs)
    else:
        stream = epochs_from(point.epoch, t.epochs)
    val_ds = eval_stream(splits.validation, info, global_batch, cache.of("validation"))
    test_ds = eval_stream(splits.test, info, global_batch, cache.of("test"))
    if _multi_worker(strategy):
        from zoo.training.distributed import distribute_own_share, shard_by_data

        val_ds, test_ds = map(shard_by_data, (val_ds, test_ds))
        for train in (stream, partial):
            if train is not None:
                train.dataset = (distribute_own_share(strategy, train.dataset) if shares
                                 else shard_by_data(train.dataset))
    return Streams(stream, partial, val_ds, test_ds)


def read_tf_config_index() -> int:
    from zoo.training.distributed import read_tf_config

    return int(read_tf_config().get("task", {}).get("index", 0))


def local_spec(dataset: Any) -> Any:
    """The element spec of this worker's batches (of the dataset a distributed one was made from)."""
    return getattr(dataset, "zoo_local_spec", None) or dataset.element_spec


def _build(task: Task, cfg: DictConfig, registry: Registry, info: Any, strategy: Any, stream: Any,
           point: Any) -> tuple[Any, Any]:
    """In the strategy scope: the network, its optimizer and compile, the resumed checkpoint;
    returns the network and what `fit` trains (the network, or distillation's wrapper)."""
    from zoo.training.distributed import build_from_spec, has_sample_weights, prepare_model
    from zoo.training.optim import build_optimizer

    t, replicas = cfg.trainer, strategy.num_replicas_in_sync
    with strategy.scope():
        model = registry.model(cfg.model.name).build(cfg.model, info)
        optimizer = build_optimizer(cfg.optimizer, t, stream.steps_per_epoch)
        task.compile(model, optimizer, info)
        fit_model = task.fit_model(model)  # a wrapper for distillation (teacher + student)
        # Before fit: left to Keras, the optimizer's variables are created while the train step
        # is first traced, and TF then traces the step a second time (half a second of a
        # small model's first epoch); a resumed run needs them to load its checkpoint anyway.
        task.build_optimizers(model)
        if point.path is not None:
            model.load_weights(point.path)
            log.info("resumed from epoch %d of %d%s", point.epoch, t.epochs,
                     f", step {point.step} of epoch {point.epoch + 1}" if point.step else "")
        if _multi_worker(strategy):
            prepare_model(fit_model, strategy, local_spec(stream.dataset))
        elif replicas > 1 and has_sample_weights(stream.dataset.element_spec):
            build_from_spec(fit_model, strategy, stream.dataset.element_spec)
    log.info("model %s: %s parameters, %d replica(s), global batch %d, %s, XLA %s",
             cfg.model.name, f"{model.count_params():,}", replicas, t.batch_size * replicas,
             t.precision, "on" if model.jit_compile else "off")
    return model, fit_model


def _callbacks(run: Any, task: Task, splits: Any, reporters: Any, t: DictConfig, resuming: bool,
               best: Any, point: Any = None) -> tuple[list, Any]:
    """Every callback of the run in order (the epoch-log writers first), and the checkpoint saver."""
    from zoo.training.callbacks import ResumableCheckpoint, build_callbacks
    from zoo.training.progress import RunEstimate, progress_callbacks

    callbacks = (progress_callbacks(t) + task.log_callbacks(splits)  # before the epoch line
                 + reporters.log_callbacks())
    callbacks += build_callbacks(run, t, resuming, best, point)
    callbacks += task.callbacks(splits) + reporters.callbacks()
    callbacks.append(RunEstimate(t.epochs, point.epoch if point is not None else 0))
    return callbacks, next(c for c in callbacks if isinstance(c, ResumableCheckpoint))


def _fit(fit_model: Any, streams: Streams, callbacks: list, saver: Any, t: DictConfig, point: Any,
         signals: Any) -> tuple[dict[str, list[float]], float]:
    """Keras `fit` (progress comes from zoo.training.progress); the history and its seconds.

    Ctrl-C and SIGTERM stop it before a step, with that step's checkpoint (`zoo.training.preemption`).
    A run resumed mid-epoch fits the rest of that epoch first, then the epochs after it.
    """
    from zoo.training.preemption import StopAtStep

    started = time.perf_counter()
    stopper = next(c for c in callbacks if isinstance(c, StopAtStep))
    history: dict[str, list[float]] = {}

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
    return history, time.perf_counter() - started


def _finish(run: Any, cfg: DictConfig, task: Task, model: Any, splits: Any, test_ds: Any,
            history: dict[str, list[float]], seconds: float, replicas: int, reporters: Any,
            checkpoints_written: Any = None) -> TrainResult:
    from zoo.evaluation.artifacts import write_evaluation
    from zoo.evaluation.plots import learning_curves
    from zoo.run.rundir import read_history, write_json

    info = splits.info
    tmp = run.path / "tmp-model.keras"
    task.saved_model(model, splits).save(tmp)
    tmp.replace(run.model)
    evaluation = task.evaluate(model, test_ds, splits)
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
        "headline": task.headline(info),
    }
    metrics.update(task.extra_metrics(model, test_ds, splits, evaluation))
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
