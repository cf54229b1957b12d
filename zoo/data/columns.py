"""Column handling of a CSV table: each column's kind (inferred, overridable) and its raw values.

Kinds: `numeric` (every filled cell a number), `categorical` (strings, or integer codes named in
`dataset.categorical`), `hashed` (`dataset.hashed`: many distinct strings into `dataset.hash_bins`
buckets). Blanks (`""`, `NA`, `?` ...) stay blank here: NaN in a numeric column, `""` in a
categorical one; the preprocessor fills them from the training split (`dataset.missing=impute`), or
they are refused (`dataset.missing=refuse`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from zoo.core.errors import DataError
from zoo.data.csv_data import MISSING, Table, check_float32, is_float, is_number, require_column
from zoo.data.features import CATEGORICAL, HASHED, NUMERIC, column, describe, input_name

log = logging.getLogger("zoo.data")
MISSING_POLICIES = ("impute", "refuse")


def overrides(table: Table, features: list[str], cfg: Any) -> dict[str, str]:
    """Column -> kind forced by `dataset.numeric/categorical/hashed`, each name checked."""
    forced: dict[str, str] = {}
    for kind, key in ((NUMERIC, "numeric"), (CATEGORICAL, "categorical"), (HASHED, "hashed")):
        for name in getattr(cfg, key, None) or []:
            require_column(table, name, "feature")
            if name not in features:
                raise DataError(f"dataset.{key} names {name!r}, which is the target or ignored: "
                                f"remove it from dataset.{key}")
            if name in forced:
                raise DataError(f"column {name!r} is in dataset.{forced[name]} and dataset.{key}: "
                                "give each column one kind")
            forced[name] = kind if key != "numeric" else NUMERIC
    return forced


def infer_kind(table: Table, name: str, values: list[str]) -> str:
    """numeric when every filled cell is a number, else categorical; `inf` or `1e999` among numbers
    is an error naming its line, not a reason to treat the column as text."""
    filled = [(v, line) for v, line in zip(values, table.lines, strict=True) if v.lower() not in MISSING]
    if filled and all(is_float(v) for v, _ in filled):
        for value, line in filled:
            if not is_number(value):
                raise DataError(f"column {name!r} of {table.path}, line {line}: {value!r} is not a finite "
                                "number: fix it, or blank the cell to have it imputed")
        return NUMERIC
    return CATEGORICAL


def plan_columns(table: Table, features: list[str], cfg: Any) -> list[dict[str, Any]]:
    """The raw feature description of each column (kind, input name), checked against the data."""
    policy = getattr(cfg, "missing", "impute")
    if policy not in MISSING_POLICIES:
        raise DataError(f"dataset.missing={policy!r} is not one of {', '.join(MISSING_POLICIES)}")
    forced = overrides(table, features, cfg)
    max_categories = int(getattr(cfg, "max_categories", 100))
    taken: set[str] = set()
    plan = []
    for name in features:
        values = cells(table, name)
        kind = forced.get(name) or infer_kind(table, name, values)
        distinct = {v for v in values if v.lower() not in MISSING}
        if kind == CATEGORICAL and len(distinct) > max_categories:
            raise DataError(f"column {name!r} of {table.path} has {len(distinct)} distinct values (more than "
                            f"dataset.max_categories={max_categories}), like an identifier or free text: "
                            f"leave it out with dataset.ignore=[{name}], hash it with "
                            f"dataset.hashed=[{name}], or raise dataset.max_categories")
        extra = {"bins": int(getattr(cfg, "hash_bins", 64))} if kind == HASHED else {}
        plan.append(column(input_name(name, taken), name, kind, **extra))
    log.info("columns of %s: %s", table.path.name, describe(plan))
    return plan


def cells(table: Table, name: str) -> list[str]:
    """The stripped cells of a column, blanks included."""
    index = table.header.index(name)
    return [row[index].strip() for row in table.rows]


def raw_columns(table: Table, plan: list[dict[str, Any]], cfg: Any) -> dict[str, np.ndarray]:
    """Input name -> `(rows, 1)` array: float32 (NaN for blanks) or str (`""` for blanks)."""
    refuse = getattr(cfg, "missing", "impute") == "refuse"
    data = {}
    for feature in plan:
        name = feature["column"]
        values = cells(table, name)
        blank = [v.lower() in MISSING for v in values]
        if refuse and any(blank):
            line = table.lines[blank.index(True)]
            raise DataError(f"missing value in column {name!r} at line {line} of {table.path} "
                            "(dataset.missing=refuse): fill it in, delete the row, or set "
                            "dataset.missing=impute")
        if feature["kind"] != NUMERIC:
            data[feature["name"]] = np.array(["" if b else v for v, b in zip(values, blank, strict=True)],
                                             dtype=object).reshape(-1, 1)
            continue
        for value, line, is_blank in zip(values, table.lines, blank, strict=True):
            if is_blank:
                continue
            if not is_number(value):
                raise DataError(f"feature column {name!r} of {table.path} is not numeric (line {line}: "
                                f"{value!r}): fix the value, or declare it dataset.categorical=[{name}] or "
                                f"leave it out with dataset.ignore=[{name}]")
            check_float32(value, f"column {name!r} of {table.path}, line {line}")
        numbers = [np.nan if b else float(v) for v, b in zip(values, blank, strict=True)]
        data[feature["name"]] = np.array(numbers, dtype=np.float32).reshape(-1, 1)
    return data
