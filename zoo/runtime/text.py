"""Raw text to a bundle's token ids without TensorFlow: the family's `tokenizer.json`, run by Hugging
Face `tokenizers`.

The core holds no tokeniser. A text family writes a `tokenizer.json` equal to its Keras layer (normaliser,
split, vocabulary, special tokens, truncation and padding to the model's length) and describes it
in `export.json` under `preprocessing.text`:

- `tokenizer`: the file name in the bundle; `outputs`: model input name -> `ids`, `type_ids` or
  `attention_mask` of the encoding.
- `pairs`: the model reads two texts; `pair_separator`: join them with it into one text first
  (Keras `TextVectorization` of a joined pair), else they are encoded as a pair;
  `pair_truncation: round_robin`: trim a long pair one token from each text in turn (keras-hub's
  packer) instead of `tokenizers`' longest-first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo.core.errors import DataError, ZooError

Text = str | tuple[str, ...]
ENCODING_FIELDS = ("ids", "type_ids", "attention_mask")


def as_text(value: Any, pairs: bool, where: str) -> Text:
    """One input text (or a pair when the model reads pairs); a DataError names a bad value."""
    if pairs:
        if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
            return (value[0], value[1])
        raise DataError(f"{where}: this model reads text pairs, give two strings, got {value!r:.80}")
    if isinstance(value, str):
        return value
    raise DataError(f"{where}: expected a string of text, got {type(value).__name__} {value!r:.80}")


def round_robin(first: int, second: int, budget: int) -> tuple[int, int]:
    """How many tokens of each text a budget keeps, taking one from each in turn, first text first."""
    kept_first = min(first, max(budget - second, (budget + 1) // 2))
    return kept_first, min(second, budget - kept_first)


class TextEncoder:
    """A bundle's `tokenizer.json` and the way its encodings feed the model's inputs."""

    def __init__(self, folder: Path, spec: dict[str, Any]):
        from tokenizers import Tokenizer

        path = Path(folder) / spec.get("tokenizer", "")
        if not spec.get("tokenizer") or not path.is_file():
            raise ZooError(f"the bundle's tokenizer {path} is missing: export the run again")
        self.tokenizer = Tokenizer.from_file(str(path))
        self.segments = Tokenizer.from_file(str(path))  # one text of a pair: not cut, not padded
        self.segments.no_truncation()
        self.segments.no_padding()
        self.outputs: dict[str, str] = dict(spec.get("outputs") or {"token_ids": "ids"})
        unknown = sorted(set(self.outputs.values()) - set(ENCODING_FIELDS))
        if unknown:
            raise ZooError(f"text outputs {unknown} in {folder}/export.json: expected {ENCODING_FIELDS}")
        self.separator: str | None = spec.get("pair_separator")
        self.round_robin = spec.get("pair_truncation") == "round_robin"

    def encodings(self, texts: list[Text]) -> list[Any]:
        if self.separator is not None:
            texts = [self.separator.join(t) if isinstance(t, tuple) else t for t in texts]
        if not (self.round_robin and any(isinstance(t, tuple) for t in texts)):
            return self.tokenizer.encode_batch(texts)
        return [self._trimmed_pair(t) if isinstance(t, tuple) else self.tokenizer.encode(t) for t in texts]

    def _trimmed_pair(self, pair: tuple[str, ...]) -> Any:
        first, second = (self.segments.encode(t, add_special_tokens=False) for t in pair)
        length = self.tokenizer.truncation["max_length"] if self.tokenizer.truncation else None
        if length is not None:
            budget = length - self.tokenizer.num_special_tokens_to_add(is_pair=True)
            keep = round_robin(len(first.ids), len(second.ids), budget)
            first.truncate(keep[0])
            second.truncate(keep[1])
        return self.tokenizer.post_process(first, second, add_special_tokens=True)

    def encode(self, texts: list[Text]) -> dict[str, np.ndarray]:
        """The model's int32 text inputs, one row per text (or pair)."""
        encodings = self.encodings(texts)
        return {name: np.array([getattr(e, field) for e in encodings], np.int32).reshape(len(texts), -1)
                for name, field in self.outputs.items()}
