"""The text datasets' column keys, as `zoo predict` reads a CSV of texts for a text bundle."""

from __future__ import annotations

from typing import Any


def text_columns(cfg: Any) -> list[str]:
    """The dataset's text (and pair) column names, which `zoo predict` reads from a CSV."""
    dataset = cfg.get("dataset") or {}
    return [c for c in (dataset.get("text_column"), dataset.get("text_pair_column")) if c]
