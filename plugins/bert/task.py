"""The BERT roles: strings (or string pairs) become token ids, segment ids and a padding mask."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from zoo_plugins.bert.tokenizer import (
    TOKENIZER_JSON,
    VOCABULARY_FILE,
    fit_tokenizer,
    load_tokenizer,
    save_tokenizer,
)
from zoo_plugins.text.batching import map_in_batches

from zoo.sdk import DataPreparer, DatasetInfo, ExportModule, Prepared, RawSplits, import_tensorflow

INPUTS = ("token_ids", "segment_ids", "padding_mask")


class BertData(DataPreparer):
    """Tokenise with the checkpoint's WordPiece (or one fitted on the training split)."""

    def prepare(self, splits: RawSplits, fit: bool) -> Prepared:
        info, tokenizer = tokenizer_for(splits, self.cfg, self.run, fit)
        return Prepared(**{split: to_inputs(getattr(splits, split), tokenizer, self.cfg.model.sequence_length)
                           for split in ("train", "validation", "test")}, info=info, tokenizer=tokenizer)


class BertExport(ExportModule):
    """Bundles read raw text through the run's `tokenizer.json`."""

    def text(self, info: DatasetInfo) -> dict[str, Any]:
        """keras-hub's BERT preprocessing as the run's `tokenizer.json`: WordPiece, [CLS] a [SEP] b [SEP]."""
        from zoo_plugins.text.columns import text_columns

        return {"tokenizer": TOKENIZER_JSON, "pairs": info.text.pairs,
                "pair_truncation": "round_robin", "columns": text_columns(self.cfg),
                "outputs": {"token_ids": "ids", "segment_ids": "type_ids", "padding_mask": "attention_mask"}}


def tokenizer_for(splits: RawSplits, cfg: DictConfig, run: Any, fit: bool) -> tuple[DatasetInfo, Any]:
    """The `DatasetInfo` and tokenizer of the run: fitted (and saved with the updated info) or
    reloaded; `splits` are left as they are."""
    check_text(splits.info, cfg.model.name)
    if not fit:
        info = DatasetInfo.load(run.dataset_info)
        return info, load_tokenizer(Path(run.path), info.text.lowercase)
    tokenizer = fit_tokenizer(splits.train.map(lambda text, _: first_text(text)), cfg.model)
    save_tokenizer(tokenizer, Path(run.path), int(cfg.model.sequence_length))
    info = copy.deepcopy(splits.info)
    info.input_shape = (int(cfg.model.sequence_length),)
    info.input_dtype = "int32"
    text = info.text
    text.inputs, text.vocabulary_size = list(INPUTS), int(tokenizer.vocabulary_size())
    text.lowercase, text.vocabulary_file = bool(tokenizer.lowercase), VOCABULARY_FILE
    info.save(run.dataset_info)
    return info, tokenizer


def check_text(info: DatasetInfo, model: str) -> None:
    from zoo.sdk import ZooError

    if info.modality != "text":
        raise ZooError(f"model {model} reads text, but dataset {info.name!r} is {info.modality}: "
                       "use a text dataset (text_csv, text_folder, tfds_text) or another model")


def first_text(text: Any) -> Any:
    """The first sentence of a pair, or the text (a WordPiece vocabulary is fitted on it)."""
    return text[0] if isinstance(text, tuple) else text


def keras_preprocessor(tokenizer: Any, length: int) -> Any:
    """What training runs on a batch of texts (or pairs): NFKC, then keras-hub's
    `BertTextClassifierPreprocessor` (the bundle's `tokenizer.json` starts with NFKC too)."""
    import keras_hub
    import tensorflow_text as tf_text

    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=length)

    def preprocess(text: Any) -> dict[str, Any]:
        texts = tuple(text) if isinstance(text, tuple | list) else (text,)
        normal = tuple(tf_text.normalize_utf8(t, "NFKC") for t in texts)
        return preprocessor(x=normal if len(normal) > 1 else normal[0])  # a tuple would read as (x, y)

    return preprocess


def to_inputs(dataset: Any, tokenizer: Any, length: int) -> Any:
    """`(text or pair, label)` -> `({token_ids, segment_ids, padding_mask}, label)`, int32."""
    tf = import_tensorflow()
    preprocess = keras_preprocessor(tokenizer, length)

    def apply(text: Any, label: Any) -> tuple[Any, Any]:
        features = preprocess(text)
        return {name: tf.cast(features[name], tf.int32) for name in INPUTS}, label

    return map_in_batches(dataset, apply, 256)
