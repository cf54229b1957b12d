"""Latent noise that does not depend on how the batch is split across replicas.

Every replica draws the whole global batch's noise from a stateless generator keyed on
(seed, step) and keeps its own slice, so a MirroredStrategy run sees exactly the noise a
single-device run of the same global batch sees.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf


def global_batch_size(local_size: Any) -> Any:
    """The sum of the per-replica batch sizes (the local size outside a strategy)."""
    ctx = tf.distribute.get_replica_context()
    return ctx.all_reduce("sum", local_size) if ctx is not None else local_size


def replica_normal(local_size: Any, dims: int, seed: int, step: Any, uniform: bool = False) -> Any:
    """Normal (or uniform [0, 1)) noise (local_size, dims): this replica's slice of the global draw."""
    ctx = tf.distribute.get_replica_context()
    replica = ctx.replica_id_in_sync_group if ctx is not None else 0
    total = global_batch_size(local_size)
    seeds = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
    draw = tf.random.stateless_uniform if uniform else tf.random.stateless_normal
    noise = draw(tf.stack([total, dims]), seeds)
    start = tf.cast(replica, tf.int32) * local_size
    return noise[start:start + local_size]
