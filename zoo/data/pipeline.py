"""tf.data pipelines: training-split normalisation, seeded per-epoch shuffling, batching.

The training stream is a function of (seed, epoch): epoch `e` is always shuffled with seed
`seed + e`, so a run resumed at epoch `e` sees exactly the batches an uninterrupted run sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.data.base import DatasetInfo, RawSplits
from zoo.lazy import import_tensorflow
from zoo.specs import REGRESSION

NORMALISED_MODALITIES = ("tabular", "image", "sequence")


def compute_normalization(train: Any, batch: int = 1024) -> tuple[list[float], list[float]]:
    """Mean and standard deviation over the last feature axis of the training split."""
    tf = import_tensorflow()
    total, total_sq, count = None, None, 0.0
    for features, _ in train.batch(batch):
        flat = tf.reshape(tf.cast(features, tf.float64), (-1, features.shape[-1]))
        s, sq = tf.reduce_sum(flat, 0).numpy(), tf.reduce_sum(flat * flat, 0).numpy()
        total = s if total is None else total + s
        total_sq = sq if total_sq is None else total_sq + sq
        count += flat.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0))
    std = np.where(std < 1e-7, 1.0, std)  # constant features pass through unscaled
    return mean.astype(float).tolist(), std.astype(float).tolist()


def with_normalization(splits: RawSplits, enabled: bool) -> DatasetInfo:
    """Fill `info.mean/std` from the training split (when the modality is numeric)."""
    info = splits.info
    if enabled and info.modality in NORMALISED_MODALITIES and info.mean is None:
        info.mean, info.std = compute_normalization(splits.train)
    return info


def preprocess_fn(info: DatasetInfo):
    """`(features, label[, sample_weight]) -> (normalised features, label[, sample_weight])`."""
    tf = import_tensorflow()
    mean = None if info.mean is None else tf.constant(info.mean, tf.float32)
    std = None if info.std is None else tf.constant(info.std, tf.float32)
    regression = info.task == REGRESSION

    def apply(features, label, *weights):
        if mean is not None:
            features = (tf.cast(features, tf.float32) - mean) / std
        if regression:
            label = tf.reshape(tf.cast(label, tf.float32), (1,))
        return (features, label, *weights)

    return apply


@dataclass
class TrainStream:
    """The batched training dataset and how many steps make one epoch."""

    dataset: Any
    steps_per_epoch: int


def train_stream(split: Any, info: DatasetInfo, global_batch: int, seed: int, epochs: int,
                 initial_epoch: int = 0, max_steps: int | None = None,
                 shuffle_buffer: int = 10000, cache: bool = True) -> TrainStream:
    """Epochs `initial_epoch..epochs-1`, each shuffled with seed `seed + epoch`, batched."""
    tf = import_tensorflow()
    n = info.num_examples.get("train") or int(split.reduce(0, lambda c, _: c + 1))
    steps = math.ceil(n / global_batch)
    if max_steps:
        steps = min(steps, max_steps)
    base = split.map(preprocess_fn(info), num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        base = base.cache()
    buffer = max(1, min(shuffle_buffer, n))

    def one_epoch(epoch: int) -> Any:
        # A Python seed per epoch: tensor seeds fail under TF op determinism.
        shuffled = base.shuffle(buffer, seed=seed + epoch, reshuffle_each_iteration=False)
        return shuffled.batch(global_batch).take(steps)

    epochs_list = list(range(initial_epoch, max(epochs, initial_epoch))) or [initial_epoch]
    dataset = one_epoch(epochs_list[0])
    for epoch in epochs_list[1:]:
        dataset = dataset.concatenate(one_epoch(epoch))
    if epochs <= initial_epoch:
        dataset = dataset.take(0)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return TrainStream(dataset, steps)


def eval_stream(split: Any, info: DatasetInfo, batch: int, cache: bool = True) -> Any:
    """A normalised, batched, cached evaluation dataset in a fixed order."""
    tf = import_tensorflow()
    ds = split.map(preprocess_fn(info), num_parallel_calls=tf.data.AUTOTUNE).batch(batch)
    if cache:
        ds = ds.cache()
    return ds.prefetch(tf.data.AUTOTUNE)
