"""The pieces of table files that make each data share: whole files, or byte / row ranges.

With at least as many files as shares, share s holds the files j with `j % S == s`. Otherwise
every file is cut into S ranges and share s holds range s of each: for CSV, byte ranges of the
data lines whose ends are moved to the next line end (a reader of one range opens the file at its
offset and parses nothing before it); for Parquet, row ranges (only the row groups they touch are
read). The cut is a function of the files and S only, so any number of workers, and one process
told the same S, read the same pieces.

Global row indices (the split rule's input) need the rows before each piece: each worker counts
the rows of its own pieces (CSV: its non-empty lines, a byte scan with numpy, no parsing; Parquet:
the footer) and the counts are exchanged (`zoo.data.shares.gather_all`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK = 16 << 20  # bytes scanned at a time when counting lines


@dataclass
class Piece:
    """Part of file `file` (an index into the reader's files): bytes (CSV) or rows (Parquet)
    `start` to `stop`; `first_row` (global) and `file_row` (within its file) once counted."""

    file: int
    start: int
    stop: int
    rows: int = -1
    first_row: int = 0
    file_row: int = 0


def data_start(path: Path) -> int:
    """The byte offset just after a CSV file's header line."""
    with path.open("rb") as handle:
        header = handle.readline()
    return len(header)


def next_line_start(path: Path, offset: int, size: int) -> int:
    """The first line start at or after `offset` (`size` when there is none)."""
    if offset <= 0 or offset >= size:
        return min(max(offset, 0), size)
    with path.open("rb") as handle:
        handle.seek(offset - 1)
        while True:
            block = handle.read(1 << 16)
            if not block:
                return size
            found = block.find(b"\n")
            if found >= 0:
                return offset + found
            offset += len(block)


def cut(files: list[Path], fmt: str, shares: int, parquet_rows: list[int] | None = None
        ) -> list[list[Piece]]:
    """The pieces of each of `shares` shares, in file order within a share."""
    sizes = ([data_bounds(f) for f in files] if fmt == "csv"
             else [(0, n) for n in (parquet_rows or [])])
    if len(files) >= shares:
        return [[Piece(j, *sizes[j]) for j in range(s, len(files), shares)] for s in range(shares)]
    out: list[list[Piece]] = [[] for _ in range(shares)]
    for j, (begin, end) in enumerate(sizes):
        bounds = [begin + (end - begin) * s // shares for s in range(shares + 1)]
        if fmt == "csv":
            bounds = [begin] + [next_line_start(files[j], b, end) for b in bounds[1:-1]] + [end]
        for s in range(shares):
            out[s].append(Piece(j, bounds[s], bounds[s + 1]))
    return out


def data_bounds(path: Path) -> tuple[int, int]:
    return data_start(path), path.stat().st_size


def count_lines(path: Path, start: int, stop: int) -> int:
    """Non-empty lines (as Arrow's CSV reader counts rows) in bytes `start..stop` of `path`, which
    begin at a line start; a line of only `\\r` is empty too."""
    count, line_begin, previous_byte = 0, start, 10
    with path.open("rb") as handle:
        handle.seek(start)
        at = start
        while at < stop:
            block = np.frombuffer(handle.read(min(CHUNK, stop - at)), dtype=np.uint8)
            if not len(block):
                break
            ends = np.flatnonzero(block == 10) + at
            if len(ends):
                begins = np.concatenate(([line_begin], ends[:-1] + 1))
                lengths = ends - begins
                empty = lengths == 0
                short = np.flatnonzero(lengths == 1)
                if len(short):
                    firsts = begins[short] - at
                    inside = firsts >= 0
                    cr = np.zeros(len(short), dtype=bool)
                    cr[inside] = block[firsts[inside]] == 13
                    if not inside.all():  # a one-byte line that began in the previous block
                        cr[~inside] = previous_byte == 13
                    empty[short[cr]] = True
                count += int((~empty).sum())
                line_begin = int(ends[-1]) + 1
            previous_byte = int(block[-1])
            at += len(block)
    tail = stop - line_begin  # a last line without a line end
    if tail > 0 and not (tail == 1 and previous_byte == 13):
        count += 1
    return count
