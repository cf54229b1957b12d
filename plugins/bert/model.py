"""BERT builders: a keras-hub BertBackbone (sized or from a checkpoint) with a task head."""

from __future__ import annotations

from typing import Any

import keras
from zoo_plugins.bert.presets import SIZES, checkpoint, is_size
from zoo_plugins.bert.task import INPUTS

from zoo.sdk import DatasetInfo, ZooError, task_head


def make_backbone(cfg: Any, info: DatasetInfo) -> Any:
    """A BertBackbone: a size with random weights, or a pretrained checkpoint."""
    import keras_hub

    length = int(info.input_shape[0])
    if not is_size(cfg.preset):
        backbone = keras_hub.models.BertBackbone.from_preset(checkpoint(cfg.preset),
                                                             load_weights=cfg.pretrained)
        if backbone.max_sequence_length < length:
            raise ZooError(f"model.sequence_length={length} exceeds the {backbone.max_sequence_length}"
                           f" positions of checkpoint {cfg.preset!r}: lower model.sequence_length")
        return backbone
    vocabulary = int(info.text.vocabulary_size or cfg.vocabulary_size)
    return keras_hub.models.BertBackbone(vocabulary_size=vocabulary, max_sequence_length=max(length, 512),
                                         dropout=0.1, **SIZES[cfg.preset])


def text_inputs(info: DatasetInfo) -> dict[str, Any]:
    """The numeric inputs: int32 token ids, segment ids and padding mask of the sequence length."""
    return {name: keras.Input((int(info.input_shape[0]),), dtype="int32", name=name) for name in INPUTS}


def build_classifier(cfg: Any, info: DatasetInfo) -> keras.Model:
    """Pooled [CLS] output -> dropout -> softmax head (float32 under mixed precision)."""
    if info.modality != "text" or not info.input_shape:
        raise ZooError(f"model {cfg.name} reads tokenised text, but the dataset gives {info.modality} "
                       "data: use a text dataset (text_csv, text_folder, tfds_text)")
    inputs = text_inputs(info)
    x = make_backbone(cfg, info)(inputs)["pooled_output"]
    if cfg.dropout > 0:
        x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(x)
    return keras.Model(inputs, task_head(x, info), name="bert")
