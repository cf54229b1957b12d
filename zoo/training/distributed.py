"""Multi-worker training: the cluster from `TF_CONFIG`, chief-only writing, explicit sharding."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.core.compat import build_symbolically
from zoo.core.errors import WorkerLost, ZooError

log = logging.getLogger("zoo.train")


def tf_config_from(workers: list[str], index: int) -> dict[str, Any]:
    """The `TF_CONFIG` of worker `index` in a cluster of `workers` ("host:port" each)."""
    if not 0 <= index < len(workers):
        raise ZooError(f"strategy.task_index={index}: expected 0..{len(workers) - 1} "
                       f"for {len(workers)} worker(s) in strategy.workers")
    return {"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index}}


def read_tf_config() -> dict[str, Any]:
    """The parsed `TF_CONFIG` environment variable ({} when unset)."""
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ZooError(f"TF_CONFIG is not valid JSON ({exc.msg}): set it to "
                       '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
                       '"index": N}}') from None


def is_chief(tf_config: dict[str, Any] | None = None) -> bool:
    """The `chief` task, or worker 0 when there is none, writes the run folder; others do not."""
    config = read_tf_config() if tf_config is None else tf_config
    task = config.get("task", {})
    kind = task.get("type", "worker")
    if "chief" in config.get("cluster", {}):
        return kind == "chief"
    return kind == "worker" and int(task.get("index", 0)) == 0


def cluster_config(cfg: Any) -> dict[str, Any]:
    """This process's `TF_CONFIG`, first set from `strategy.workers` + `strategy.task_index` if given,
    else (no `TF_CONFIG`) from a Slurm step or a Kubernetes Indexed Job; the log says which."""
    from zoo.training.clusters import cluster_from_environment

    global _logged_source
    source = "TF_CONFIG"
    if cfg.get("workers"):
        os.environ["TF_CONFIG"] = json.dumps(tf_config_from(list(cfg.workers), cfg.task_index))
        source = "strategy.workers"
    elif not read_tf_config():
        found = cluster_from_environment(os.environ)
        if found is not None:
            os.environ["TF_CONFIG"] = json.dumps(found.tf_config)
            source = found.source
    config = read_tf_config()
    if not config.get("cluster"):
        raise ZooError("strategy=multi_worker needs a cluster: set TF_CONFIG, pass "
                       "strategy.workers=[host:port,...] strategy.task_index=N, run under srun "
                       "(Slurm) or a Kubernetes Indexed Job, or use zoo launch")
    if _logged_source is None:  # once per process: later calls see the TF_CONFIG set here
        log.info("cluster from %s: %s", source, json.dumps(config))
        _logged_source = source
    return config


_logged_source: str | None = None


def scratch_dir(run: Any) -> str:
    """This worker's temporary folder for `run`: the same path on a restart, so it is reused."""
    key = hashlib.sha256(str(os.path.abspath(run.path)).encode()).hexdigest()[:12]
    index = read_tf_config().get("task", {}).get("index", 0)
    return os.path.join(tempfile.gettempdir(), f"zoo-worker-{key}-{index}")


@contextlib.contextmanager
def writable_run(cfg: Any, run: Any) -> Iterator[tuple[Any, bool]]:
    """The run folder this process writes, and whether it resumes.

    The chief (and any single-process run) prepares and writes `run`. Another worker of a
    multi-worker run reads the chief's checkpoints (a shared folder: one machine, or a shared
    volume) but writes into a temporary folder that is deleted when training ends.
    """
    from zoo.run.runlock import locked_run

    multi = cfg.strategy.name == "multi_worker"
    if not multi or is_chief(cluster_config(cfg.strategy)):
        with locked_run(cfg, run) as resuming:
            yield run, resuming
        return
    from zoo.run.rundir import RunDir

    if run.finished and not cfg.trainer.overwrite:
        run.prepare(cfg, resume=cfg.trainer.resume, overwrite=False)  # raises the chief's error
    scratch = RunDir(scratch_dir(run))
    shutil.rmtree(scratch.path, ignore_errors=True)  # a killed predecessor's leftovers
    scratch.checkpoints.mkdir(parents=True)
    resume = cfg.trainer.resume and run.interrupted and not cfg.trainer.overwrite
    if resume:
        for name in ("last.weights.h5", "last.prev.weights.h5", "state.json"):
            if (run.checkpoints / name).exists():
                shutil.copyfile(run.checkpoints / name, scratch.checkpoints / name)
        if run.dataset_info.exists():
            shutil.copyfile(run.dataset_info, scratch.dataset_info)
        from zoo.preprocessing.assemble import PREPROCESSOR_FILE

        if (run.path / PREPROCESSOR_FILE).exists():  # the chief's fitted preprocessor, as on resume
            shutil.copyfile(run.path / PREPROCESSOR_FILE, scratch.path / PREPROCESSOR_FILE)
    try:
        yield scratch, scratch.prepare(cfg, resume=resume, overwrite=True)
    finally:
        shutil.rmtree(scratch.path, ignore_errors=True)


COLLECTIVE_ABORT = re.compile(r"Collective ops is aborted|failed to connect to all addresses|"
                              r"Socket closed|Connection reset by peer|connection refused", re.IGNORECASE)


def lost_worker(cfg: Any, run: Any, exc: BaseException) -> WorkerLost | None:
    """One line for a multi-worker run whose all-reduce lost a peer (TensorFlow's collective abort):
    which worker was lost, and the epoch a rerun resumes from; None for any other failure."""
    if cfg.strategy.name != "multi_worker" or type(exc).__module__.split(".")[0] != "tensorflow":
        return None
    text = str(exc)
    if not COLLECTIVE_ABORT.search(text) and type(exc).__name__ not in ("UnavailableError", "AbortedError"):
        return None
    config = read_tf_config()
    me = config.get("task", {}).get("index", 0)
    workers = config.get("cluster", {}).get("worker", [])
    peers = sorted({int(i) for i in re.findall(r"/job:worker/replica:\d+/task:(\d+)", text)} - {me})
    named = [f"worker {i} ({workers[i]})" if i < len(workers) else f"worker {i}" for i in peers]
    who = ", ".join(named) or "a peer worker"
    epoch = run.read_state().epoch  # 0 when no checkpoint was saved
    resume = (f"resumes from epoch {epoch}" if epoch else "starts again (no checkpoint was saved yet)")
    return WorkerLost(f"worker {me} lost {who}: the all-reduce was aborted ({type(exc).__name__}); "
                      f"rerunning the job (or its own retry) {resume} in {run.path} (exit code 75)")


def make_multi_worker_strategy(cfg: Any) -> Any:
    """`MultiWorkerMirroredStrategy` over the cluster of `TF_CONFIG` (or `strategy.workers`)."""
    from zoo.core.compat import multi_worker_cpu_devices
    from zoo.core.lazy import import_tensorflow

    config = cluster_config(cfg)
    tf = import_tensorflow()
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING)
    cpus = cfg.get("cpu_devices", 0)
    if cpus > 1:
        from zoo.training.strategy import split_cpu

        split_cpu(cpus)  # each worker's replicas: `cpus` logical CPUs
    with multi_worker_cpu_devices(cpus):
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # one INFO line per all-reduce
    task = config.get("task", {})
    log.info("MultiWorkerMirroredStrategy: task %s/%s of %s, %d replica(s) in sync",
             task.get("type"), task.get("index"), json.dumps(config["cluster"]),
             strategy.num_replicas_in_sync)
    return strategy


def is_multi_worker(strategy: Any) -> bool:
    """True under `MultiWorkerMirroredStrategy`, whatever the number of workers."""
    from zoo.core.lazy import import_tensorflow

    return isinstance(strategy, import_tensorflow().distribute.MultiWorkerMirroredStrategy)


def worker_share(cfg: Any) -> tuple[int, int]:
    """(this worker's index, the number of workers) of a multi-worker run, else (0, 1)."""
    if cfg.strategy.name != "multi_worker":
        return 0, 1
    config = read_tf_config()
    workers = config.get("cluster", {}).get("worker", [])
    if "chief" in config.get("cluster", {}) or len(workers) < 2:
        return 0, 1  # a chief task reads like a worker: no share rule for it, so everyone reads all
    return int(config.get("task", {}).get("index", 0)), len(workers)


def gather_function(strategy: Any) -> Any:
    """`gather(bytes) -> [bytes of worker 0, 1, ...]` over the strategy's collectives (two
    all-reduces: the lengths, then the bytes as int32 rows, each worker filling its own), or None
    outside multi-worker training. Needs no shared file system; every worker must call it alike."""
    if not is_multi_worker(strategy):
        return None
    from zoo.core.lazy import import_tensorflow

    tf = import_tensorflow()
    index, count = read_tf_config_index(), len(read_tf_config().get("cluster", {}).get("worker", []))
    per_worker = max(1, strategy.num_replicas_in_sync // max(count, 1))

    @tf.function(reduce_retracing=True)
    def summed(value: Any) -> Any:
        def reduce(v: Any) -> Any:  # only this worker's first replica adds its value
            context = tf.distribute.get_replica_context()
            first = tf.equal(context.replica_id_in_sync_group, index * per_worker)
            return context.all_reduce(tf.distribute.ReduceOp.SUM, tf.identity(v) * tf.cast(first, v.dtype))

        return strategy.run(reduce, args=(value,))

    def total(array: np.ndarray) -> np.ndarray:
        return np.asarray(strategy.experimental_local_results(summed(tf.constant(array)))[0])

    def gather(payload: bytes) -> list[bytes]:
        sizes = np.zeros(count, np.int32)
        sizes[index] = len(payload)
        sizes = total(sizes)
        width = max(1, -(-int(sizes.max()) // 4))
        rows = np.zeros((count, width), np.int32)
        rows[index] = np.frombuffer(payload.ljust(width * 4, b"\0"), np.int32)
        rows = total(rows)
        return [rows[i].tobytes()[:sizes[i]] for i in range(count)]

    return gather


def read_tf_config_index() -> int:
    return int(read_tf_config().get("task", {}).get("index", 0))


@dataclass
class SharePlan:
    """How a run batches data held in shares (`zoo.data.table_shares`, or a TFRecord worker share)."""

    batch: int  # rows of each share in a step
    rows: int  # rows of each share an epoch
    groups: int  # shares this process holds, interleaved row by row in its training split
    steps: int
    workers: int
    eval_shared: bool  # validation and test hold this worker's shares only


def share_plan(info: Any, strategy: Any, global_batch: int, limit: int | None) -> SharePlan | None:
    """The batching of a split held in data shares (`info.shares`), None for whole data."""
    multi = is_multi_worker(strategy)
    per_worker, per_share = info.worker_train_rows, info.share_train_rows
    if per_share is None and not (multi and per_worker):
        return None
    workers = len(per_worker) if multi else 1
    if per_share is None:  # a TFRecord worker share: its own rows, as many steps as the smallest
        batch = global_batch // workers
        return SharePlan(batch, per_worker[read_tf_config_index()], 1,
                         share_steps(per_worker, batch, limit), workers, False)
    shares = int(info.shares)
    if global_batch % shares:
        raise ZooError(f"the global batch {global_batch} (trainer.batch_size x replicas) is not a multiple "
                       f"of dataset.shares={shares}: each share gives the same rows to every step")
    batch = global_batch // shares
    return SharePlan(batch, min(per_share), shares // workers, share_steps(per_share, batch, limit),
                     workers, True)


def validation_steps(worker_rows: list[int], batch: int) -> int:
    """Validation steps every worker takes when each validates its own rows: the fewest batches of
    any worker (a worker with one more batch would wait for the others in its step's collectives
    for ever); a larger worker's last batch is left out of that validation, and the log says so."""
    steps = [-(-rows // batch) for rows in worker_rows]
    if max(steps) > min(steps):
        log.info("validation: %d steps on every worker (each validates its own rows, %s; batches "
                 "of %d): a worker's batches beyond the fewest any worker has are left out",
                 min(steps), worker_rows, batch)
    return min(steps)


def gathered_test(dataset: Any, strategy: Any) -> Any:
    """`dataset` (this worker's test rows) marked so that `zoo.tasks.report.predict` combines every
    worker's labels and outputs (in worker order): each worker scores only its rows."""
    gather = gather_function(strategy)

    def combine(*arrays: np.ndarray) -> list[np.ndarray]:
        import io

        buffer = io.BytesIO()
        np.savez(buffer, *arrays)
        parts = [np.load(io.BytesIO(blob)) for blob in gather(buffer.getvalue())]
        return [np.concatenate([p[f"arr_{i}"] for p in parts]) for i in range(len(arrays))]

    dataset.zoo_combine = combine
    return dataset


def share_steps(shares: list[int], batch: int, limit: int | None = None) -> int:
    """Steps per epoch when worker i holds `shares[i]` training rows, batched by `batch`: every
    worker takes the same number of steps, bounded by the smallest share (its last batch may be
    partial); a larger share's extra rows are left out of that epoch (other rows each epoch, as
    each epoch is shuffled)."""
    smallest = min(shares)
    if smallest < 1:
        raise ZooError(f"a worker's share of the training rows is empty (shares {shares}): use fewer "
                       "workers or a smaller dataset.block_bytes, so each worker gets record batches")
    steps = -(-smallest // batch)
    return min(steps, limit) if limit else steps


def distribute_own_share(strategy: Any, dataset: Any) -> Any:
    """`dataset` (this worker's own rows, batched at its part of the global batch) as the strategy's
    input with no sharding or rebatching: each batch cut into one piece per replica of this worker
    (`replica_pieces`), which `distribute_datasets_from_function` hands to its replicas in turn
    (auto-sharding is off: the data is already this worker's share)."""
    from zoo.core.compat import set_distributed_steps
    from zoo.core.lazy import import_tensorflow

    tf = import_tensorflow()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    local = replica_pieces(dataset, len(strategy.extended.worker_devices)).with_options(options)
    distributed = strategy.distribute_datasets_from_function(lambda context: local)
    if local is not dataset:  # R pieces of a batch are one step: Keras counts steps
        set_distributed_steps(distributed, int(dataset.cardinality()))
    distributed.zoo_local_spec = local.element_spec
    return distributed


def replica_pieces(dataset: Any, replicas: int) -> Any:
    """Each batch of `dataset` as `replicas` successive elements: its rows in order, cut into pieces
    of ceil(rows / replicas) (a partial last batch: the last pieces smaller, or empty)."""
    if replicas == 1:
        return dataset
    from zoo.core.lazy import import_tensorflow

    tf = import_tensorflow()

    def pieces(*batch: Any) -> Any:
        element = batch if len(batch) > 1 else batch[0]
        rows = tf.shape(tf.nest.flatten(element)[0])[0]
        size = (rows + replicas - 1) // replicas

        def piece(i: Any) -> Any:
            start = tf.minimum(tf.cast(i, tf.int32) * size, rows)
            end = tf.minimum(start + size, rows)
            return tf.nest.map_structure(lambda t: t if t is None else t[start:end], element)

        return tf.data.Dataset.range(replicas).map(piece)

    return dataset.flat_map(pieces)


def shard_by_data(dataset: Any) -> Any:
    """Each worker takes every N-th element: in-memory data has no files to shard by."""
    from zoo.core.lazy import import_tensorflow

    tf = import_tensorflow()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def prepare_model(model: Any, strategy: Any, element_spec: Any) -> None:
    """Make Keras 3 `fit`/`evaluate` work under `MultiWorkerMirroredStrategy` on this model.

    Two steps of Keras's TF trainer reduce across workers in a way that fails there
    (keras#20585, tensorflow#72388): `_maybe_symbolic_build` reduces a real PerReplica batch
    outside a replica context, and the step logs (scalars) are reduced `MEAN` along an axis 0
    they do not have. So build from the dataset's element spec up front, and let the steps
    return each scalar as a one-element vector, whose cross-replica mean is the same scalar.
    Only this model instance changes; callbacks and the run folder work as usual.
    """
    build_from_spec(model, strategy, element_spec)
    for name in ("train_step", "test_step"):
        setattr(model, name, _vector_logs(getattr(model, name)))


def weights_digest(model: Any) -> str:
    """A short SHA-256 of every weight's bytes: equal on all workers when they are in sync."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:16]


def log_weights_digest(model: Any) -> None:
    """Log this worker's weights digest, so a cluster's logs show whether its workers agree."""
    task = read_tf_config().get("task", {})
    log.info("worker %s weights sha256 %s", task.get("index", 0), weights_digest(model))


def _vector_logs(step: Any) -> Any:
    """Wrap a Keras step so that its rank-0 outputs become shape-[1] tensors."""
    import keras

    def wrapped(data: Any) -> Any:
        from zoo.core.lazy import import_tensorflow

        tf = import_tensorflow()
        logs = step(data)
        return keras.tree.map_structure(
            lambda v: tf.reshape(v, [1]) if hasattr(v, "shape") and v.shape.rank == 0 else v, logs)

    return wrapped


def has_sample_weights(element_spec: Any) -> bool:
    """Whether a dataset yields `(x, y, sample_weight)`.

    Keras's `_maybe_symbolic_build` sums a first batch's sample weights across replicas and
    fails on an uneven last batch (shapes [19, k] and [18, k]): such models use `build_from_spec`.
    """
    return isinstance(element_spec, tuple) and len(element_spec) == 3 and element_spec[2] is not None


def build_from_spec(model: Any, strategy: Any, element_spec: Any) -> None:
    """Build model, loss, metrics and optimizer from shapes; skip Keras's own reducing build."""
    import keras

    def symbolic(spec: Any) -> Any:
        return None if spec is None else keras.KerasTensor(tuple(spec.shape), spec.dtype.name)

    data_batch = keras.tree.map_structure(symbolic, element_spec)
    if isinstance(data_batch, tuple) and len(data_batch) == 2:
        data_batch = (*data_batch, None)
    with strategy.scope():
        build_symbolically(model, data_batch)
