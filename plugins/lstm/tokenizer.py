"""Keras `TextVectorization` (`int` mode) as a Hugging Face `tokenizers.Tokenizer`: what an exported
LSTM bundle runs on raw text without TensorFlow, equal to the layer token for token."""

from __future__ import annotations

import string
from typing import Any

# TextVectorization's defaults: `tf.strings.lower` (ASCII letters only), ASCII punctuation
# deleted, split on ASCII whitespace; id 0 pads, id 1 is [UNK].
ASCII_PUNCTUATION = "[" + "".join("\\" + c for c in string.punctuation) + "]"
ASCII_WHITESPACE = r"[ \t\n\v\f\r]+"


def runtime_tokenizer(vocabulary: list[str], sequence_length: int) -> Any:
    """The vocabulary lookup of `TextVectorization(output_sequence_length=sequence_length)`."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

    index = {token: i for i, token in enumerate(vocabulary)}
    tokenizer = Tokenizer(models.WordLevel(index, unk_token=vocabulary[1]))
    tokenizer.normalizer = normalizers.Sequence(
        [*(normalizers.Replace(upper, lower) for upper, lower in zip(string.ascii_uppercase,
                                                                     string.ascii_lowercase, strict=True)),
         normalizers.Replace(Regex(ASCII_PUNCTUATION), "")])
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(ASCII_WHITESPACE), "removed")
    tokenizer.enable_truncation(int(sequence_length))
    tokenizer.enable_padding(length=int(sequence_length), pad_id=0, pad_token=vocabulary[0])
    return tokenizer
