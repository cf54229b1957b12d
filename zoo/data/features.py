"""Raw input descriptions (`dataset.json` "features"): what a model takes before preprocessing.

A feature is a dict, so it travels as JSON into run folders and bundles:
`{"name": input name, "column": source column, "kind": numeric | categorical | hashed | tensor,
"dtype": float32 | string | uint8, "shape": per-example shape (null = any size)}` plus, by kind,
`missing` (numeric: the training split had blanks, so a missing-indicator is added),
`bins` (hashed) and `resize` ([height, width] of variable-size images).
"""

from __future__ import annotations

import re
from typing import Any

NUMERIC, CATEGORICAL, HASHED, TENSOR = "numeric", "categorical", "hashed", "tensor"
KINDS = (NUMERIC, CATEGORICAL, HASHED, TENSOR)
STRING = "string"


def input_name(column: str, taken: set[str]) -> str:
    """A TensorFlow-safe, unique input name for a column (`Sale Price` -> `Sale_Price`)."""
    name = re.sub(r"[^A-Za-z0-9_.]", "_", column.strip()) or "column"
    if not re.match(r"[A-Za-z]", name):
        name = f"c_{name}"
    base, i = name, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def column(name: str, column: str, kind: str, **extra: Any) -> dict[str, Any]:
    """One column of a table: a scalar per example (shape [1])."""
    dtype = "float32" if kind == NUMERIC else STRING
    return {"name": name, "column": column, "kind": kind, "dtype": dtype, "shape": [1], **extra}


def tensor(shape: tuple[int | None, ...], dtype: str = "float32", name: str = "features",
           **extra: Any) -> dict[str, Any]:
    """A whole example as one tensor: a feature vector, an image, a window of a series."""
    return {"name": name, "column": None, "kind": TENSOR, "dtype": dtype,
            "shape": [None if d is None else int(d) for d in shape], **extra}


def is_table(features: list[dict[str, Any]] | None) -> bool:
    """Whether the raw inputs are named table columns (one model input per column)."""
    return bool(features) and all(f["kind"] != TENSOR for f in features)


def describe(features: list[dict[str, Any]]) -> str:
    """One log line: how many columns of each kind (or the tensor's shape)."""
    if not is_table(features):
        return ", ".join(f"{f['name']} {f['dtype']}{f['shape']}" for f in features)
    counts = {kind: [f["column"] for f in features if f["kind"] == kind] for kind in KINDS}
    parts = [f"{len(cols)} {kind} ({', '.join(cols[:6])}{', ...' if len(cols) > 6 else ''})"
             for kind, cols in counts.items() if cols]
    missing = [f["column"] for f in features if f.get("missing")]
    if missing:
        parts.append(f"blanks imputed with an indicator in {', '.join(missing)}")
    return "; ".join(parts)
