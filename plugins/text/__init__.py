"""Text and sequence data sources: CSV/TSV of labelled text, folders of .txt files, TFDS text
sets and CSV time series (shared by the LSTM and BERT families)."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from zoo.sdk import (
    DatasetConfig,
    DatasetSpec,
    TFDSDatasetConfig,
    bounded,
    choice,
    existing_path,
    hookimpl,
    lazy,
)


@dataclass
class TextCSVDatasetConfig(DatasetConfig):
    """The user's labelled text: one row an example, a text column and a label column."""

    source: str = "text_csv"
    path: str = existing_path(MISSING, what="CSV file")
    text_column: str = "text"
    text_pair_column: str | None = None  # second sentence of sentence-pair tasks
    label_column: str = "label"
    separator: str | None = None  # sniffed: comma, semicolon or tab
    test_path: str | None = existing_path(None, what="CSV file")  # a test file, same columns
    normalize: bool = False


@dataclass
class TextFolderDatasetConfig(DatasetConfig):
    """The user's text files, one sub-folder of .txt files per class."""

    source: str = "text_folder"
    path: str = existing_path(MISSING, what="folder")
    test_path: str | None = existing_path(None, what="folder")
    normalize: bool = False


@dataclass
class TextLinesDatasetConfig(DatasetConfig):
    """The user's unlabelled text: a .txt file or a folder of .txt files, cut into documents by
    `documents`: lines (one a line), paragraphs (blank lines separate them, newlines kept) or files."""

    source: str = "text_lines"
    path: str = existing_path(MISSING, what="text file or folder")
    documents: str = choice("lines", ("lines", "paragraphs", "files"))  # lines_text.DOCUMENTS
    min_chars: int = bounded(20, ge=0)  # shorter documents (headings, blank-ish lines) are dropped
    test_fraction: float = bounded(0.05, ge=0, lt=1)
    val_fraction: float = bounded(0.05, ge=0, lt=1)
    normalize: bool = False


@dataclass
class TFDSTextDatasetConfig(TFDSDatasetConfig):
    """A TFDS text classification set by name (imdb_reviews, ag_news_subset, glue/sst2)."""

    source: str = "tfds_text"
    text_key: str = "text"
    text_pair_key: str | None = None
    normalize: bool = False


@dataclass
class TimeSeriesCSVDatasetConfig(DatasetConfig):
    """A CSV time series: windows of `window` rows predict `target` `horizon` rows later."""

    source: str = "timeseries_csv"
    path: str = existing_path(MISSING, what="CSV file")
    target: str = MISSING
    features: list[str] | None = None  # default: every numeric column (target included)
    window: int = bounded(24, ge=1)
    horizon: int = bounded(1, ge=1)
    separator: str | None = None


@hookimpl
def zoo_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec("text_csv", lazy("zoo_plugins.text.csv_text:load"),
                    "your labelled text in CSV/TSV (dataset.path, text_column, label_column)",
                    TextCSVDatasetConfig),
        DatasetSpec("text_folder", lazy("zoo_plugins.text.folder_text:load"),
                    "your .txt files, one sub-folder per class (dataset.path)", TextFolderDatasetConfig),
        DatasetSpec("text_lines", lazy("zoo_plugins.text.lines_text:load"),
                    "unlabelled text: a .txt file (one example a line) or a folder of .txt (dataset.path)",
                    TextLinesDatasetConfig),
        DatasetSpec("tfds_text", lazy("zoo_plugins.text.tfds_text:load"),
                    "TFDS text classification by name (imdb_reviews, ag_news_subset, glue/sst2)",
                    TFDSTextDatasetConfig),
        DatasetSpec("timeseries_csv", lazy("zoo_plugins.text.timeseries:load"),
                    "a CSV time series: windows predict a column `horizon` steps ahead",
                    TimeSeriesCSVDatasetConfig),
    ]


@hookimpl
def zoo_config_dirs() -> list[str]:
    return ["pkg://zoo_plugins.text.conf"]
