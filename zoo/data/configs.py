"""Typed config schemas of the built-in dataset sources (no TensorFlow here)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from zoo.config.bounds import bounded, choice, existing_path

CACHE_MODES = ("auto", "memory", "disk", "off", "true", "false")  # true/false: memory/off (older configs)
TABLE_FORMATS = ("auto", "csv", "parquet")
TASKS = ("auto", "classification", "regression")


@dataclass
class DatasetConfig:
    """Fields every dataset source understands."""

    source: str = MISSING  # registry name of the loader: digits, csv, tfds, image_folder...
    name: str = ""  # human name (for tfds: the TFDS dataset name)
    val_fraction: float = bounded(0.1, ge=0, lt=1)  # of the training data, if no validation split
    test_fraction: float = bounded(0.2, ge=0, lt=1)  # of all data, when the source has no test split
    shuffle_buffer: int = bounded(10000, ge=1)  # examples; memory is this buffer, not the data set
    cache: str = choice("auto", CACHE_MODES)  # auto (memory if it fits cache_budget_mb, else off)
    cache_path: str | None = None  # where cache=disk writes (default: the run folder's data-cache/)
    cache_budget_mb: int = bounded(1024, ge=0)  # memory caches; a streamed table's kept val/test rows: 1/4
    normalize: bool = True  # standardise features with training-split mean/std
    limit: int | None = bounded(None, ge=1)  # keep at most this many training examples (quick runs)


@dataclass
class SklearnDatasetConfig(DatasetConfig):
    """A real dataset embedded in scikit-learn (no download)."""

    as_image: bool = False  # digits only: 8x8x1 images instead of 64 features


@dataclass
class CSVDatasetConfig(DatasetConfig):
    """The user's CSV file: one row an example, one column the target."""

    source: str = "csv"
    path: str = existing_path(MISSING, what="CSV or Parquet file, folder or glob")
    target: str = MISSING
    task: str = choice("auto", TASKS)  # auto | classification | regression
    separator: str | None = None  # sniffed when not given
    test_path: str | None = existing_path(None, what="CSV file")  # else test_fraction of `path`
    features: list[str] | None = None  # default: every column but the target (and `ignore`)
    ignore: list[str] | None = None  # columns to leave out (identifiers, free text)
    numeric: list[str] | None = None  # columns that must hold numbers (else inferred)
    categorical: list[str] | None = None  # columns of categories, e.g. integer codes (else inferred)
    hashed: list[str] | None = None  # many-valued string columns hashed into `hash_bins` buckets
    hash_bins: int = bounded(64, ge=1)
    max_categories: int = bounded(100, ge=1)  # more distinct strings: refused (ignore or hash it)
    # impute (training-split mean + indicator; a blank category) | refuse
    missing: str = choice("impute", ("impute", "refuse"))
    max_classes: int = bounded(20, ge=1)  # task auto: more distinct integers is regression
    num_classes: int | None = bounded(None, ge=1)  # integer labels must lie in [0, num_classes)
    format: str = choice("auto", TABLE_FORMATS)  # csv | parquet (auto: from the file suffix)
    stream: bool | None = None  # read in Arrow record batches (default: Parquet, folders, globs, large CSV)
    stream_above_mb: float = bounded(4, ge=0)  # stream=auto: CSV files larger than this are streamed
    sample_rows: int = bounded(10000, ge=1)  # rows column kinds and the task are inferred from
    stats_rows: int | None = bounded(None, ge=1)  # preprocessing statistics from this many training rows
    block_bytes: int = bounded(4 << 20, ge=4096)  # CSV bytes per Arrow record batch
    # data shares a streamed table is cut into (default: the number of workers); one process given
    # the workers' number trains on the same global batches as they do
    shares: int | None = bounded(None, ge=1)


@dataclass
class TFRecordDatasetConfig(DatasetConfig):
    """TFRecord shards of `tf.train.Example`: one scalar feature per column, one the target."""

    source: str = "tfrecord"
    path: str = existing_path(MISSING, what="TFRecord file, folder of shards or glob")
    target: str = "label"
    task: str = choice("auto", TASKS)  # auto | classification | regression
    features: list[str] | None = None  # default: every feature of the first records but the target
    max_classes: int = bounded(20, ge=1)  # task auto: more distinct integers is regression
    num_classes: int | None = bounded(None, ge=1)
    max_categories: int = bounded(100, ge=1)
    missing: str = "impute"
    sample_rows: int = bounded(1000, ge=1)  # records the feature spec is read from
    stats_rows: int | None = bounded(None, ge=1)


@dataclass
class ImageFolderDatasetConfig(DatasetConfig):
    """The user's images, one sub-folder per class."""

    source: str = "image_folder"
    path: str = existing_path(MISSING, what="image folder")
    test_path: str | None = existing_path(None, what="image folder")  # else test_fraction of `path`
    image_size: list[int] = bounded(default_factory=lambda: [64, 64], ge=1)  # height, width
    color_mode: str = "rgb"  # rgb | grayscale


@dataclass
class TFDSDatasetConfig(DatasetConfig):
    """A TensorFlow Datasets dataset by name (`dataset.name=mnist`)."""

    source: str = "tfds"
    name: str = MISSING
    data_dir: str | None = None
    download: bool = True  # try to download when not on disk (fails fast offline)
    train_split: str = "train"
    validation_split: str | None = None  # else val_fraction of train_split
    test_split: str = "test"
    image_key: str = "image"
    label_key: str = "label"
    image_size: list[int] | None = bounded(None, ge=1)  # resize images; None keeps the stored size
