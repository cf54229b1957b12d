"""The recurrent roles: text becomes token ids through a vocabulary fitted on the training split."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from zoo_plugins.lstm.tokenizer import runtime_tokenizer
from zoo_plugins.text.batching import map_in_batches

from zoo.sdk import DataPreparer, DatasetInfo, ExportModule, Prepared, RawSplits, import_tensorflow

VOCABULARY_FILE, TOKENIZER_JSON = "vocabulary.txt", "tokenizer.json"
PAIR_SEPARATOR = " [SEP] "


class RecurrentData(DataPreparer):
    """Numeric sequences are prepared as usual; text is vectorised to int32 ids first."""

    def prepare(self, splits: RawSplits, fit: bool) -> Prepared:
        if splits.info.modality != "text":
            return super().prepare(splits, fit)
        cfg, run = self.cfg, self.run
        path = Path(run.path) / VOCABULARY_FILE
        if fit:
            vectorizer = fit_vectorizer(splits.train, cfg.model)
            vocabulary = vectorizer.get_vocabulary()
            path.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
            tokenizer = runtime_tokenizer(vocabulary, cfg.model.sequence_length)
            tokenizer.save(str(Path(run.path) / TOKENIZER_JSON))
            info = copy.deepcopy(splits.info)
            describe_ids(info, vocabulary, cfg.model.sequence_length, path)
            info.save(run.dataset_info)
        else:
            info = DatasetInfo.load(run.dataset_info)
            vocabulary = path.read_text(encoding="utf-8").split("\n")[:-1]
            vectorizer = make_vectorizer(cfg.model, vocabulary)
        return Prepared(**{split: to_ids(getattr(splits, split), vectorizer)
                           for split in ("train", "validation", "test")}, info=info, tokenizer=vectorizer)


class RecurrentExport(ExportModule):
    """Text bundles read raw text through the run's `tokenizer.json`."""

    def text(self, info: DatasetInfo) -> dict[str, Any] | None:
        """The run's `tokenizer.json`: TextVectorization's lower case, no punctuation, split on spaces."""
        from zoo_plugins.text.columns import text_columns

        if info.modality != "text":
            return None
        return {"tokenizer": TOKENIZER_JSON, "pairs": info.text.pairs,
                "pair_separator": PAIR_SEPARATOR, "columns": text_columns(self.cfg),
                "outputs": {"token_ids": "ids"}}


def make_vectorizer(model_cfg: Any, vocabulary: list[str] | None = None) -> Any:
    """A Keras TextVectorization (lower case, no punctuation, padded/cut to the sequence length)."""
    import keras

    return keras.layers.TextVectorization(
        max_tokens=model_cfg.max_tokens, output_sequence_length=model_cfg.sequence_length,
        vocabulary=vocabulary, name="vectorizer")


def fit_vectorizer(train: Any, model_cfg: Any) -> Any:
    """A vectorizer whose vocabulary is the training split's most frequent words."""
    vectorizer = make_vectorizer(model_cfg)
    vectorizer.adapt(train.map(lambda text, _: joined(text)).batch(512))
    return vectorizer


def joined(text: Any) -> Any:
    """One string per example: a sentence pair is joined with a separator token."""
    import tensorflow as tf

    return tf.strings.join(list(text), separator=PAIR_SEPARATOR) if isinstance(text, tuple) else text


def to_ids(dataset: Any, vectorizer: Any) -> Any:
    """`(text, label)` -> `(int32 token ids, label)`, vectorised in batches."""
    tf = import_tensorflow()

    def apply(text: Any, label: Any) -> tuple[Any, Any]:
        return tf.cast(vectorizer(joined(text)), tf.int32), label

    return map_in_batches(dataset, apply, 512)


def describe_ids(info: DatasetInfo, vocabulary: list[str], length: int, path: Path) -> None:
    """Record in `info` that the model's input is `length` int32 token ids of `vocabulary`."""
    info.input_shape = (int(length),)
    info.input_dtype = "int32"
    info.text.vocabulary_size, info.text.vocabulary = len(vocabulary), vocabulary
    info.text.vocabulary_file = path.name
