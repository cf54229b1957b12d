"""Vectorised preprocessing of unbatched text datasets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zoo.sdk import import_tensorflow


def map_in_batches(dataset: Any, fn: Callable[..., Any], batch_size: int = 256) -> Any:
    """`dataset.map(fn)` run on batches of `batch_size` (tokenisers are faster so), same size kept.

    `unbatch` forgets the number of examples, and Keras warns "ran out of data" on datasets of
    unknown size, so the known cardinality is asserted again.
    """
    tf = import_tensorflow()
    count = int(dataset.cardinality())
    mapped = dataset.batch(batch_size).map(fn, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    return mapped.apply(tf.data.experimental.assert_cardinality(count)) if count >= 0 else mapped
