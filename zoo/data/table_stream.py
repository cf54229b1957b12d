"""Large tables, streamed: CSV or Parquet files read in Arrow record batches into tf.data.

One pass over the files (`scan`) checks every cell, counts each split's rows (the seeded per-row
rule of `zoo.data.rowsplit`), collects the classes and computes the preprocessing statistics of the
training rows (`zoo.data.stats`, or of the first `dataset.stats_rows` of them). The splits are then
tf.data datasets that read the files again batch by batch when iterated: memory is bounded by a
record batch, not by the rows. Column kinds and the task come from the first `dataset.sample_rows`
rows, read as text exactly as the in-memory CSV path reads a whole file, so both paths describe
the same file alike and, with the same split rule and statistics, train the same model.
With several data shares (several workers, or `dataset.shares`), `zoo.data.table_shares` reads
each worker's own shares instead.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import DataError
from zoo.core.lazy import import_tensorflow
from zoo.core.specs import CLASSIFICATION, REGRESSION
from zoo.data import csv_data
from zoo.data.base import DatasetInfo, RawSplits
from zoo.data.rowsplit import NAMES, TEST, TRAIN, VALIDATION, split_of
from zoo.data.shares import WHOLE, Share, current_share, owner, unit
from zoo.data.splits import check_fraction, check_int_labels, require_classes
from zoo.data.stats import TableStats
from zoo.data.table_files import CSV, TableReader, file_format, resolve_files

log = logging.getLogger("zoo.data")
MAX_CLASS_NAMES = 10000


def load(cfg: Any, seed: int) -> RawSplits:
    """Seeded train/validation/test splits of the table files at `cfg.path`, streamed."""
    files = resolve_files(cfg.path)
    fmt = file_format(files, getattr(cfg, "format", "auto"))
    separator, sample = sample_table(files[0], fmt, cfg)
    ignore = list(getattr(cfg, "ignore", None) or [])
    features = csv_data.feature_columns(sample, cfg.target, getattr(cfg, "features", None), ignore)
    target = csv_data.target_column(sample, cfg.target)
    task = csv_data.infer_task(target, getattr(cfg, "task", "auto"), sample, cfg.target,
                               int(getattr(cfg, "max_classes", csv_data.MAX_AUTO_CLASSES)))
    from zoo.data.columns import plan_columns

    plan = plan_columns(sample, features, cfg)
    target_type = ("float" if task == REGRESSION else
                   "int" if all(csv_data.is_integer(v) for v in target) else "string")
    refuse = getattr(cfg, "missing", "impute") == "refuse"
    reader = TableReader(files, fmt, plan, cfg.target, target_type, separator, refuse, sample.header)
    reader.block_bytes = int(getattr(cfg, "block_bytes", reader.block_bytes))
    share = current_share()
    if share.count > 1 and getattr(cfg, "limit", None) is not None:
        raise DataError(f"dataset.limit={cfg.limit} cannot be combined with {share.count} workers each "
                        "reading its share of a streamed table: drop dataset.limit or use one worker")
    test_reader = None
    if getattr(cfg, "test_path", None):
        test_files = resolve_files(cfg.test_path, "dataset.test_path")
        test_reader = TableReader(test_files, file_format(test_files, getattr(cfg, "format", "auto")),
                                  plan, cfg.target, target_type, separator, refuse, sample.header)
    rule = SplitRule.of(cfg, seed, separate_test=test_reader is not None)
    from zoo.data import table_shares

    shares = table_shares.shares_of(cfg, share)
    if shares > 1:
        if getattr(cfg, "limit", None) is not None:
            raise DataError(f"dataset.limit={cfg.limit} cannot be combined with dataset.shares={shares}: "
                            "drop one of them")
        layout = table_shares.lay_out(reader, test_reader, shares, share)
        summary = table_shares.scan_shares(reader, test_reader, layout, rule, plan, task, cfg, share)
    else:
        summary = scan(reader, test_reader, rule, plan, task, cfg, share.count)
    names = summary.class_names(cfg, target_type) if task == CLASSIFICATION else None
    info = DatasetInfo(
        name=getattr(cfg, "name", "") or (files[0].stem if len(files) == 1 else files[0].parent.name),
        task=task, modality="tabular", input_shape=(len(features),),
        num_classes=len(names) if names else None, class_names=names, feature_names=features,
        features=plan, num_examples=dict(summary.counts),
        extra={"path": str(cfg.path), "target": cfg.target, "files": len(files), "format": fmt,
               "streamed": True})
    if shares > 1:
        log.info("%s: %d %s file(s) in %d data shares, %s rows; split by the seeded per-row rule: %s",
                 cfg.path, len(files), fmt, shares, f"{summary.rows:,}", summary.counts)
        return table_shares.share_splits(reader, test_reader, layout, rule, plan, task, names, summary,
                                         info, share)
    note_share(info, summary, share, len(files))
    log.info("%s: %d %s file(s), %s rows streamed in record batches; split by the seeded per-row rule: %s",
             cfg.path, len(files), fmt, f"{summary.rows:,}", summary.counts)
    return streamed_splits(reader, test_reader, rule, plan, task, names, summary, info, share)


def streamed_splits(reader: Any, test_reader: Any, rule: SplitRule, plan: list[dict[str, Any]], task: str,
                    names: list[str] | None, summary: Summary, info: DatasetInfo, share: Share) -> RawSplits:
    """The splits read from `reader`'s files when iterated (the training split: this worker's
    record batches only)."""
    sources = {name: split_source(reader, test_reader, rule, i, task, names, share if i == TRAIN else None,
                                  summary.held.source(i) if summary.held and i != TRAIN else None)
               for i, name in enumerate(NAMES)}
    signature = batch_signature(plan, task)
    batches = {name: from_source(source, signature) for name, source in sources.items()}
    return raw_splits(batches, summary, info, task, share, sources)


def note_share(info: DatasetInfo, summary: Summary, share: Share, files: int) -> None:
    """Under several workers: each worker's training rows into `info`, and the log line."""
    if share.count > 1:
        info.worker_train_rows = list(summary.share_train)
        info.worker_share = unit(share.count, files)
        log.info("worker %d of %d reads %s with index mod %d == %d: %s of the %s training "
                 "rows (the shares: %s); statistics from all training rows, the same on every worker",
                 share.index, share.count, unit(share.count, files), share.count, share.index,
                 f"{summary.share_train[share.index]:,}", f"{summary.counts['train']:,}",
                 summary.share_train)
        smallest, largest = min(summary.share_train), max(summary.share_train)
        if largest > 1.1 * smallest:
            log.warning("the workers' shares are uneven (%s training rows): every worker takes the steps "
                        "of the smallest, so up to %s rows of the larger shares sit out each epoch; give "
                        "files of about equal size, a multiple of %d of them, or one file",
                        summary.share_train, f"{largest - smallest:,}", share.count)


def raw_splits(batches: dict[str, Any], summary: Summary, info: DatasetInfo, task: str,
               share: Share = WHOLE, sources: dict[str, Any] | None = None) -> RawSplits:
    """The splits' rows (and their batches, which the preprocessor maps as they come) with the
    training statistics. Under a share of several workers the training split holds this
    worker's rows only."""
    stats = {"features": summary.stats.result()}
    if task == REGRESSION:
        stats["target"] = summary.stats.target_result()
    counts = dict(summary.counts)
    if share.count > 1:
        counts["train"] = summary.share_train[share.index]
        log.info("worker %d preprocessing statistics sha256 %s", share.index, stats_digest(stats))
    rows = {name: unbatched(batches[name], counts[name]) for name in NAMES}
    return RawSplits(rows["train"], rows["validation"], rows["test"], info, stats=stats, batches=batches,
                     sources=sources)


def stats_digest(stats: dict[str, Any]) -> str:
    """A short SHA-256 of the statistics, so the workers' logs show they hold the same values."""
    import hashlib
    import json

    text = json.dumps(stats, sort_keys=True, default=lambda o: np.asarray(o).tolist())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sample_table(file: Path, fmt: str, cfg: Any) -> tuple[str, csv_data.Table]:
    """The separator and the first `dataset.sample_rows` rows as text (kinds and task are inferred
    from them; the stream checks the rest)."""
    rows = int(getattr(cfg, "sample_rows", 10000))
    if fmt == CSV:
        with file.open("rb") as handle:
            head = handle.read(1 << 16).decode("utf-8-sig", errors="replace")
        separator = csv_data.pick_separator(head, getattr(cfg, "separator", None))
        with file.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
            reader = csv.reader(handle, delimiter=separator)
            lines, cells = [], []
            for row in reader:
                if any(c.strip() for c in row):
                    cells.append(row)
                    lines.append(reader.line_num)
                if len(cells) > rows:
                    break
        return separator, table_of(file, cells, lines)
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(file)
    batch = next(handle.iter_batches(batch_size=rows), None)
    header = handle.schema_arrow.names
    if batch is None:
        raise DataError(f"Parquet file {file} has no rows: add one row per example")
    columns = [column_text(batch.column(name)) for name in header]
    cells = [list(row) for row in zip(*columns, strict=True)]
    return ",", table_of(file, [header, *cells], list(range(1, len(cells) + 2)))


def column_text(array: Any) -> list[str]:
    """A Parquet column as the text a CSV would hold (`""` for nulls, integers without `.0`)."""
    return ["" if v is None else str(v) for v in array.to_pylist()]


def table_of(file: Path, cells: list[list[str]], lines: list[int]) -> csv_data.Table:
    if not cells:
        raise DataError(f"{file} is empty: it needs a header row of column names and one row per example")
    header = csv_data.check_header([c.strip() for c in cells[0]], file)
    if len(cells) < 2:
        raise DataError(f"{file} has a header but no data rows: add one row per example")
    for row, line in zip(cells[1:], lines[1:], strict=True):
        if len(row) != len(header):
            raise DataError(f"line {line} of {file} has {len(row)} fields but the header has {len(header)}: "
                            "fix the row or give dataset.separator")
    return csv_data.Table(file, header, cells[1:], lines[1:])


@dataclass
class SplitRule:
    """The per-row split and the cap on training rows (`dataset.limit`)."""

    seed: int
    test_fraction: float
    val_fraction: float
    limit: int | None

    @classmethod
    def of(cls, cfg: Any, seed: int, separate_test: bool) -> SplitRule:
        test = 0.0 if separate_test else check_fraction("test_fraction", cfg.test_fraction)
        limit = getattr(cfg, "limit", None)
        if limit is not None and limit < 1:
            raise DataError(f"dataset.limit={limit} must be a positive number of training examples")
        return cls(seed, test, check_fraction("val_fraction", cfg.val_fraction), limit)

    def codes(self, rows: np.ndarray, train_before: int) -> np.ndarray:
        """The split of each row; training rows past `limit` (counting `train_before`) get -1."""
        codes = split_of(rows, self.seed, self.test_fraction, self.val_fraction)
        if self.limit is not None:
            train = np.flatnonzero(codes == TRAIN)
            codes[train[max(0, self.limit - train_before):]] = -1
        return codes


@dataclass
class Held:
    """The validation and test rows of the statistics pass, kept (converted, in order) while they
    fit `limit` bytes, so that validating and testing need not read and parse the files again."""

    limit: int
    batches: dict[int, list[Any]] = field(default_factory=lambda: {VALIDATION: [], TEST: []})
    nbytes: int = 0
    full: bool = False  # they did not fit: the splits are read from the files

    @classmethod
    def of(cls, cfg: Any) -> Held | None:
        """Up to a quarter of `dataset.cache_budget_mb`; None when `dataset.cache` asks for no
        memory cache (`off`, `disk`)."""
        mode = str(getattr(cfg, "cache", "auto")).strip().lower()
        if mode not in ("auto", "memory", "true"):
            return None
        return cls(int(float(getattr(cfg, "cache_budget_mb", 1024)) * 2**20 / 4))

    def add(self, code: int, batch: Any) -> None:
        if self.full or not len(batch.rows):
            return
        self.nbytes += batch.rows.nbytes + batch.target.nbytes + sum(v.nbytes for v in batch.columns.values())
        if self.nbytes > self.limit:
            self.full, self.batches = True, {VALIDATION: [], TEST: []}
            return
        self.batches[code].append(batch)

    def source(self, code: int) -> list[Any] | None:
        """The held batches of a split, or None when the split must be read from the files."""
        return None if self.full else self.batches[code]


@dataclass
class Summary:
    """What one pass over the files found: rows per split, training statistics, classes."""

    stats: TableStats
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(NAMES, 0))
    rows: int = 0
    labels: set = field(default_factory=set)
    test_labels: set = field(default_factory=set)
    share_train: list[int] = field(default_factory=list)  # training rows of each (worker's) share
    share_counts: list[list[int]] = field(default_factory=list)  # rows per split of each data share
    stats_rows: dict[int, int] = field(default_factory=dict)  # this worker's shares: rows in statistics
    held: Held | None = None  # validation and test rows kept from the pass (see `Held`)

    def class_names(self, cfg: Any, target_type: str) -> list[str]:
        where = f"column {cfg.target!r} of {cfg.path}"
        num_classes = getattr(cfg, "num_classes", None)
        if target_type == "int":
            count = check_int_labels(np.array(sorted(self.labels)), num_classes, where)
            names = [str(i) for i in range(count)]
            check_int_labels(np.array(sorted(self.test_labels), dtype=np.int64), count,
                             f"column {cfg.target!r} of {cfg.get('test_path') or cfg.path}",
                             fix="it is not among the training classes")
        else:
            names = sorted(self.labels)
            unknown = sorted(self.test_labels - self.labels)
            if unknown:
                raise DataError(f"class {unknown[0]!r} in column {cfg.target!r} of {cfg.test_path} is not "
                                f"among the training classes ({', '.join(names)}): fix the label or add "
                                "examples of it to training")
            if num_classes is not None and len(names) > num_classes:
                raise DataError(f"{where} has {len(names)} classes but dataset.num_classes={num_classes}: "
                                "raise dataset.num_classes or fix the labels")
        require_classes(len(names), where, "use a column with several classes")
        return names


def scan(reader: TableReader, test_reader: TableReader | None, rule: SplitRule,
         plan: list[dict[str, Any]], task: str, cfg: Any, workers: int = 1) -> Summary:
    """One pass over every file: cells checked, rows counted per split (and the training rows of
    each of `workers` shares of record batches), training statistics over the whole split."""
    max_categories = int(getattr(cfg, "max_categories", 100))
    stats_rows = getattr(cfg, "stats_rows", None)
    summary = Summary(TableStats(plan, max_categories, where=str(cfg.path)), held=Held.of(cfg))
    held = summary.held
    in_stats = 0
    summary.share_train = [0] * workers
    for k, batch in enumerate(reader.batches()):
        codes = rule.codes(batch.rows, summary.counts["train"])
        if held is not None and not held.full:  # past the budget: nothing more is copied
            held.add(VALIDATION, batch.take(np.flatnonzero(codes == VALIDATION)))
            if test_reader is None:
                held.add(TEST, batch.take(np.flatnonzero(codes == TEST)))
        summary.share_train[owner(workers, k, batch.file, len(reader.files))] += int((codes == TRAIN).sum())
        summary.rows += len(codes)
        for i, name in enumerate(NAMES):
            summary.counts[name] += int((codes == i).sum())
        train = np.flatnonzero(codes == TRAIN)
        if stats_rows is not None:
            train = train[:max(0, int(stats_rows) - in_stats)]
        in_stats += len(train)
        if len(train):
            summary.stats.add({k: v[train] for k, v in batch.columns.items()},
                              batch.target[train] if task == REGRESSION else None)
        if task == CLASSIFICATION:
            collect(summary.labels, batch.target)
    if test_reader is not None:
        for batch in test_reader.batches():
            summary.counts["test"] += len(batch.rows)
            if held is not None:
                held.add(TEST, batch)
            if task == CLASSIFICATION:
                collect(summary.test_labels, batch.target)
    if held is not None:
        log.info("validation and test rows %s from the statistics pass (%.0f MB; at most a quarter of "
                 "dataset.cache_budget_mb=%s)", "read again from the files each time" if held.full
                 else "kept in memory", held.nbytes / 2**20, getattr(cfg, "cache_budget_mb", 1024))
    if summary.counts["train"] == 0:
        raise DataError(f"{cfg.path} leaves no training rows after the split: add rows or lower "
                        "dataset.test_fraction / dataset.val_fraction")
    return summary


def collect(labels: set, values: np.ndarray) -> None:
    labels.update(np.unique(values).tolist())
    if len(labels) > MAX_CLASS_NAMES:
        raise DataError(f"the target has more than {MAX_CLASS_NAMES} distinct values: set "
                        "dataset.task=regression, or use another column as dataset.target")


def split_source(reader: TableReader, test_reader: TableReader | None, rule: SplitRule, code: int,
                 task: str, names: list[str] | None, share: Share | None = None,
                 held: list[Any] | None = None) -> Any:
    """A function returning a fresh iterator over the `(columns, labels)` record batches of one
    split, read from the files (or the batches `held` from the statistics pass); with `share`,
    only that worker's record batches."""
    labels = labeller(task, names)

    def batches():
        if held is not None:
            for batch in held:
                yield batch.columns, labels(batch.target)
            return
        if code == TEST and test_reader is not None:
            for batch in test_reader.batches():
                yield batch.columns, labels(batch.target)
            return
        counts = {"read": 0, "kept": 0, "train": 0}

        def select(rows: np.ndarray) -> np.ndarray:  # this split's rows of a record batch
            # dataset.limit (counting training rows before) is refused under several workers (load)
            codes = rule.codes(rows, counts["train"])
            keep = np.flatnonzero(codes == code)
            counts["train"] += int((codes == TRAIN).sum())
            counts["read"], counts["kept"] = counts["read"] + len(rows), counts["kept"] + len(keep)
            return keep

        for batch in reader.batches(share=share if share is not None and share.count > 1 else None,
                                    select=select):
            yield batch.columns, labels(batch.target)
        if share is not None and share.count > 1:
            log.info("worker %d of %d read %s rows, %s of them training rows", share.index, share.count,
                     f"{counts['read']:,}", f"{counts['kept']:,}")

    return batches


def from_source(source: Any, signature: Any) -> Any:
    """The record batches of `source` (a function returning an iterator) as a tf.data dataset."""
    return import_tensorflow().data.Dataset.from_generator(source, output_signature=signature)


def labeller(task: str, names: list[str] | None) -> Any:
    """`labels(raw target values) -> the label array` (float32 targets, int32 class ids)."""
    index = {n: i for i, n in enumerate(names or [])}
    int_ids = names is not None and names == [str(i) for i in range(len(names))]

    def labels(values: np.ndarray) -> np.ndarray:
        if task == REGRESSION:
            return values.astype(np.float32)
        if int_ids and values.dtype != object:
            return values.astype(np.int32)
        return np.array([index[v] for v in values.tolist()], dtype=np.int32)

    return labels


def batch_signature(plan: list[dict[str, Any]], task: str) -> Any:
    """The `(features, label)` spec of a batch of table rows."""
    tf = import_tensorflow()
    label_type = tf.int32 if task == CLASSIFICATION else tf.float32
    return ({f["name"]: tf.TensorSpec((None, 1), tf.float32 if f["dtype"] == "float32" else tf.string)
             for f in plan}, tf.TensorSpec((None,), label_type))


def unbatched(batches: Any, count: int) -> Any:
    """The rows of a dataset of batches, one by one, with their known count."""
    tf = import_tensorflow()
    return batches.unbatch().apply(tf.data.experimental.assert_cardinality(count))


def in_memory_extras(raw: RawSplits, arrays: dict[str, Any], chunk: int = 4096) -> RawSplits:
    """For a table read whole: its training statistics (the same `TableStats` the stream uses)
    and each split as a dataset of `chunk`-row batches, so both paths prepare data alike."""
    info = raw.info
    stats = TableStats(info.features)
    x, y = arrays["train"]
    stats.add(x, y if info.task == REGRESSION else None)
    raw.stats = {"features": stats.result()}
    if info.task == REGRESSION:
        raw.stats["target"] = stats.target_result()
    signature = batch_signature(info.features, info.task)

    def split_source(name: str) -> Any:
        columns, labels = arrays[name]

        def chunks():
            for start in range(0, len(labels), chunk):
                yield {k: v[start:start + chunk] for k, v in columns.items()}, labels[start:start + chunk]

        return chunks

    raw.sources = {name: split_source(name) for name in NAMES}
    raw.batches = {name: from_source(source, signature) for name, source in raw.sources.items()}
    return raw
