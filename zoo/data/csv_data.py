"""The user's CSV file: a header row, one row per example, one column the target."""

from __future__ import annotations

import csv
import io
import itertools
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import DataError, close_matches
from zoo.core.specs import CLASSIFICATION, REGRESSION
from zoo.data.base import DatasetInfo, RawSplits
from zoo.data.files import read_utf8
from zoo.data.splits import (
    check_int_labels,
    encode_names,
    ids_of_names,
    label_array,
    require_classes,
    to_raw_splits,
)

SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t"}
SNIFFED = ",;\t"  # the separators a CSV file's are sniffed among
MAX_CELL_BYTES = 16 << 20  # one CSV cell (a long text) may be this large
MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}
TASKS = ("auto", CLASSIFICATION, REGRESSION)
MAX_AUTO_CLASSES = 20  # task auto: an integer target with more distinct values is regression
log = logging.getLogger("zoo.data")


@dataclass
class Table:
    """A CSV file read as text: header, data rows and each row's line number."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    def column(self, name: str, role: str = "feature") -> list[str]:
        """The stripped values of column `name`; a DataError names the first missing value."""
        index = self.header.index(name)
        values = [row[index].strip() for row in self.rows]
        for value, line in zip(values, self.lines, strict=True):
            if value.lower() in MISSING:
                where = (f"line {line} of {self.path} has no value in the target column {name!r}"
                         if role == "target" else
                         f"missing value in column {name!r} at line {line} of {self.path}")
                raise DataError(f"{where} ({value!r}): fill it in or delete the row")
        return values


def load(cfg: Any, seed: int) -> RawSplits:
    """Seeded train/validation/test splits of the CSV file `cfg.path`, raw: one input per column
    (numbers with NaN for blanks, categories as strings), preprocessed inside the model."""
    from zoo.data.columns import plan_columns, raw_columns

    if streamed(cfg):
        from zoo.data.table_stream import load as load_streamed

        return load_streamed(cfg, seed)
    table = read_table(cfg.path, getattr(cfg, "separator", None))
    ignore = list(getattr(cfg, "ignore", None) or [])
    features = feature_columns(table, cfg.target, getattr(cfg, "features", None), ignore)
    target = target_column(table, cfg.target)
    task = infer_task(target, getattr(cfg, "task", "auto"), table, cfg.target,
                      int(getattr(cfg, "max_classes", MAX_AUTO_CLASSES)))
    names = class_names(target, cfg, table) if task == CLASSIFICATION else None
    plan = plan_columns(table, features, cfg)
    where = f"column {cfg.target!r} of {table.path}"
    x = raw_columns(table, plan, cfg)
    y = labels(target, names if task == CLASSIFICATION else None, where, table.lines)
    test = None
    if getattr(cfg, "test_path", None):
        test_table = read_table(cfg.test_path, getattr(cfg, "separator", None))
        feature_columns(test_table, cfg.target, features)
        test_where = f"column {cfg.target!r} of {test_table.path}"
        test = (raw_columns(test_table, plan, cfg),
                labels(target_column(test_table, cfg.target), names, test_where, test_table.lines))
    arrays = split_columns(x, y, cfg, seed, test=test)
    info = DatasetInfo(
        name=getattr(cfg, "name", "") or table.path.stem,
        task=task,
        modality="tabular",
        input_shape=(len(features),),
        num_classes=len(names) if names else None,
        class_names=names,
        feature_names=features,
        features=plan,
        extra={"path": str(table.path), "target": cfg.target},
    )
    from zoo.data.table_stream import in_memory_extras

    return in_memory_extras(to_raw_splits(arrays, info), arrays)


def streamed(cfg: Any) -> bool:
    """Whether `cfg.path` is read by the streaming Arrow path (`zoo.data.table_stream`):
    `dataset.stream` if set, else for Parquet, a folder, a glob, or a CSV file above
    `dataset.stream_above_mb`; other CSV files are read whole (the same split, statistics and model)."""
    stream = getattr(cfg, "stream", None)
    if stream is not None:
        return bool(stream)
    if (getattr(cfg, "shares", None) or 1) > 1:
        return True  # data shares are cut from the files
    path = str(cfg.path)
    file = Path(path).expanduser()
    if any(ch in path for ch in "*?[") or file.is_dir():
        return True
    if not file.is_file():
        return False  # read_table names the missing file
    if file.suffix.lower() in (".parquet", ".pq") or getattr(cfg, "format", "auto") == "parquet":
        return True
    return file.stat().st_size > float(getattr(cfg, "stream_above_mb", 4)) * 2**20


def split_columns(x: dict[str, np.ndarray], y: np.ndarray, cfg: Any, seed: int,
                  test: tuple[dict[str, np.ndarray], np.ndarray] | None = None) -> dict[str, Any]:
    """The seeded per-row split of `zoo.data.rowsplit` (the streaming path's own), rows kept in
    file order; `dataset.limit` keeps the first training rows."""
    from zoo.data.table_stream import SplitRule

    rule = SplitRule.of(cfg, seed, separate_test=test is not None)
    codes = rule.codes(np.arange(len(y)), 0)
    split = {}
    for code, name in enumerate(("train", "validation", "test")):
        index = np.flatnonzero(codes == code)
        split[name] = ({c: v[index] for c, v in x.items()}, y[index])
    if test is not None:
        split["test"] = test
    return split


def read_table(path: str, separator: str | None = None) -> Table:
    """Read a CSV file with a header row; the separator is sniffed unless given."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"CSV file {path} not found (working directory {os.getcwd()}): "
                        "check dataset.path")
    text = read_utf8(file)
    rows, lines = csv_rows(file, text, pick_separator(text, separator))
    if not rows:
        raise DataError(f"CSV file {file} is empty: it needs a header row of column names "
                        "and one row per example")
    header = check_header([cell.strip() for cell in rows[0]], file)
    if len(rows) < 2:
        raise DataError(f"CSV file {file} has a header but no data rows: add one row per example")
    for row, line in zip(rows[1:], lines[1:], strict=True):
        if len(row) != len(header):
            raise DataError(f"line {line} of {file} has {len(row)} fields but the header has "
                            f"{len(header)}: fix the row or give dataset.separator")
    return Table(file, header, rows[1:], lines[1:])


def pick_separator(text: str, separator: str | None) -> str:
    """`separator` (a character or comma/semicolon/tab), else the one `csv.Sniffer` finds."""
    if separator:
        separator = SEPARATORS.get(separator, separator)
        if len(separator) != 1:
            raise DataError(f"dataset.separator={separator!r} is not one character: use ',', "
                            "';' or 'tab'")
        return separator
    return sniff_separator(text)


def sniff_separator(text: str) -> str:
    """The separator among comma, semicolon and tab that `csv.Sniffer` finds in the first 50 lines
    of a CSV file's text (a comma when there is one column or none is consistent); the one sniffer
    of training (`dataset.separator` unset) and of `zoo predict`/`zoo serve`."""
    sample = "\n".join(line.rstrip("\r\n") for line in itertools.islice(io.StringIO(text), 50))
    try:
        return csv.Sniffer().sniff(sample[:1 << 16], delimiters=SNIFFED).delimiter
    except csv.Error:
        return ","


def csv_rows(path: Path, text: str, delimiter: str,
             blank_rows: bool = False) -> tuple[list[list[str]], list[int]]:
    """The rows of a CSV file's text and the line each ends on (rows of blank cells skipped unless
    `blank_rows`); the one reader of training's and serving's tables, so a malformed file is one
    DataError naming the line."""
    if csv.field_size_limit() < MAX_CELL_BYTES:
        csv.field_size_limit(MAX_CELL_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows, lines = [], []
    try:
        for row in reader:
            if row and (blank_rows or any(cell.strip() for cell in row)):
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: {exc}: fix the file (a cell may hold at most "
                        f"{MAX_CELL_BYTES >> 20} MB; quote cells holding the separator)") from None
    return rows, lines


def check_header(header: list[str], file: Path) -> list[str]:
    """The header, if it names every column once and does not look like data."""
    if all(is_number(cell) for cell in header):
        raise DataError(f"the first line of {file} looks like data, not column names: "
                        "add a header row naming the columns")
    if "" in header:
        raise DataError(f"column {header.index('') + 1} of {file} has no name in the header row: "
                        "name every column")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DataError(f"column {duplicates[0]!r} appears twice in the header of {file}: "
                        "give each column a distinct name")
    return header


def require_column(table: Table, name: str, role: str) -> None:
    """A DataError naming the file, its columns and close matches unless `name` is a column."""
    if name not in table.header:
        matches = close_matches(name, table.header)
        hint = f"did you mean {', '.join(repr(m) for m in matches)}? " if matches else ""
        setting = "dataset.target=<column>" if role == "target" else "dataset.features=[...]"
        raise DataError(f"{role} column {name!r} not found in {table.path} (columns: "
                        f"{', '.join(table.header)}): {hint}set {setting}")


def feature_columns(table: Table, target: str, features: Any = None, ignore: list[str] | None = None
                    ) -> list[str]:
    """The feature column names (default: every column but the target and `ignore`), checked."""
    require_column(table, target, "target")
    for name in ignore or []:
        require_column(table, name, "ignored")
    names = list(features) if features else [c for c in table.header if c != target]
    names = [n for n in names if n not in (ignore or [])]
    for name in names:
        require_column(table, name, "feature")
    if target in names:
        raise DataError(f"target column {target!r} is also listed in dataset.features: "
                        "remove it from the features")
    if not names:
        raise DataError(f"{table.path} has no feature columns besides the target {target!r}: "
                        "add feature columns")
    return names


def is_number(value: str) -> bool:
    """Whether `value` parses as a finite float."""
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def is_integer(value: str) -> bool:
    """Whether `value` is written as an integer (e.g. `3`, `-1`, not `3.0`)."""
    try:
        int(value)
    except ValueError:
        return False
    return True


def target_column(table: Table, target: str) -> list[str]:
    """The target's values; a blank target names its line (a row cannot be learnt without one)."""
    require_column(table, target, "target")
    return table.column(target, role="target")


def infer_task(target: list[str], task: str, table: Table, column: str = "target",
               max_classes: int = MAX_AUTO_CLASSES) -> str:
    """The task for `target` values: `task` unless "auto" (names, or at most `max_classes` distinct
    integers: classes; other numbers: regression); the log says which and how to override."""
    if task not in TASKS:
        raise DataError(f"dataset.task={task!r} is not one of {', '.join(TASKS)}")
    if task != "auto":
        return task
    if not all(is_number(v) for v in target):
        refuse_non_finite_target(target, table, column)
        refuse_identifier_classes(target, table, column, max_classes)
        return CLASSIFICATION
    if not all(is_integer(v) for v in target):
        return REGRESSION
    distinct = len({int(v) for v in target})
    chosen = CLASSIFICATION if distinct <= max_classes else REGRESSION
    other = REGRESSION if chosen == CLASSIFICATION else CLASSIFICATION
    log.info("target %r of %s holds %d distinct integers (dataset.max_classes=%d): %s; set "
             "dataset.task=%s to change that", column, table.path.name, distinct, max_classes, chosen, other)
    return chosen


def first_non_number(values: list[str], lines: list[int]) -> tuple[str, int]:
    """The first value that is not a finite number, and its line."""
    return next((v, line) for v, line in zip(values, lines, strict=True) if not is_number(v))


def refuse_non_finite_target(target: list[str], table: Table, column: str) -> None:
    """A DataError naming the first `inf`/`1e999` line of a target that is otherwise all numbers (one
    non-finite cell would turn a regression target into as many classes as values)."""
    if not all(is_float(v) for v in target):
        return
    value, line = first_non_number(target, table.lines)
    raise DataError(f"target column {column!r} of {table.path}, line {line}: {value!r} is not a finite "
                    "number: fix the value or delete the row")


def refuse_identifier_classes(target: list[str], table: Table, column: str,
                              max_classes: int = MAX_AUTO_CLASSES) -> None:
    """A DataError, under `task: auto`, for a text target that cannot be meant as classes: more than
    `max_classes` distinct values that are mostly numbers (a regression target with a typo: its line
    is named) or more than half as many as rows (an identifier, a class per row)."""
    distinct = len(set(target))
    if distinct <= max_classes:
        return
    numbers = sum(is_number(v) for v in target)
    if numbers * 2 >= len(target):
        value, line = first_non_number(target, table.lines)
        reason = f"numbers but line {line} holds {value!r}"
    elif distinct * 2 > len(target):
        reason = "nearly a class per row"
    else:
        return
    raise DataError(f"target column {column!r} of {table.path} has {distinct} distinct values in "
                    f"{len(target)} rows ({reason}), too many to learn as classes: fix the target "
                    "(for regression every cell a number), choose another dataset.target, or set "
                    "dataset.task=classification to train on them as classes anyway")


def class_names(target: list[str], cfg: Any, table: Table) -> list[str]:
    """Class names of a training target: "0".."K-1" for integer ids, else sorted unique names."""
    where = f"column {cfg.target!r} of {table.path}"
    num_classes = getattr(cfg, "num_classes", None)
    if all(is_integer(v) for v in target):
        count = check_int_labels(np.array([int(v) for v in target]), num_classes, where)
        names = [str(i) for i in range(count)]
    else:
        names = encode_names(target)[1]
        if num_classes is not None and len(names) > num_classes:
            raise DataError(f"{where} has {len(names)} classes but dataset.num_classes="
                            f"{num_classes}: raise dataset.num_classes or fix the labels")
    require_classes(len(names), where, "use a column with several classes")
    return names


def labels(values: list[str], names: list[str] | None, where: str, lines: list[int] | None = None
           ) -> np.ndarray:
    """int32 class ids (integer ids or names from `names`), or float32 targets if no `names`."""
    if names is None:
        for value, line in zip(values, lines or [None] * len(values), strict=True):
            if not is_number(value):
                at = f" at line {line}" if line else ""
                kind = "not a finite number" if is_float(value) else "not numeric"
                raise DataError(f"{where} is {kind}{at} ({value!r}), so it cannot be a regression "
                                "target: fix the value (or set dataset.task=classification)")
            check_float32(value, f"{where}, line {line}")
        return label_array([float(v) for v in values], REGRESSION)
    if names == [str(i) for i in range(len(names))] and all(is_integer(v) for v in values):
        ids = np.array([int(v) for v in values])
        check_int_labels(ids, len(names), where, fix="it is not among the training classes")
        return label_array(ids, CLASSIFICATION)
    return ids_of_names(values, names, where)


def is_float(value: str) -> bool:
    """Whether `value` parses as a float at all (including `inf` and `1e999`)."""
    try:
        float(value)
    except ValueError:
        return False
    return True


FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_float32(value: str, where: str) -> None:
    """A DataError unless `value` fits in float32 (the model computes in it)."""
    if abs(float(value)) > FLOAT32_MAX:
        raise DataError(f"{where}: {value!r} is out of float32 range (|x| <= {FLOAT32_MAX:.3g}): "
                        "rescale the column or fix the value")
