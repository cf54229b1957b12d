"""A bar (`zoo.core.progress`) over the batches a task scores in `zoo evaluate`.

Each task scores a `tf.data.Dataset` its own way (a Python loop, `model.predict(verbose=0)`, a
`tf.function`), so the dataset itself counts: every batch it yields advances the bar. It stays a
`tf.data.Dataset`, so every task can still map or predict over it.
"""

from __future__ import annotations

from typing import Any

from zoo.core.progress import Progress


def batches(dataset: Any) -> int | None:
    """The number of batches of `dataset`, or None when tf.data does not know it."""
    try:
        n = int(dataset.cardinality())
    except (AttributeError, TypeError, ValueError):
        return None
    return n if n >= 0 else None


def counted(dataset: Any, progress: Progress) -> Any:
    """`dataset`, advancing `progress` by one for each batch read (a dataset read twice counts twice,
    the count shown stops at the total)."""
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        return dataset

    def tick() -> Any:
        progress.advance()
        return 0

    def step(*batch: Any) -> Any:
        done = tf.numpy_function(tick, [], tf.int64, stateful=True)
        with tf.control_dependencies([done]):
            batch = tf.nest.map_structure(tf.identity, batch)
        return batch if len(batch) > 1 else batch[0]

    return dataset.map(step)
