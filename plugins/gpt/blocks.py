"""Documents to fixed-length training blocks: tokens of every document, each followed by
`<|endoftext|>`, concatenated and cut into blocks of `sequence_length + 1` tokens (inputs and
next-token targets). Only a split's last block is partial; its padding weighs 0 in the loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def token_stream(texts: list[str], tokenizer_file: str | Path, end_id: int) -> np.ndarray:
    """The ids of `texts`, documents separated (and ended) by `end_id`.

    Tokenised by the run's `tokenizer.json` (Hugging Face `tokenizers`, fast and TF-free): the same
    ids keras-hub's GPT2Tokenizer gives in a tf.data pipeline (tests/test_gpt.py checks it on real text).
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    pieces = []
    for encoding in tokenizer.encode_batch(texts, add_special_tokens=False):
        pieces += [np.asarray(encoding.ids, np.int32), np.array([end_id], np.int32)]
    return np.concatenate(pieces) if pieces else np.zeros(0, np.int32)


def pack(ids: np.ndarray, length: int, pad_id: int = 0
         ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """`(inputs, targets, weights)` of blocks of `length` tokens: target t is token t + 1."""
    n = max(1, -(-(len(ids) - 1) // length))  # blocks covering every next-token prediction
    padded = np.full(n * length + 1, pad_id, np.int32)
    padded[:len(ids)] = ids
    starts = np.arange(n) * length
    index = starts[:, None] + np.arange(length + 1)[None, :]
    blocks = padded[index]
    weights = (index[:, 1:] < len(ids)).astype(np.float32)
    inputs = {"token_ids": blocks[:, :-1], "padding_mask": np.ones((n, length), bool)}
    return inputs, blocks[:, 1:], weights
