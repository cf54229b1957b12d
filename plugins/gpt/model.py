"""The GPT builder: a keras-hub GPT2CausalLM (no preprocessor: token ids in, next-token logits out)."""

from __future__ import annotations

from typing import Any

from zoo_plugins.gpt.sizes import architecture, checkpoint, is_size

from zoo.sdk import DatasetInfo, ZooError


def make_backbone(cfg: Any, info: DatasetInfo) -> Any:
    """A GPT2Backbone: a size with random weights, or a checkpoint directory (weights if pretrained)."""
    import keras_hub

    length = int(info.input_shape[0])
    if not is_size(cfg.preset):
        backbone = keras_hub.models.GPT2Backbone.from_preset(str(checkpoint(cfg.preset)),
                                                             load_weights=cfg.pretrained,
                                                             dropout=cfg.dropout)
        if backbone.max_sequence_length < length:
            raise ZooError(f"model.sequence_length={length} exceeds the {backbone.max_sequence_length} "
                           f"positions of checkpoint {cfg.preset!r}: lower model.sequence_length")
        return backbone
    return keras_hub.models.GPT2Backbone(vocabulary_size=int(info.text.vocabulary_size),
                                         max_sequence_length=length, dropout=cfg.dropout,
                                         **architecture(cfg))


def build_causal_lm(cfg: Any, info: DatasetInfo) -> Any:
    """A keras-hub GPT2CausalLM on `make_backbone` (the tokenizer runs outside the model)."""
    import keras_hub

    if info.modality != "text" or not info.input_shape:
        raise ZooError(f"model {cfg.name} learns from text, but the dataset gives {info.modality} data: "
                       "use a text dataset (text_lines, text_folder, text_csv)")
    return keras_hub.models.GPT2CausalLM(backbone=make_backbone(cfg, info), preprocessor=None, name="gpt")
