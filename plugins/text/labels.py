"""Text examples and labels -> seeded raw splits of `(string, class id)` (or string pairs)."""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.sdk import (
    CLASSIFICATION,
    DataError,
    DatasetInfo,
    RawSplits,
    TextFacts,
    check_int_labels,
    encode_names,
    ids_of_names,
    import_tensorflow,
    is_integer,
    require_classes,
    split_arrays,
)


def class_ids(labels: list[str], where: str, names: list[str] | None = None
              ) -> tuple[np.ndarray, list[str]]:
    """Class ids and names: integer labels are ids 0..K-1, other labels class names (sorted)."""
    if names is not None:
        if all(is_integer(v) for v in labels) and all(n == str(i) for i, n in enumerate(names)):
            ids = np.array([int(v) for v in labels], np.int32)
            check_int_labels(ids, len(names), where, "use the training file's class ids")
            return ids, names
        return ids_of_names(labels, names, where), names
    if all(is_integer(v) for v in labels):
        ids = np.array([int(v) for v in labels], np.int32)
        count = check_int_labels(ids, None, where)
        return ids, [str(i) for i in range(count)]
    floats = [v for v in labels if _is_float(v)]
    if floats and len(floats) == len(labels):
        raise DataError(f"label {floats[0]!r} in {where} is not an integer class id or a class "
                        "name: text classification needs labels 0..K-1 or names")
    return encode_names(labels)


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def check_texts(texts: list[str], where: str, lines: list[Any]) -> None:
    """A DataError naming the first empty text."""
    for text, line in zip(texts, lines, strict=True):
        if not text.strip():
            raise DataError(f"empty text at {line} of {where}: fill it in or delete the example")


def text_splits(texts: np.ndarray, ids: np.ndarray, names: list[str], cfg: Any, seed: int,
                name: str, test: tuple[np.ndarray, np.ndarray] | None = None,
                extra: dict[str, Any] | None = None) -> RawSplits:
    """Seeded stratified splits as tf.data of `(text, id)`; `texts` is (n,) or (n, 2) for pairs."""
    require_classes(len(names), name, "add examples of another class")
    arrays = split_arrays(texts, ids, cfg, seed, stratify=True, test=test)
    info = DatasetInfo(name=name, task=CLASSIFICATION, modality="text", input_shape=(),
                       num_classes=len(names), class_names=names, input_dtype="string",
                       text=TextFacts(pairs=texts.ndim == 2), extra=dict(extra or {}))
    tf = import_tensorflow()
    datasets = {}
    for split, (x, y) in arrays.items():
        x = tf.constant(x, tf.string)
        features = (x[:, 0], x[:, 1]) if texts.ndim == 2 else x
        datasets[split] = tf.data.Dataset.from_tensor_slices((features, tf.constant(y, tf.int32)))
        info.num_examples[split] = len(y)
    return RawSplits(datasets["train"], datasets["validation"], datasets["test"], info)
