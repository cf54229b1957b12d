"""A CSV time series cut into windows: `window` rows of features predict `target` later.

Splits are chronological (train, then validation, then test) so no window of the future
leaks into training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.sdk import (
    REGRESSION,
    DataError,
    DatasetInfo,
    RawSplits,
    check_fraction,
    is_number,
    read_table,
    require_column,
    to_raw_splits,
)


def load(cfg: Any, seed: int) -> RawSplits:
    """Chronological splits of `(window, features)` inputs and the value `horizon` rows ahead."""
    table = read_table(cfg.path, cfg.separator)
    require_column(table, cfg.target, "target")
    names = list(cfg.features) if cfg.features else numeric_columns(table)
    for name in names:
        require_column(table, name, "feature")
    values = np.array([[float(v) for v in table.column(n)] for n in names], np.float32).T
    target = np.array([float(v) for v in table.column(cfg.target)], np.float32)
    x, y = windows(values, target, int(cfg.window), int(cfg.horizon), len(table.rows))
    arrays = chronological(x, y, cfg)
    info = DatasetInfo(name=cfg.name or table.path.stem, task=REGRESSION, modality="sequence",
                       input_shape=(int(cfg.window), len(names)), feature_names=names,
                       extra={"path": str(table.path), "target": cfg.target,
                              "horizon": int(cfg.horizon)})
    return to_raw_splits(arrays, info)


def numeric_columns(table: Any) -> list[str]:
    """Columns whose every value is a number (a date column is skipped)."""
    return [n for i, n in enumerate(table.header) if all(is_number(r[i]) for r in table.rows)]


def windows(values: np.ndarray, target: np.ndarray, window: int, horizon: int, rows: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Every window of `window` rows and the target `horizon` rows after its last row."""
    if window < 1 or horizon < 1:
        raise DataError(f"dataset.window={window} and dataset.horizon={horizon} must be >= 1")
    count = rows - window - horizon + 1
    if count < 10:
        raise DataError(f"{rows} rows make {max(count, 0)} windows of {window} + horizon "
                        f"{horizon}: lower dataset.window or give a longer series")
    x = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)[:count]
    return np.ascontiguousarray(x.transpose(0, 2, 1)), target[window + horizon - 1:][:count]


def chronological(x: np.ndarray, y: np.ndarray, cfg: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train, validation and test as consecutive stretches of time."""
    n = len(y)
    test = int(n * check_fraction("test_fraction", cfg.test_fraction))
    val = int((n - test) * check_fraction("val_fraction", cfg.val_fraction))
    train_end = n - test - val
    start = max(0, train_end - cfg.limit) if cfg.limit else 0
    return {"train": (x[start:train_end], y[start:train_end]),
            "validation": (x[train_end:n - test], y[train_end:n - test]),
            "test": (x[n - test:], y[n - test:])}
