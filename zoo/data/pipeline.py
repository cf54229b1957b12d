"""tf.data pipelines: seeded per-epoch shuffling and batching of prepared splits.

The training stream is a function of (seed, epoch): epoch `e` is always shuffled with seed
`seed + e`, so a run resumed at epoch `e` sees exactly the batches an uninterrupted run sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from zoo.core.lazy import import_tensorflow
from zoo.core.specs import REGRESSION
from zoo.data.base import DatasetInfo


def preprocess_fn(info: DatasetInfo, element_spec: Any = None):
    """`(features, label[, sample_weight]) -> (normalised features, label[, sample_weight])`, or
    None when that is the identity (no stored scaling; not regression, or regression labels
    already of shape (1,) as `element_spec` shows: the preprocessor shaped them a batch at a time)."""
    tf = import_tensorflow()
    scaling = None if info is None else info.scaling  # a family's own (GAN, VAE): (x - offset) / scale
    mean = None if scaling is None else tf.constant(scaling.offset, tf.float32)
    std = None if scaling is None else tf.constant(scaling.scale, tf.float32)
    regression = info is not None and info.task == REGRESSION
    if regression and element_spec is not None and len(element_spec) > 1:
        label = element_spec[1]
        regression = not (label.shape.as_list() == [1] and label.dtype == tf.float32)
    if mean is None and not regression:
        return None

    def apply(features, label, *weights):
        if mean is not None:
            features = (tf.cast(features, tf.float32) - mean) / std
        if regression:
            label = tf.reshape(tf.cast(label, tf.float32), (1,))
        return (features, label, *weights)

    return apply


def mapped(split: Any, fn: Any) -> Any:
    """`split.map(fn)` in parallel, or `split` itself when there is nothing to map (a map stage
    costs a traced function and a per-element call even when it changes nothing)."""
    if fn is None:
        return split
    return split.map(fn, num_parallel_calls=import_tensorflow().data.AUTOTUNE)


@dataclass
class TrainStream:
    """The batched training dataset and how many steps make one epoch."""

    dataset: Any
    steps_per_epoch: int


# The graph-level seed of each epoch's shuffle (set inside the traced epoch function only). The
# op-level seed is the tensor `seed + epoch`; TensorFlow cannot pair a tensor op seed with a
# global seed of 0 (`random_seed.get_seed` compares the pair in Python), so a fixed one is used.
EPOCH_GRAPH_SEED = 20_240_601


@dataclass(frozen=True)
class Schedule:
    """Which batches a training stream gives: epochs `initial_epoch..epochs-1`, each shuffled with
    seed `seed + epoch`, at most `max_steps` batches each, the first `initial_step` batches of
    `initial_epoch` left out (a run resumed mid-epoch)."""

    seed: int
    epochs: int
    initial_epoch: int = 0
    initial_step: int = 0
    max_steps: int | None = None


def train_stream(split: Any, info: DatasetInfo, global_batch: int, schedule: Schedule,
                 shuffle_buffer: int = 10000, cache: bool | str = True, rows: int | None = None,
                 groups: int = 1) -> TrainStream:
    """The batches `schedule` names, shuffled within a bounded buffer. `cache`: True
    in memory, a file prefix on disk (`zoo.data.caching`), False not at all. `rows`: the split's
    rows when they are not `info.num_examples["train"]` (one worker's share). `groups`: the split
    interleaves that many data shares row by row (`zoo.data.table_shares`); each is shuffled by the
    same permutation of its rows and batched at `global_batch` (rows of each share), and a step's
    batch is the shares' batches side by side, so one process holding every share gives the global
    batches that workers holding one share each give together. `rows` then counts each share's rows.

    One dataset of epoch numbers, flat-mapped to each epoch's shuffled batches: building it costs
    the same for 1 epoch or 10^9 (a pipeline per epoch, concatenated, grew with the epochs).
    """
    tf = import_tensorflow()
    seed, max_steps = schedule.seed, schedule.max_steps
    n = rows or info.num_examples.get("train") or int(split.reduce(0, lambda c, _: c + 1))
    steps = math.ceil(n / global_batch)
    if max_steps:
        steps = min(steps, max_steps)
    base = mapped(split, preprocess_fn(info, split.element_spec))
    if cache:
        base = base.cache(cache if isinstance(cache, str) else "")
    buffer = max(1, min(shuffle_buffer, n))

    def side_by_side(*parts: Any) -> Any:  # [batch, groups, ...] -> [groups * batch, ...], share-major
        def flat(t: Any) -> Any:
            inner = t.shape[2:].as_list()
            t = tf.transpose(t, [1, 0, *range(2, len(t.shape))])
            if None in inner:
                return tf.reshape(t, tf.concat([[-1], tf.shape(t)[2:]], 0))
            return tf.reshape(t, [-1, *inner])

        return tf.nest.map_structure(flat, parts)

    def one_epoch(epoch: Any) -> Any:
        tf.random.set_seed(EPOCH_GRAPH_SEED)  # graph mode (this function is traced): this graph only
        grouped = base.batch(groups, drop_remainder=True) if groups > 1 else base
        shuffled = grouped.shuffle(buffer, seed=tf.constant(seed, tf.int64) + epoch,
                                   reshuffle_each_iteration=False)
        batched = shuffled.batch(global_batch)
        return (batched.map(side_by_side) if groups > 1 else batched).take(steps)

    first = max(0, schedule.initial_epoch)
    dataset = tf.data.Dataset.range(first, max(schedule.epochs, first), dtype=tf.int64).flat_map(one_epoch)
    if schedule.initial_step:
        dataset = dataset.skip(schedule.initial_step)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return TrainStream(dataset, steps)


def eval_stream(split: Any, info: DatasetInfo | None, batch: int, cache: bool | str = True) -> Any:
    """A normalised, batched, cached evaluation dataset in a fixed order (`info=None`: as it is)."""
    tf = import_tensorflow()
    ds = mapped(split, preprocess_fn(info, split.element_spec)).batch(batch)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    return ds.prefetch(tf.data.AUTOTUNE)
