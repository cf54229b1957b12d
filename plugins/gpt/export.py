"""The exported GPT: the decoder (token ids and padding mask in, next-token logits out, any batch
and length up to the context), described in `export.json` as a `causal_lm` with its tokenizer."""

from __future__ import annotations

from typing import Any

import numpy as np
from zoo_plugins.gpt.tokenizer import TOKENIZER_JSON

from zoo.sdk import CAUSAL_LM, DEFAULT_PART, DatasetInfo, ExportPart

CHECK_BLOCKS = 16  # test blocks of the float check (logits are [blocks, context, vocabulary])


def decoder_specs() -> list[Any]:
    import tensorflow as tf

    return [tf.TensorSpec((None, None), tf.int32, name="token_ids"),
            tf.TensorSpec((None, None), tf.bool, name="padding_mask")]


def decoder_part(model: Any, cfg: Any, info: DatasetInfo, arrays: dict[str, Any]) -> ExportPart:
    """The whole GPT2CausalLM as one part; checked on test blocks against Keras's logits."""

    def sample(split: str, limit: int) -> tuple[list[np.ndarray], None]:
        inputs = arrays[split][0]
        n = min(limit, CHECK_BLOCKS, len(inputs["token_ids"]))
        return [inputs["token_ids"][:n], inputs["padding_mask"][:n]], None

    outputs = {"kind": CAUSAL_LM, "tokenizer": TOKENIZER_JSON, "context_length": int(info.input_shape[0]),
               "vocabulary_size": int(info.extra["vocabulary_size"]),
               "end_token_id": int(info.extra["end_token_id"]), "class_names": None}
    return ExportPart(DEFAULT_PART, model, decoder_specs(), sample, outputs, input_kind="tokens",
                      description="GPT decoder: token ids -> next-token logits (no key/value cache)")
