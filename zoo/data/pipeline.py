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


def cached(dataset: Any, cache: bool | str) -> Any:
    """`dataset` cached as `cache` says: True in memory, a file prefix on disk, False not at all."""
    if not cache:
        return dataset
    return dataset.cache(cache if isinstance(cache, str) else "")


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
                 groups: int = 1, batches: Any = None) -> TrainStream:
    """The batches `schedule` names, shuffled within a bounded buffer. `cache`: True
    in memory, a file prefix on disk (`zoo.data.caching`), False not at all. `rows`: the split's
    rows when they are not `info.num_examples["train"]` (one worker's share). `groups`: the split
    interleaves that many data shares row by row (`zoo.data.table_shares`); each is shuffled by the
    same permutation of its rows and batched at `global_batch` (rows of each share), and a step's
    batch is the shares' batches side by side, so one process holding every share gives the global
    batches that workers holding one share each give together. `rows` then counts each share's rows.

    `batches`: the same rows as model-ready record batches (`Prepared.batches`, a table read in
    record batches). They are shuffled a window at a time instead of row by row (`window_shuffle`),
    which costs tf.data a few operations a window rather than several a row.

    One dataset of epoch numbers, flat-mapped to each epoch's shuffled batches: building it costs
    the same for 1 epoch or 10^9 (a pipeline per epoch, concatenated, grew with the epochs).
    """
    tf = import_tensorflow()
    seed, max_steps = schedule.seed, schedule.max_steps
    n = rows or info.num_examples.get("train") or int(split.reduce(0, lambda c, _: c + 1))
    steps = math.ceil(n / global_batch)
    if max_steps:
        steps = min(steps, max_steps)
    fn = preprocess_fn(info, split.element_spec)
    if batches is not None and fn is None and groups == 1:
        source = cached(batches, cache)
        return epochs_of(lambda epoch: window_shuffle(source, shuffle_buffer, global_batch, seed + epoch)
                         .take(steps), schedule, steps)
    base = cached(mapped(split, fn), cache)
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

    return epochs_of(one_epoch, schedule, steps)


def epochs_of(one_epoch: Any, schedule: Schedule, steps: int) -> TrainStream:
    """The batches of `one_epoch(epoch)` for the schedule's epochs, less those a resumed run did."""
    tf = import_tensorflow()
    first = max(0, schedule.initial_epoch)
    dataset = tf.data.Dataset.range(first, max(schedule.epochs, first), dtype=tf.int64).flat_map(one_epoch)
    if schedule.initial_step:
        dataset = dataset.skip(schedule.initial_step)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return TrainStream(dataset, steps)


def window_shuffle(batches: Any, buffer: int, batch: int, seed: Any) -> Any:
    """Record batches re-cut into windows of at least `buffer` rows (a multiple of `batch`), each
    window's rows put in a seeded random order, cut into batches of `batch` rows. Like a shuffle
    buffer, it mixes rows within a bounded span of the data (a window instead of a sliding buffer of
    `buffer` rows), and it is vectorised: `rebatch` and one gather a window, not a step per row."""
    tf = import_tensorflow()
    window = max(1, math.ceil(buffer / batch)) * batch

    def permute(index: Any, element: Any) -> Any:
        rows = tf.shape(tf.nest.flatten(element)[0])[0]
        order = tf.random.experimental.stateless_shuffle(
            tf.range(rows), seed=tf.stack([tf.cast(seed, tf.int64), index]))
        return tf.nest.map_structure(lambda t: tf.gather(t, order), element)

    return batches.rebatch(window).enumerate().map(permute).rebatch(batch)


def eval_stream(split: Any, info: DatasetInfo | None, batch: int, cache: bool | str = True,
                batches: Any = None) -> Any:
    """A normalised, batched, cached evaluation dataset in a fixed order (`info=None`: as it is).
    `batches`: the same rows as model-ready record batches, re-cut (`rebatch`) rather than
    unbatched and batched again row by row."""
    tf = import_tensorflow()
    fn = preprocess_fn(info, split.element_spec)
    if batches is not None and fn is None:
        ds = batches.rebatch(batch)
        rows = int(split.cardinality())
        if rows >= 0:  # known, as for the rows one by one: Keras then knows when the split ends
            ds = ds.apply(tf.data.experimental.assert_cardinality(math.ceil(rows / batch)))
    else:
        ds = mapped(split, fn).batch(batch)
    return cached(ds, cache).prefetch(tf.data.AUTOTUNE)
