"""TFRecord shards of `tf.train.Example` as a table: each scalar feature a column, one the target.

The feature spec comes from the first `dataset.sample_rows` records (float and int64 features are
numeric, bytes features categorical); the shards are then streamed like table files
(`zoo.data.table_stream`): one pass for the split counts, classes and preprocessing statistics,
then `tf.data` datasets that read the shards again, with the same seeded per-row split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import DataError
from zoo.core.lazy import import_tensorflow
from zoo.core.specs import CLASSIFICATION, REGRESSION
from zoo.data.base import DatasetInfo, RawSplits
from zoo.data.features import CATEGORICAL, NUMERIC, column, describe, input_name
from zoo.data.shares import current_share
from zoo.data.table_files import Batch, resolve_files
from zoo.data.table_stream import SplitRule, note_share, scan, streamed_splits

SUFFIXES = (".tfrecord", ".tfrecords", ".tfr")
BATCH = 4096
INT_MISSING = np.iinfo(np.int64).min


def load(cfg: Any, seed: int) -> RawSplits:
    """Seeded train/validation/test splits of the TFRecord shards at `cfg.path`, streamed."""
    import logging

    files = resolve_files(cfg.path, suffixes=SUFFIXES, kind="TFRecord")
    kinds = feature_kinds(files, int(cfg.sample_rows))
    if cfg.target not in kinds:
        raise DataError(f"target feature {cfg.target!r} not found in the records of {files[0]} (features: "
                        f"{', '.join(sorted(kinds))}): set dataset.target")
    names = list(cfg.features) if cfg.features else sorted(k for k in kinds if k != cfg.target)
    for name in names:
        if name not in kinds:
            raise DataError(f"feature {name!r} not found in the records of {files[0]}: fix dataset.features")
    taken: set[str] = set()
    plan = [column(input_name(n, taken), n, NUMERIC if kinds[n] != "bytes" else CATEGORICAL)
            for n in names]
    task = cfg.task if cfg.task != "auto" else (REGRESSION if kinds[cfg.target] == "float"
                                                else CLASSIFICATION)
    target_type = {"float": "float", "int": "int", "bytes": "string"}[kinds[cfg.target]]
    if task == REGRESSION:
        target_type = "float"
    reader = RecordReader(files, plan, cfg.target, kinds, target_type)
    rule = SplitRule.of(cfg, seed, separate_test=False)
    share = current_share()
    if share.count > 1 and getattr(cfg, "limit", None) is not None:
        raise DataError(f"dataset.limit={cfg.limit} cannot be combined with {share.count} workers each "
                        "reading its share of the shards: drop dataset.limit or use one worker")
    summary = scan(reader, None, rule, plan, task, cfg, share.count)
    many = len(summary.labels) > cfg.max_classes
    if task == CLASSIFICATION and target_type == "int" and cfg.task == "auto" and many:
        raise DataError(f"target {cfg.target!r} holds {len(summary.labels)} distinct integers (more than "
                        f"dataset.max_classes={cfg.max_classes}): set dataset.task=regression or raise "
                        "dataset.max_classes")
    classes = summary.class_names(cfg, target_type) if task == CLASSIFICATION else None
    info = DatasetInfo(
        name=getattr(cfg, "name", "") or Path(str(cfg.path)).stem, task=task, modality="tabular",
        input_shape=(len(plan),), num_classes=len(classes) if classes else None, class_names=classes,
        feature_names=names, features=plan, num_examples=dict(summary.counts),
        extra={"path": str(cfg.path), "target": cfg.target, "files": len(files), "format": "tfrecord",
               "streamed": True})
    logging.getLogger("zoo.data").info(
        "%s: %d TFRecord shard(s), %s records; columns: %s; split: %s", cfg.path, len(files),
        f"{summary.rows:,}", describe(plan), summary.counts)
    note_share(info, summary, share, len(files))
    return streamed_splits(reader, None, rule, plan, task, classes, summary, info, share)


def feature_kinds(files: list[Path], rows: int) -> dict[str, str]:
    """Feature name -> float | int | bytes, from the first `rows` records (scalar features only)."""
    tf = import_tensorflow()
    kinds: dict[str, str] = {}
    try:
        records = list(tf.data.TFRecordDataset([str(f) for f in files]).take(rows).as_numpy_iterator())
    except tf.errors.OpError as error:
        raise DataError(f"cannot read TFRecord shards {files[0]}...: "
                        f"{error.message.splitlines()[0]}") from None
    if not records:
        raise DataError(f"{files[0]} holds no records: check dataset.path")
    for number, record in enumerate(records):
        example = tf.train.Example.FromString(record)
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            values = getattr(feature, kind).value if kind else []
            if len(values) > 1:
                raise DataError(f"feature {name!r} of record {number} in {files[0]} holds {len(values)} "
                                "values: only one value per feature and record is read; leave it out with "
                                "dataset.features=[...]")
            if kind:
                kinds.setdefault(name, kind.replace("_list", "").replace("int64", "int"))
    return kinds


class RecordReader:
    """Batches of parsed records of `files` in order, as numpy columns (a `TableReader` for shards)."""

    def __init__(self, files: list[Path], plan: list[dict[str, Any]], target: str,
                 kinds: dict[str, str], target_type: str):
        self.files, self.plan, self.target = files, plan, target
        self.kinds, self.target_type = kinds, target_type
        self.file_rows: list[int] | None = None  # records of each shard, after one whole pass

    def spec(self) -> dict[str, Any]:
        tf = import_tensorflow()
        dtypes = {"float": tf.float32, "int": tf.int64, "bytes": tf.string}
        defaults = {"float": np.nan, "int": INT_MISSING, "bytes": b""}
        spec = {f["column"]: tf.io.FixedLenFeature([], dtypes[self.kinds[f["column"]]],
                                                    default_value=defaults[self.kinds[f["column"]]])
                for f in self.plan}
        spec[self.target] = tf.io.FixedLenFeature([], dtypes[self.kinds[self.target]])
        return spec

    def batches(self, first_row: int = 0, share: Any = None,
                select: Callable[[np.ndarray], np.ndarray] | None = None) -> Iterator[Batch]:
        """Batches of `BATCH` records in order; with `share` (`zoo.data.shares.Share`) only the
        batches it owns (batch k over all shards in order to worker k mod N) are parsed;
        `select` as `TableReader.batches`."""
        tf = import_tensorflow()
        spec, offset, k, counted = self.spec(), first_row, 0, []
        whole_files = share is not None and len(self.files) >= share.count and self.file_rows is not None
        for j, file in enumerate(self.files):
            if whole_files and not share.owns(k, j, len(self.files)):
                offset += self.file_rows[j]  # another worker's shard: not opened
                continue
            records = tf.data.TFRecordDataset(str(file)).batch(BATCH)
            start = 0
            try:
                for raw in records:
                    n = int(raw.shape[0])
                    if share is None or share.owns(k, j, len(self.files)):
                        batch = self._convert({key: value.numpy() for key, value in
                                               tf.io.parse_example(raw, spec).items()})
                        batch.rows += offset
                        batch.file = j
                        if select is not None:
                            batch = batch.take(select(batch.rows))
                        if len(batch.rows):
                            yield batch
                    offset, start, k = offset + n, start + n, k + 1
            except tf.errors.OpError as error:
                raise DataError(f"cannot parse records {start}..{start + BATCH - 1} of {file}: "
                                f"{error.message.splitlines()[0]}: every record needs the target "
                                f"{self.target!r} and one value per feature") from None
            counted.append(start)
        if share is None and len(counted) == len(self.files):
            self.file_rows = counted  # a whole pass: where each shard's records start

    def _convert(self, values: dict[str, np.ndarray]) -> Batch:
        columns = {}
        for f in self.plan:
            value = values[f["column"]]
            if f["kind"] == NUMERIC:
                number = value.astype(np.float32)
                if value.dtype == np.int64:
                    number[value == INT_MISSING] = np.nan
                if np.isinf(number).any():
                    raise DataError(f"feature {f['column']!r} holds an infinite value: fix the records")
                columns[f["name"]] = number.reshape(-1, 1)
            else:
                columns[f["name"]] = np.array([v.decode("utf-8", "replace").strip() for v in value],
                                              dtype=object).reshape(-1, 1)
        target = values[self.target]
        if self.target_type == "string":
            target = np.array([v.decode("utf-8", "replace") for v in target], dtype=object)
        elif self.target_type == "float":
            target = target.astype(np.float64)
        return Batch(np.arange(len(target), dtype=np.int64), columns, target)
