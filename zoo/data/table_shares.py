"""A streamed table read as `dataset.shares` data shares, each worker only its own.

The files are cut into S shares (`zoo.data.table_pieces`); worker w of N reads the shares it owns
(`zoo.data.shares.owned`) and nothing else. Two exchanges between the workers (the strategy's
collectives, through `Share.gather`; none in a single process):
1. the row counts of each worker's pieces, so every row gets its global index (and its split);
2. each share's partial statistics (counts, sums of squares, category counts, labels), merged in
   share order, so every worker's preprocessing layers hold the same values as one process told
   the same S would compute.

The training split holds the first M rows of each owned share (M: the smallest share's training
rows), interleaved row by row (share a's row 0, share b's row 0, ...). The trainer groups them
back (`zoo.data.pipeline.train_stream(groups=...)`): step i's global batch is the shares' i-th
local batches side by side, whatever the number of processes. Validation and test hold each
owned share's rows whole.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.core.errors import DataError
from zoo.core.lazy import import_tensorflow
from zoo.core.specs import CLASSIFICATION, REGRESSION
from zoo.data.base import DatasetInfo, RawSplits
from zoo.data.rowsplit import NAMES, TEST, TRAIN, VALIDATION
from zoo.data.shares import Share, gather_all, owned
from zoo.data.stats import TableStats
from zoo.data.table_files import CSV, TableReader
from zoo.data.table_pieces import Piece, count_lines, cut

log = logging.getLogger("zoo.data")


def shares_of(cfg: Any, share: Share) -> int:
    """The number of data shares: `dataset.shares`, else the number of workers."""
    shares = getattr(cfg, "shares", None) or share.count
    if shares < 1 or shares % share.count:
        raise DataError(f"dataset.shares={shares} is not a multiple of the {share.count} workers: set it "
                        f"to {share.count} (or a multiple), or leave it unset")
    return int(shares)


@dataclass
class Layout:
    """Each share's pieces (and those of separate test files), this worker's shares."""

    shares: int
    pieces: list[list[Piece]]
    test_pieces: list[list[Piece]] | None
    mine: list[int]


def lay_out(reader: TableReader, test_reader: TableReader | None, shares: int, share: Share) -> Layout:
    """Cut the files into `shares` shares and give every piece its first global row: this worker
    counts its own pieces' rows, the workers exchange the counts."""
    layout = Layout(shares, cut(reader.files, reader.fmt, shares, parquet_rows(reader)),
                    cut(test_reader.files, test_reader.fmt, shares, parquet_rows(test_reader))
                    if test_reader is not None else None, owned(share, shares))
    try:
        mine = {str(s): [piece_rows(reader, p) for p in layout.pieces[s]] for s in layout.mine}
    except OSError as error:  # the other workers wait in the exchange: tell them, then fail
        mine = {"error": f"cannot read {error.filename}: {error.strerror}"}
    counts: dict[int, list[int]] = {}
    for part in gather_all(share, mine):
        if "error" in part:
            raise DataError(part["error"])
        counts.update({int(s): rows for s, rows in part.items()})
    ordered = []
    for s, pieces in enumerate(layout.pieces):
        for piece, rows in zip(pieces, counts[s], strict=True):
            piece.rows = rows
            ordered.append(piece)
    total, file_rows = 0, {}
    for piece in sorted(ordered, key=lambda p: (p.file, p.start)):
        piece.first_row, piece.file_row = total, file_rows.get(piece.file, 0)
        total += piece.rows
        file_rows[piece.file] = piece.file_row + piece.rows
    return layout


def parquet_rows(reader: TableReader) -> list[int] | None:
    if reader.fmt == CSV:
        return None
    import pyarrow.parquet as pq

    return [pq.ParquetFile(f).metadata.num_rows for f in reader.files]


def piece_rows(reader: TableReader, piece: Piece) -> int:
    if reader.fmt == CSV:
        return count_lines(reader.files[piece.file], piece.start, piece.stop)
    return piece.stop - piece.start


def scan_shares(reader: TableReader, test_reader: TableReader | None, layout: Layout, rule: Any,
                plan: list[dict[str, Any]], task: str, cfg: Any, share: Share) -> Any:
    """The `Summary` of all shares: this worker scans its own, the workers exchange the partial
    results, and every worker merges them in share order."""
    from zoo.data.table_stream import Summary

    try:
        parts = {str(s): scan_share(reader, test_reader, layout, s, rule, plan, task, cfg)
                 for s in layout.mine}
    except DataError as error:  # the other workers wait in the exchange: tell them, then fail
        parts = {"error": str(error)}
    gathered = gather_all(share, parts)
    errors = [part["error"] for part in gathered if "error" in part]
    if errors:
        raise DataError(errors[0])
    states = {int(s): state for part in gathered for s, state in part.items()}
    summary = Summary(TableStats(plan, int(getattr(cfg, "max_categories", 100)), where=str(cfg.path)))
    summary.share_train = []
    summary.share_counts = []
    for s in range(layout.shares):
        state = states[s]
        summary.stats.merge_state(state["stats"])
        for i, name in enumerate(NAMES):
            summary.counts[name] += state["counts"][i]
        summary.rows += state["rows"]
        summary.labels.update(state["labels"])
        summary.test_labels.update(state["test_labels"])
        summary.share_train.append(state["counts"][TRAIN])
        summary.share_counts.append(state["counts"])
    summary.stats_rows = {s: states[s]["stats_rows"] for s in layout.mine}
    if summary.counts["train"] == 0:
        raise DataError(f"{cfg.path} leaves no training rows after the split: add rows or lower "
                        "dataset.test_fraction / dataset.val_fraction")
    return summary


def scan_share(reader: TableReader, test_reader: TableReader | None, layout: Layout, s: int, rule: Any,
               plan: list[dict[str, Any]], task: str, cfg: Any) -> dict[str, Any]:
    """One share's partial results as JSON-able values: split counts, statistics, labels."""
    from zoo.data.table_stream import collect

    stats = TableStats(plan, int(getattr(cfg, "max_categories", 100)), where=str(cfg.path))
    stats_rows = getattr(cfg, "stats_rows", None)
    cap = math.ceil(int(stats_rows) / layout.shares) if stats_rows is not None else None
    counts, rows, in_stats, labels, test_labels = [0, 0, 0], 0, 0, set(), set()
    for piece in layout.pieces[s]:
        for batch in reader.piece_batches(piece):
            codes = rule.codes(batch.rows, 0)
            rows += len(codes)
            for i in range(len(NAMES)):
                counts[i] += int((codes == i).sum())
            train = np.flatnonzero(codes == TRAIN)
            if cap is not None:
                train = train[:max(0, cap - in_stats)]
            in_stats += len(train)
            if len(train):
                stats.add({k: v[train] for k, v in batch.columns.items()},
                          batch.target[train] if task == REGRESSION else None)
            if task == CLASSIFICATION:
                collect(labels, batch.target)
    if test_reader is not None:
        for piece in layout.test_pieces[s]:
            for batch in test_reader.piece_batches(piece):
                counts[TEST] += len(batch.rows)
                if task == CLASSIFICATION:
                    collect(test_labels, batch.target)
    return {"counts": counts, "rows": rows, "stats": stats.state(), "stats_rows": in_stats,
            "labels": sorted(labels), "test_labels": sorted(test_labels)}


def share_splits(reader: TableReader, test_reader: TableReader | None, layout: Layout, rule: Any,
                 plan: list[dict[str, Any]], task: str, names: list[str] | None, summary: Any,
                 info: DatasetInfo, share: Share) -> RawSplits:
    """This worker's splits: the training rows of its shares interleaved (M of each), validation
    and test rows of its shares whole; with the merged statistics."""
    from zoo.data.table_stream import batch_signature, labeller, stats_digest

    tf = import_tensorflow()
    labels = labeller(task, names)
    signature = batch_signature(plan, task)

    def share_dataset(s: int, code: int) -> Any:
        def batches():
            if code == TEST and test_reader is not None:
                for piece in layout.test_pieces[s]:
                    for batch in test_reader.piece_batches(piece):
                        yield batch.columns, labels(batch.target)
                return
            for piece in layout.pieces[s]:
                for batch in reader.piece_batches(piece):
                    keep = np.flatnonzero(rule.codes(batch.rows, 0) == code)
                    if len(keep):
                        yield {k: v[keep] for k, v in batch.columns.items()}, labels(batch.target[keep])

        return tf.data.Dataset.from_generator(batches, output_signature=signature)

    mine, smallest = layout.mine, min(summary.share_train)
    train = [share_dataset(s, TRAIN).unbatch().take(smallest) for s in mine]
    rows = {"train": train[0] if len(train) == 1 else
            tf.data.Dataset.choose_from_datasets(train, tf.data.Dataset.range(len(train)).repeat(smallest))}
    counts = {"train": smallest * len(mine)}
    batches = {"train": rows["train"].batch(4096)}
    for code, name in ((VALIDATION, "validation"), (TEST, "test")):
        parts = [share_dataset(s, code) for s in mine]
        batches[name] = parts[0]
        for part in parts[1:]:
            batches[name] = batches[name].concatenate(part)
        counts[name] = sum(summary.share_counts[s][code] for s in mine)
        rows[name] = batches[name].unbatch()
    for name in NAMES:
        rows[name] = rows[name].apply(tf.data.experimental.assert_cardinality(counts[name]))
    stats = {"features": summary.stats.result()}
    if task == REGRESSION:
        stats["target"] = summary.stats.target_result()
    note_shares(info, summary, share, layout, reader, stats_digest(stats))
    return RawSplits(rows["train"], rows["validation"], rows["test"], info, stats=stats, batches=batches)


def note_shares(info: DatasetInfo, summary: Any, share: Share, layout: Layout, reader: TableReader,
                digest: str) -> None:
    """What this worker holds, into `info` and the log."""
    per = layout.shares // share.count
    unit = ("files" if len(reader.files) >= layout.shares else
            "byte ranges of each file" if reader.fmt == CSV else "row ranges of each file")
    info.shares = layout.shares
    info.share_train_rows = list(summary.share_train)

    def by_worker(rows: list[int]) -> list[int]:  # worker w holds shares w*per .. (w+1)*per - 1
        return [sum(rows[w * per:(w + 1) * per]) for w in range(share.count)]

    info.worker_train_rows = by_worker(summary.share_train)
    info.worker_validation_rows = by_worker([counts[VALIDATION] for counts in summary.share_counts])
    info.worker_share = unit
    read = sum(p.rows for s in layout.mine for p in layout.pieces[s])
    smallest = min(summary.share_train)
    log.info("worker %d of %d holds data share(s) %s of %d (%s): reads %s of the %s rows, %s "
             "training rows of them for statistics; %s training rows of each share an epoch (the "
             "smallest share's; the shares: %s)", share.index, share.count, layout.mine,
             layout.shares, unit, f"{read:,}", f"{summary.rows:,}",
             f"{sum(summary.stats_rows.values()):,}", f"{smallest:,}", summary.share_train)
    log.info("worker %d preprocessing statistics sha256 %s (combined from all %d shares' partial "
             "statistics)", share.index, digest, layout.shares)
    if max(summary.share_train) > 1.1 * smallest:
        log.warning("the data shares are uneven (%s training rows): each takes the smallest's %s rows "
                    "an epoch, so up to %s rows of the larger ones are never trained on; give files "
                    "of about equal size, a multiple of %d of them, or one file", summary.share_train,
                    f"{smallest:,}", f"{max(summary.share_train) - smallest:,}", layout.shares)
