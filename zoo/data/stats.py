"""Preprocessing statistics in one streaming pass (TFX Transform's "analyze", without Beam).

`TableStats` takes the training split batch by batch (numpy columns, as any source yields them) and
gives what the in-model preprocessing layers are built with: each numeric column's fill value, its
missing-indicator flag and the mean and variance of the filled values (`Normalization(mean=,
variance=)`), each categorical column's vocabulary (`StringLookup(vocabulary=)`,
most frequent first), and the regression target's mean and std. Memory is one running total per
column and one count per category, whatever the number of rows; partial statistics combine
(`merge`), so shares of the data can be summed up.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.core.errors import DataError
from zoo.data.features import CATEGORICAL, NUMERIC


@dataclass
class Moments:
    """Count, mean and sum of squared deviations, combined batch by batch (Chan et al.)."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(values):
            mean = float(values.mean())
            self.merge(Moments(len(values), mean, float(((values - mean) ** 2).sum())))

    def merge(self, other: Moments) -> None:
        total = self.count + other.count
        if not other.count:
            return
        delta = other.mean - self.mean
        self.mean += delta * other.count / total
        self.m2 += other.m2 + delta * delta * self.count * other.count / total
        self.count = total


@dataclass
class ColumnStats:
    """One column's running statistics: rows seen, moments of its filled cells, category counts."""

    kind: str
    rows: int = 0
    filled: Moments = field(default_factory=Moments)
    counts: Counter = field(default_factory=Counter)

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values).reshape(-1)
        self.rows += len(values)
        if self.kind == NUMERIC:
            self.filled.add(values[~np.isnan(values)])
        elif self.kind == CATEGORICAL:
            # counted as they come (C speed), then only the distinct values made text
            for value, count in Counter(values.tolist()).items():
                self.counts[value.decode() if isinstance(value, bytes) else str(value)] += count

    def merge(self, other: ColumnStats) -> None:
        self.rows += other.rows
        self.filled.merge(other.filled)
        self.counts.update(other.counts)

    def result(self) -> dict[str, Any]:
        if self.kind == NUMERIC:
            fill = self.filled.mean if self.filled.count else 0.0
            # The imputed cells equal the mean: they add rows but no squared deviation.
            variance = self.filled.m2 / self.rows if self.rows else 0.0
            return {"fill": fill, "missing": self.filled.count < self.rows, "mean": fill,
                    "variance": variance}
        if self.kind == CATEGORICAL:
            return {"vocabulary": vocabulary(self.counts)}
        return {}


def vocabulary(counts: Counter) -> list[str]:
    """Tokens by count, most frequent first, ties in sorted order; a blank (`""`) is a token too."""
    return sorted(counts, key=lambda token: (-counts[token], token))


class TableStats:
    """Running statistics of a table's feature columns (by input name) and regression target."""

    def __init__(self, features: list[dict[str, Any]], max_categories: int | None = None,
                 where: str = "the training split"):
        self.columns = {f["name"]: ColumnStats(f["kind"]) for f in features}
        self.sources = {f["name"]: f["column"] for f in features}
        self.target = Moments()
        self.max_categories = max_categories
        self.where = where

    def add(self, columns: dict[str, np.ndarray], target: np.ndarray | None = None) -> None:
        """One batch: input name -> `(rows, 1)` raw values; the regression target if any."""
        for name, stats in self.columns.items():
            stats.add(columns[name])
            if self.max_categories and len(stats.counts) > self.max_categories:
                column = self.sources[name]
                raise DataError(
                    f"column {column!r} of {self.where} has more than {self.max_categories} distinct "
                    f"values (dataset.max_categories), like an identifier or free text: leave it out "
                    f"with dataset.ignore=[{column}], hash it with dataset.hashed=[{column}], or raise "
                    "dataset.max_categories")
        if target is not None:
            self.target.add(target)

    def merge(self, other: TableStats) -> None:
        for name, stats in self.columns.items():
            stats.merge(other.columns[name])
        self.target.merge(other.target)

    def state(self) -> dict[str, Any]:
        """The partial statistics as plain JSON-able values (to send to other workers)."""
        return {"columns": {name: [c.rows, c.filled.count, c.filled.mean, c.filled.m2, dict(c.counts)]
                            for name, c in self.columns.items()},
                "target": [self.target.count, self.target.mean, self.target.m2]}

    def merge_state(self, state: dict[str, Any]) -> None:
        """Add partial statistics that `state()` gave (another share of the rows)."""
        for name, (rows, count, mean, m2, counts) in state["columns"].items():
            part = ColumnStats(self.columns[name].kind, rows, Moments(count, mean, m2), Counter(counts))
            self.columns[name].merge(part)
        self.target.merge(Moments(*state["target"]))

    def result(self) -> dict[str, dict[str, Any]]:
        """Input name -> the statistics its layers are built with."""
        return {name: stats.result() for name, stats in self.columns.items()}

    def target_result(self) -> dict[str, float]:
        std = math.sqrt(self.target.m2 / self.target.count) if self.target.count else 0.0
        return {"mean": self.target.mean, "std": std if std > 1e-12 else 1.0}
