"""The user's labelled text in a CSV/TSV file: a text column (and a pair column) and a label."""

from __future__ import annotations

from typing import Any

import numpy as np
from zoo_plugins.text.labels import check_texts, class_ids, text_splits

from zoo.sdk import DataError, RawSplits, Table, close_matches, read_table


def load(cfg: Any, seed: int) -> RawSplits:
    """Seeded train/validation/test splits of `(text, class id)` from `cfg.path`."""
    table = read_table(cfg.path, cfg.separator)
    texts, labels = columns(table, cfg)
    ids, names = class_ids(labels, f"column {cfg.label_column!r} of {table.path}")
    test = None
    if cfg.test_path:
        test_table = read_table(cfg.test_path, cfg.separator)
        test_texts, test_labels = columns(test_table, cfg)
        test = (test_texts, class_ids(test_labels, f"column {cfg.label_column!r} of "
                                      f"{test_table.path}", names)[0])
    return text_splits(texts, ids, names, cfg, seed, cfg.name or table.path.stem, test,
                       {"path": str(table.path), "label_map": dict(enumerate(names))})


def columns(table: Table, cfg: Any) -> tuple[np.ndarray, list[str]]:
    """The texts ((n,) or (n, 2) with a pair column) and the raw labels, checked."""
    names = [cfg.text_column] + ([cfg.text_pair_column] if cfg.text_pair_column else [])
    for name, setting in zip(names, ("text_column", "text_pair_column"), strict=False):
        require_column(table, name, setting)
    require_column(table, cfg.label_column, "label_column")
    texts = []
    for name in names:
        index = table.header.index(name)
        column = [row[index] for row in table.rows]
        check_texts(column, f"column {name!r} of {table.path}", [f"line {n}" for n in table.lines])
        texts.append(column)
    labels = table.column(cfg.label_column)
    array = np.array(texts[0], dtype=object) if len(texts) == 1 else np.array(texts, object).T
    return array, labels


def require_column(table: Table, name: str, setting: str) -> None:
    """A DataError naming the file, its columns and close matches unless `name` is a column."""
    if name not in table.header:
        matches = close_matches(name, table.header)
        hint = f"did you mean {', '.join(repr(m) for m in matches)}? " if matches else ""
        raise DataError(f"column {name!r} (dataset.{setting}) not found in {table.path} (columns: "
                        f"{', '.join(table.header)}): {hint}set dataset.{setting}=<column>")
