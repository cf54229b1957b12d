"""Byte-level BPE: trained on the training split with Hugging Face `tokenizers`, run in training
by keras-hub's `GPT2Tokenizer` (same vocabulary and merges), saved with the run.

The run folder holds `vocab.json` + `merges.txt` (what keras-hub reads) and `tokenizer.json` (what
`tokenizers` reads: the TF-free runtime of an exported bundle). A checkpoint (`model.preset`)
brings its own tokenizer, which is saved the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

END_OF_TEXT = "<|endoftext|>"
VOCABULARY_FILE, MERGES_FILE, TOKENIZER_JSON = "vocab.json", "merges.txt", "tokenizer.json"


def train_bpe(texts: Iterable[str], vocabulary_size: int) -> Any:
    """A GPT-2-style byte-level BPE (`tokenizers.ByteLevelBPETokenizer`) fitted on `texts`.

    The 256 byte symbols and `<|endoftext|>` are always in the vocabulary, so any text encodes.
    """
    from tokenizers import ByteLevelBPETokenizer

    tokenizer = ByteLevelBPETokenizer(add_prefix_space=False)
    tokenizer.train_from_iterator(texts, vocab_size=vocabulary_size, min_frequency=2,
                                  special_tokens=[END_OF_TEXT], show_progress=False)
    return tokenizer


def bpe_files(hf_tokenizer: Any) -> tuple[dict[str, int], list[str]]:
    """The vocabulary and merge rules of a trained `tokenizers` BPE."""
    model = json.loads(hf_tokenizer.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


def keras_tokenizer(vocabulary: dict[str, int] | str, merges: list[str] | str) -> Any:
    """keras-hub's `GPT2Tokenizer` of a vocabulary and merges (dicts/lists or file paths)."""
    import keras_hub

    return keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)


def save_tokenizer(tokenizer: Any, folder: Path) -> None:
    """Write `vocab.json`, `merges.txt` and `tokenizer.json` of a keras-hub GPT2Tokenizer."""
    folder = Path(folder)
    vocabulary = dict(sorted(tokenizer.vocabulary.items(), key=lambda kv: kv[1]))
    merges = [m for m in tokenizer.merges if not m.lstrip().startswith("#version")]
    (folder / VOCABULARY_FILE).write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
    (folder / MERGES_FILE).write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    runtime_tokenizer(vocabulary, merges).save(str(folder / TOKENIZER_JSON))


def runtime_tokenizer(vocabulary: dict[str, int], merges: list[str]) -> Any:
    """The same BPE as a `tokenizers.Tokenizer` (GPT-2 pre-tokenisation, byte-level decoding)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    pairs = [tuple(m.split(" ")) for m in merges]
    tokenizer = Tokenizer(models.BPE(vocab=vocabulary, merges=pairs))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    if END_OF_TEXT in vocabulary:
        tokenizer.add_special_tokens([END_OF_TEXT])
    return tokenizer


def load_tokenizer(folder: Path) -> Any:
    """The keras-hub GPT2Tokenizer a run saved."""
    folder = Path(folder)
    return keras_tokenizer(str(folder / VOCABULARY_FILE), str(folder / MERGES_FILE))
