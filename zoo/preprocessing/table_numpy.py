"""The table preprocessor's arithmetic in numpy, for record batches streamed from files.

Training feeds the network preprocessed batches. For a table read in record batches (`RawSplits.sources`)
the batches are encoded here, in the reading thread, from the same feature descriptions the Keras
layers of `zoo.preprocessing.fit.fit_table` are built from: a column's blanks filled and flagged
(`ImputeMissing`), standardised as `Normalization` does (`(x - mean) / max(sqrt(variance), eps)`
in float32), categories looked up as `StringLookup` does (vocabulary -> 1.., anything else -> 0;
Arrow's `index_in`) and one-hot encoded (`CategoryEncoding`). Strings never become tensors and the
layers never run per batch in tf.data; the layers stay in the saved model for every bundle, and
`tests/test_data_stream.py` checks both give the same numbers. A hashed column (FarmHash, as
`Hashing` computes it) or a run folder written before the descriptions held `mean`/`variance`
gets no encoder: the layers map its batches as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from zoo.data.features import CATEGORICAL, NUMERIC

EPSILON = np.float32(1e-7)  # keras.backend.epsilon(), Normalization's floor on the deviation


def numpy_encoder(features: list[dict[str, Any]], scale: bool
                  ) -> Callable[[dict[str, np.ndarray]], np.ndarray] | None:
    """`columns -> float32 matrix`, what the fitted table preprocessor computes from a batch of
    raw columns (`(rows, 1)` arrays by input name), or None where numpy cannot (see above)."""
    steps = []
    for f in features:
        if f["kind"] == NUMERIC and "fill" in f and (not scale or "variance" in f):
            steps.append(numeric_step(f, scale))
        elif f["kind"] == CATEGORICAL and f.get("categories") is not None:
            steps.append(category_step(f))
        else:
            return None

    def encode(columns: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([step(columns) for step in steps], axis=1)

    return encode


def numeric_step(feature: dict[str, Any], scale: bool) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    name, indicator = feature["name"], bool(feature.get("missing"))
    fill = np.float32(feature["fill"])
    mean = np.float32(feature.get("mean", 0.0))
    deviation = np.maximum(np.sqrt(np.float32(feature.get("variance", 1.0))), EPSILON)

    def step(columns: dict[str, np.ndarray]) -> np.ndarray:
        x = np.asarray(columns[name], dtype=np.float32).reshape(-1, 1)
        missing = np.isnan(x)
        value = np.where(missing, fill, x)
        if scale:
            value = (value - mean) / deviation
        return np.concatenate([value, missing.astype(np.float32)], axis=1) if indicator else value

    return step


def category_step(feature: dict[str, Any]) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    import pyarrow as pa
    import pyarrow.compute as pc

    name = feature["name"]
    vocabulary = pa.array([str(c) for c in feature["categories"]], type=pa.string())
    one_hot = np.eye(len(vocabulary) + 1, dtype=np.float32)

    def step(columns: dict[str, np.ndarray]) -> np.ndarray:
        values = pa.array(np.asarray(columns[name], dtype=object).reshape(-1), type=pa.string())
        ids = pc.index_in(values, value_set=vocabulary).fill_null(-1).to_numpy(zero_copy_only=False) + 1
        return one_hot[ids]

    return step
