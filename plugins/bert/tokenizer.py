"""WordPiece: the checkpoint's tokenizer, or a vocabulary fitted on the training split; either
way saved as `vocab.txt` in the run folder so the numeric model travels with its tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo_plugins.bert.presets import checkpoint, is_size

VOCABULARY_FILE = "vocab.txt"
RESERVED = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def fit_tokenizer(train_texts: Any, model_cfg: Any) -> Any:
    """A BertTokenizer: from the checkpoint, or fitted on `train_texts` (a dataset of strings)."""
    import keras_hub

    if not is_size(model_cfg.preset):
        return keras_hub.models.BertTokenizer.from_preset(checkpoint(model_cfg.preset))
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        train_texts.batch(512), vocabulary_size=model_cfg.vocabulary_size,
        lowercase=model_cfg.lowercase, reserved_tokens=RESERVED)
    return keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=model_cfg.lowercase)


def save_tokenizer(tokenizer: Any, folder: Path) -> Path:
    """Write the tokenizer's vocabulary to `folder/vocab.txt`."""
    path = Path(folder) / VOCABULARY_FILE
    path.write_text("\n".join(tokenizer.get_vocabulary()) + "\n", encoding="utf-8")
    return path


def load_tokenizer(folder: Path, lowercase: bool) -> Any:
    """The BertTokenizer a run saved."""
    import keras_hub

    return keras_hub.models.BertTokenizer(vocabulary=str(Path(folder) / VOCABULARY_FILE),
                                          lowercase=lowercase)
