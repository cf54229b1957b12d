"""Tables on disk read with Apache Arrow in record batches: CSV or Parquet, a file, folder or glob.

`TableReader.batches()` yields each record batch as numpy columns (one `(rows, 1)` array per
feature: float32 with NaN for blanks, or strings with `""` for blanks), the raw target and each
row's global index (rows counted over the files in sorted order). Every cell is checked as it
streams; a bad one is named by file, line (CSV) or row (Parquet) and column in one line. Memory is
one record batch, whatever the size of the files.
"""

from __future__ import annotations

import csv
import glob
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import DataError, first_line
from zoo.data.csv_data import MISSING, is_float, is_number
from zoo.data.features import NUMERIC

CSV, PARQUET = "csv", "parquet"
PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", *PARQUET_SUFFIXES)
NULLS = sorted({v for m in MISSING for v in (m, m.upper(), m.title())})
BLOCK_BYTES = 4 << 20  # Arrow's CSV block: rows per record batch = block / row width
PARQUET_BATCH = 65536


def resolve_files(path: str, what: str = "dataset.path", suffixes: tuple[str, ...] = TABLE_SUFFIXES,
                  kind: str = "CSV or Parquet") -> list[Path]:
    """The data files of `path`: the file, the files with `suffixes` in a folder (any depth), or a
    glob's matches."""
    expanded = os.path.expanduser(str(path))
    if any(ch in expanded for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(expanded, recursive=True) if Path(f).is_file())
        if not files:
            raise DataError(f"no files match {path} (working directory {os.getcwd()}): check {what}")
        return files
    root = Path(expanded)
    if root.is_file():
        return [root]
    if root.is_dir():
        files = sorted(f for f in root.rglob("*") if f.is_file() and f.suffix.lower() in suffixes
                       and not f.name.startswith("."))
        if not files:
            raise DataError(f"folder {root} holds no {kind} files ({', '.join(suffixes)}): check {what}")
        return files
    kind = "Parquet" if root.suffix.lower() in PARQUET_SUFFIXES else kind.split(" or ")[0]
    raise DataError(f"{kind} file {path} not found (working directory {os.getcwd()}): check {what}")


def file_format(files: list[Path], given: str = "auto") -> str:
    """csv or parquet: `given`, else from the files' suffixes (all alike)."""
    if given not in ("auto", CSV, PARQUET):
        raise DataError(f"dataset.format={given!r} is not one of auto, csv, parquet")
    if given != "auto":
        return given
    kinds = {PARQUET if f.suffix.lower() in PARQUET_SUFFIXES else CSV for f in files}
    if len(kinds) > 1:
        raise DataError(f"{files[0].parent} mixes CSV and Parquet files: point dataset.path at one kind "
                        "(a glob such as data/*.parquet) or set dataset.format")
    return kinds.pop()


@dataclass
class Batch:
    """One record batch: global row indices, feature columns by input name, the raw target."""

    rows: np.ndarray
    columns: dict[str, np.ndarray]
    target: np.ndarray
    file: int = 0  # index of its file among the reader's files

    def take(self, keep: np.ndarray) -> Batch:
        """The rows at positions `keep`."""
        return Batch(self.rows[keep], {k: v[keep] for k, v in self.columns.items()}, self.target[keep],
                     self.file)


class TableReader:
    """Record batches of `files` with the columns of `plan` and the target, each cell checked.

    `target_type` is "float" (regression), "int" (class ids) or "string" (class names);
    `refuse_blanks` makes a blank feature cell an error (`dataset.missing=refuse`).
    """

    def __init__(self, files: list[Path], fmt: str, plan: list[dict[str, Any]], target: str,
                 target_type: str, separator: str = ",", refuse_blanks: bool = False,
                 header: list[str] | None = None):
        self.files, self.fmt, self.plan, self.target = files, fmt, plan, target
        self.target_type, self.separator, self.refuse = target_type, separator, refuse_blanks
        self.header = header
        self.block_bytes = BLOCK_BYTES
        self.file_rows: list[int] | None = None  # rows of each file, after one whole pass

    def batches(self, first_row: int = 0, share: Any = None,
                select: Callable[[np.ndarray], np.ndarray] | None = None) -> Iterator[Batch]:
        """Every record batch of every file in order; row indices start at `first_row`.

        `select(row indices) -> positions to keep`: only those rows are converted (a split's rows;
        the statistics pass has already checked every cell, so the row an error names counts the
        kept rows only), and batches left empty are not yielded.

        `share` (a `zoo.data.shares.Share`): only the batches it owns (batch k of all files in
        order goes to worker k mod N) are converted and checked; row indices stay global, so
        the per-row split rule gives every row the same split whatever the share. With at least
        as many files as workers, whole files are shared instead (file j to worker j mod N), and
        after one whole pass (`file_rows` known) another worker's files are not even opened.
        """
        offset, k, counted = first_row, 0, []
        whole_files = share is not None and len(self.files) >= share.count and self.file_rows is not None
        for j, file in enumerate(self.files):
            if whole_files and not share.owns(k, j, len(self.files)):
                offset += self.file_rows[j]  # another worker's file: not opened
                continue
            in_file = 0
            for batch, start in self._file_batches(file):
                n = batch.num_rows
                if share is None or share.owns(k, j, len(self.files)):
                    rows = np.arange(offset, offset + n, dtype=np.int64)
                    keep = None if select is None else select(rows)
                    if keep is None or len(keep):
                        if keep is not None and len(keep) < n:
                            batch, rows = batch.take(keep), rows[keep]
                        converted = self._convert(batch, file, start, rows)
                        converted.file = j
                        yield converted
                offset, k, in_file = offset + n, k + 1, in_file + n
            counted.append(in_file)
        if share is None and len(counted) == len(self.files):
            self.file_rows = counted  # a whole pass: where each file's rows start, for the shares

    def piece_batches(self, piece: Any) -> Iterator[Batch]:
        """The record batches of one `zoo.data.table_pieces.Piece` (counted: its `first_row` and
        `file_row` set), every cell checked; a CSV piece whose rows are not the lines counted
        (a quoted cell with a line break) is an error."""
        file = self.files[piece.file]
        read = 0
        for batch, start in self._file_batches(file, piece):
            first = piece.first_row + start
            converted = self._convert(batch, file, piece.file_row + start,
                                      np.arange(first, first + batch.num_rows, dtype=np.int64))
            converted.file = piece.file
            read += batch.num_rows
            yield converted
        if piece.rows >= 0 and read != piece.rows:
            raise DataError(f"{file} bytes {piece.start:,}-{piece.stop:,} hold {read:,} rows but "
                            f"{piece.rows:,} lines: a quoted cell with a line break cannot be split "
                            "between workers; give several files (at least one per dataset.shares) "
                            "or remove the line breaks")

    def _file_batches(self, file: Path, piece: Any = None) -> Iterator[tuple[Any, int]]:
        """(Arrow record batch, index of its first row in the file or piece) of one file, or of
        the part of it `piece` names."""
        import pyarrow as pa

        start = 0
        try:
            for batch in (self._csv(file, piece) if self.fmt == CSV else self._parquet(file, piece)):
                yield batch, start
                start += batch.num_rows
        except pa.ArrowInvalid as error:
            raise self._arrow_error(file, error) from None

    def _columns(self) -> list[str]:
        return [f["column"] for f in self.plan] + [self.target]

    def _csv(self, file: Path, piece: Any = None) -> Iterator[Any]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        types = {f["column"]: pa.float64() if f["kind"] == NUMERIC else pa.string() for f in self.plan}
        types[self.target] = {"float": pa.float64(), "int": pa.int64()}.get(self.target_type, pa.string())
        source, options = file, pacsv.ReadOptions(block_size=self.block_bytes)
        if piece is not None:  # a byte range of data lines: opened at its offset, header given
            if piece.stop <= piece.start:
                return
            source = pa.OSFile(str(file)).get_stream(piece.start, piece.stop - piece.start)
            options = pacsv.ReadOptions(block_size=self.block_bytes, column_names=self._csv_header(file))
        reader = pacsv.open_csv(
            source, read_options=options,
            parse_options=pacsv.ParseOptions(delimiter=self.separator),
            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=self._columns(),
                                                 null_values=NULLS, strings_can_be_null=True,
                                                 quoted_strings_can_be_null=True))
        names = reader.schema.names
        if self.header is not None and sorted(names) != sorted(self._columns()):
            missing = [c for c in self._columns() if c not in names]
            raise DataError(f"{file} has no column {missing[0]!r}, which {self.files[0]} has: give "
                            "every file the same header")
        yield from reader

    def _parquet(self, file: Path, piece: Any = None) -> Iterator[Any]:
        import pyarrow.parquet as pq

        handle = pq.ParquetFile(file)
        names = handle.schema_arrow.names
        missing = [c for c in self._columns() if c not in names]
        if missing:
            raise DataError(f"column {missing[0]!r} not found in {file} (columns: {', '.join(names)}): "
                            "give every file the same columns")
        if piece is None:
            yield from handle.iter_batches(batch_size=PARQUET_BATCH, columns=self._columns())
            return
        first = 0  # rows piece.start..piece.stop: only the row groups they touch are read
        for group in range(handle.num_row_groups):
            rows = handle.metadata.row_group(group).num_rows
            begin, end = max(piece.start, first), min(piece.stop, first + rows)
            if begin < end:
                at = first
                for batch in handle.iter_batches(batch_size=PARQUET_BATCH, row_groups=[group],
                                                 columns=self._columns()):
                    lo, hi = max(begin - at, 0), min(end - at, batch.num_rows)
                    if lo < hi:
                        yield batch.slice(lo, hi - lo)
                    at += batch.num_rows
            first += rows

    # --- conversion and checks ------------------------------------------------------------

    def _convert(self, batch: Any, file: Path, start: int, rows: np.ndarray) -> Batch:
        columns = {}
        for f in self.plan:
            array = batch.column(f["column"])
            if f["kind"] == NUMERIC:
                columns[f["name"]] = self._numbers(array, f["column"], file, start)
            else:
                columns[f["name"]] = strings(array).reshape(-1, 1)
            if self.refuse and array.null_count:
                self._fail(file, f["column"], start, int(np.flatnonzero(null_mask(array))[0]),
                           lambda v: v.lower() in MISSING,
                           "missing value in column {column!r} at {at} of {file} ({value!r}, "
                           "dataset.missing=refuse): fill it in, delete the row, or set "
                           "dataset.missing=impute")
        target = self._target(batch.column(self.target), file, start)
        return Batch(rows, columns, target)

    def _numbers(self, array: Any, column: str, file: Path, start: int) -> np.ndarray:
        values = array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        bad = np.isinf(values)
        if bad.any():
            self._fail(file, column, start, int(np.flatnonzero(bad)[0]),
                       lambda v: is_float(v) and not is_number(v) and v.lower() not in MISSING,
                       "is not a finite number: fix it, or blank the cell to have it imputed")
        single = values.astype(np.float32)
        overflow = np.isinf(single)
        if overflow.any():
            self._fail(file, column, start, int(np.flatnonzero(overflow)[0]),
                       lambda v: is_number(v) and not np.isfinite(np.float32(float(v))),
                       "does not fit float32: rescale the column")
        return single.reshape(-1, 1)

    def _target(self, array: Any, file: Path, start: int) -> np.ndarray:
        if array.null_count:
            self._fail(file, self.target, start, int(np.flatnonzero(null_mask(array))[0]),
                       lambda v: v.lower() in MISSING,
                       f"has no value in the target column {self.target!r}: fill it in or delete the row")
        if self.target_type == "string":
            return strings(array)
        values = array.to_numpy(zero_copy_only=False)
        if self.target_type == "float":
            values = values.astype(np.float64, copy=False)
            if not np.isfinite(values).all():
                self._fail(file, self.target, start, int(np.flatnonzero(~np.isfinite(values))[0]),
                           lambda v: is_float(v) and not is_number(v),
                           "is not a finite number, so it cannot be a regression target: fix the value")
        return values

    def _fail(self, file: Path, column: str, start: int, index: int, bad: Callable[[str], bool],
              problem: str) -> None:
        """Raise a DataError naming the first cell of `column` that is `bad` (its CSV line; for
        Parquet its row); `problem` is the rest of the message, or a template of the whole."""
        where = locate(file, column, self.separator, bad) if self.fmt == CSV else None
        at, value = (f"row {start + index + 1}", None) if where is None else (f"line {where[0]}", where[1])
        if "{at}" not in problem:
            problem = "column {column!r} of {file}, {at} ({value!r}) " + problem
        raise DataError(problem.format(column=column, file=file, at=at, value=value))

    def _arrow_error(self, file: Path, error: Exception) -> DataError:
        """A DataError for Arrow's conversion errors: the first cell of the column that is no number."""
        message = str(error)
        found = re.search(r"column #(\d+)", message)
        if self.fmt == CSV and found:
            names = self._csv_header(file)
            index = int(found.group(1))
            column = names[index] if index < len(names) else None
            if column is not None:
                where = locate(file, column, self.separator,
                               lambda v: v.lower() not in MISSING and not is_float(v))
                if where:
                    line, value = where
                    role = "target" if column == self.target else "feature"
                    fix = ("fix the value (or set dataset.task=classification)" if role == "target" else
                           f"fix the value, or declare it dataset.categorical=[{column}] or leave it out "
                           f"with dataset.ignore=[{column}]")
                    return DataError(f"{role} column {column!r} of {file} is not numeric (line {line}: "
                                     f"{value!r}), though the first rows were: {fix}")
        return DataError(f"cannot read {file} ({first_line(error)}): check it is a {self.fmt.upper()} "
                         "file with the same columns as the others, or set dataset.separator")

    def _csv_header(self, file: Path) -> list[str]:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            return [c.strip() for c in next(csv.reader(handle, delimiter=self.separator), [])]


def strings(array: Any) -> np.ndarray:
    """A string numpy array of an Arrow column, `""` for blanks (numbers become their text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = pc.cast(array, pa.string())
    # through a dictionary: one Python string per distinct value, not per cell (3x faster to make,
    # and counting them reuses each string's cached hash)
    encoded = pc.dictionary_encode(pc.utf8_trim_whitespace(pc.fill_null(array, "")))
    values = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    return values[encoded.indices.to_numpy(zero_copy_only=False)]


def null_mask(array: Any) -> np.ndarray:
    return array.is_null().to_numpy(zero_copy_only=False)


def locate(file: Path, column: str, separator: str, bad: Callable[[str], bool]
           ) -> tuple[int, str] | None:
    """(line, cell) of the first cell of `column` in CSV `file` for which `bad` holds, read row by
    row (only when an error is being reported)."""
    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=separator)
        header = [c.strip() for c in next(reader, [])]
        if column not in header:
            return None
        index = header.index(column)
        for row in reader:
            if index < len(row) and any(c.strip() for c in row):
                cell = row[index].strip()
                if bad(cell):
                    return reader.line_num, cell
    return None
