"""Text to a bundle's token ids in Python, without TensorFlow.

Two tokenizers, reproduced exactly as training ran them, so a text bundle takes raw text:

- `keras_text_vectorization`: Keras `TextVectorization` in `int` mode (LSTM family): ASCII-only
  lower-casing (`tf.strings.lower`), deletion of ASCII punctuation, split on ASCII whitespace
  (`tf.strings.split`), vocabulary lookup (0 = padding, 1 = `[UNK]`), cut or zero-padded to the length.
- `bert_wordpiece`: keras-hub's `BertTokenizer` and `BertTextClassifierPreprocessor` (BERT family):
  split on whitespace, control and format characters, punctuation and CJK kept as tokens, NFKC
  case folding per word, WordPiece (the Hugging Face `tokenizers` implementation), `[CLS] a [SEP]
  (b [SEP])` packed with round-robin truncation; token ids, segment ids and a padding mask out.

The bundle's `export.json` describes the tokenizer under `preprocessing.text`; its vocabulary file
is in the bundle folder.
"""

from __future__ import annotations

import re
import string
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import DataError, ZooError

VECTORIZER, WORDPIECE = "keras_text_vectorization", "bert_wordpiece"
Text = str | tuple[str, ...]

# Keras TextVectorization's standardisation and split (tf.strings ops on UTF-8 bytes).
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
STRIP_PUNCTUATION = str.maketrans("", "", string.punctuation)
ASCII_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation", None)
SPLITS = ("whitespace", "character", None)

# keras-hub WordPiece pre-tokenisation: ASCII text takes a regular expression, other text a
# per-character walk over Unicode categories (the `regex` module's \p{...} is not needed).
ASCII_WORDS = re.compile(r"[\x00-\x20\x7f]+|([!-/:-@\[-`{-~])")
MAX_BYTES_PER_WORD = 100
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
DEFAULT_IGNORABLE = ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
                     (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
                     (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
                     (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
                     (0xE0000, 0xE0FFF))


def read_vocabulary(path: Path) -> list[str]:
    """One token per line, as the families write them (`"\\n".join(tokens) + "\\n"`)."""
    if not path.exists():
        raise ZooError(f"the bundle's vocabulary {path} is missing: export the run again")
    lines = path.read_text(encoding="utf-8").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def as_text(value: Any, pairs: bool, where: str) -> Text:
    """One input text (or a pair when the model reads pairs); a DataError names a bad value."""
    if pairs:
        if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
            return (value[0], value[1])
        raise DataError(f"{where}: this model reads text pairs, give two strings, got {value!r:.80}")
    if isinstance(value, str):
        return value
    raise DataError(f"{where}: expected a string of text, got {type(value).__name__} {value!r:.80}")


class VectorizerEncoder:
    """Keras `TextVectorization(output_mode="int")` with a fixed vocabulary, in Python."""

    def __init__(self, vocabulary: list[str], sequence_length: int, standardize: str | None = STANDARDIZE[0],
                 split: str | None = "whitespace", pair_separator: str = " [SEP] "):
        if standardize not in STANDARDIZE or split not in SPLITS:
            raise ZooError(f"text standardize={standardize!r}, split={split!r}: this runtime reproduces "
                           f"standardize {STANDARDIZE} and split {SPLITS} only")
        self.index = {token: i for i, token in enumerate(vocabulary)}
        self.oov = self.index.get("[UNK]", 1)
        self.length, self.standardize, self.split = int(sequence_length), standardize, split
        self.pair_separator = pair_separator

    def standardized(self, text: str) -> str:
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.translate(ASCII_LOWER)  # tf.strings.lower: ASCII letters only
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = text.translate(STRIP_PUNCTUATION)
        return text

    def tokens(self, text: Text) -> list[str]:
        """The words looked up for one example (a pair is joined with the separator first)."""
        joined = self.pair_separator.join(text) if isinstance(text, tuple) else text
        standard = self.standardized(joined)
        if self.split == "whitespace":
            return [w for w in ASCII_WHITESPACE.split(standard) if w]
        return list(standard) if self.split == "character" else [standard]

    def encode(self, texts: list[Text]) -> dict[str, np.ndarray]:
        """`token_ids` (int32, `sequence_length` wide, 0 = padding) of texts or pairs."""
        ids = np.zeros((len(texts), self.length), np.int32)
        for row, text in enumerate(texts):
            found = [self.index.get(w, self.oov) for w in self.tokens(text)[:self.length]]
            ids[row, :len(found)] = found
        return {"token_ids": ids}


def casefold(word: str) -> str:
    """NFKC_Casefold (what `tf_text.case_fold_utf8` applies), default-ignorable code points dropped."""
    if word.isascii():
        return word.lower()
    word = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", word).casefold())
    return "".join(c for c in word if not any(lo <= ord(c) <= hi for lo, hi in DEFAULT_IGNORABLE))


def _is_cjk(code: int) -> bool:
    return any(lo <= code <= hi for lo, hi in CJK_RANGES)


def split_words(text: str, split_on_cjk: bool = True) -> list[str]:
    """keras-hub's word split: whitespace, control and format characters go; punctuation (and CJK)
    characters become words of their own."""
    if text.isascii():
        return [w for w in ASCII_WORDS.split(text) if w]
    words: list[str] = []
    start = 0
    for i, char in enumerate(text):
        category = unicodedata.category(char)
        delimiter = char in " \t\n\r\f" or category in ("Cc", "Cf")
        keep = not delimiter and (category[0] == "P" or (char.isascii() and char in string.punctuation)
                                  or (split_on_cjk and _is_cjk(ord(char))))
        if delimiter or keep:
            if i > start:
                words.append(text[start:i])
            if keep:
                words.append(char)
            start = i + 1
    if start < len(text):
        words.append(text[start:])
    return words


class WordPieceEncoder:
    """keras-hub `BertTextClassifierPreprocessor` (BertTokenizer + MultiSegmentPacker) in Python."""

    def __init__(self, vocabulary: list[str], sequence_length: int, lowercase: bool,
                 strip_accents: bool = False, split_on_cjk: bool = True, unknown: str = "[UNK]"):
        from tokenizers import Tokenizer
        from tokenizers.models import WordPiece

        index = {token: i for i, token in enumerate(vocabulary)}
        missing = [t for t in ("[CLS]", "[SEP]", "[PAD]", unknown) if t not in index]
        if missing:
            raise ZooError(f"the BERT vocabulary lacks {', '.join(missing)}: export the run again")
        # Words over 100 bytes are replaced by `unknown` before WordPiece (keras-hub counts bytes).
        self.wordpiece = Tokenizer(WordPiece(index, unk_token=unknown, max_input_chars_per_word=1 << 20))
        self.cls, self.sep, self.pad = index["[CLS]"], index["[SEP]"], index["[PAD]"]
        self.length, self.lowercase, self.strip_accents = int(sequence_length), lowercase, strip_accents
        self.split_on_cjk, self.unknown = split_on_cjk, unknown

    def words(self, text: str) -> list[str]:
        """Pre-tokenised words of one segment, in keras-hub's order: accents, split, case fold."""
        if self.strip_accents and not text.isascii():
            text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        if self.lowercase and text.isascii():
            text = text.lower()  # ASCII: folding before the split is the same
        words = split_words(text, self.split_on_cjk)
        if self.lowercase:
            words = [casefold(w) for w in words]
        return [w if len(w.encode("utf-8")) <= MAX_BYTES_PER_WORD else self.unknown for w in words]

    def _pieces(self, segments: list[str]) -> list[list[int]]:
        words = [self.words(s) for s in segments]
        present = [w for w in words if w]
        encoded = iter(self.wordpiece.encode_batch(present, is_pretokenized=True, add_special_tokens=False)
                       if present else [])
        return [next(encoded).ids if w else [] for w in words]

    def encode(self, texts: list[Text]) -> dict[str, np.ndarray]:
        """`token_ids`, `segment_ids`, `padding_mask` (int32, `sequence_length` wide) of texts or pairs."""
        pairs = [t if isinstance(t, tuple) else (t,) for t in texts]
        flat = [segment for pair in pairs for segment in pair]
        pieces = iter(self._pieces(flat))
        token_ids = np.full((len(texts), self.length), self.pad, np.int32)
        segment_ids = np.zeros((len(texts), self.length), np.int32)
        for row, pair in enumerate(pairs):
            segments = trim_round_robin([next(pieces) for _ in pair], self.length - 1 - len(pair))
            ids, segs = [self.cls], [0]
            for s, segment in enumerate(segments):
                ids += [*segment, self.sep]
                segs += [s] * (len(segment) + 1)
            ids, segs = ids[:self.length], segs[:self.length]
            token_ids[row, :len(ids)], segment_ids[row, :len(segs)] = ids, segs
        return {"token_ids": token_ids, "segment_ids": segment_ids,
                "padding_mask": (token_ids != self.pad).astype(np.int32)}


def trim_round_robin(segments: list[list[int]], budget: int) -> list[list[int]]:
    """Keep `budget` tokens in all, taken one at a time from each segment in turn (tf_text's
    RoundRobinTrimmer)."""
    kept = [0] * len(segments)
    budget = max(budget, 0)
    while budget > 0:
        progressed = False
        for s, segment in enumerate(segments):
            if budget > 0 and kept[s] < len(segment):
                kept[s] += 1
                budget -= 1
                progressed = True
        if not progressed:
            break
    return [segment[:n] for segment, n in zip(segments, kept, strict=True)]


def text_encoder(folder: Path, spec: dict[str, Any]) -> VectorizerEncoder | WordPieceEncoder:
    """The encoder a bundle's `preprocessing.text` describes, with its vocabulary from `folder`."""
    vocabulary = read_vocabulary(Path(folder) / spec["vocabulary"])
    if spec["kind"] == VECTORIZER:
        return VectorizerEncoder(vocabulary, spec["sequence_length"], spec.get("standardize"),
                                 spec.get("split"), spec.get("pair_separator", " [SEP] "))
    if spec["kind"] == WORDPIECE:
        return WordPieceEncoder(vocabulary, spec["sequence_length"], bool(spec.get("lowercase")),
                                bool(spec.get("strip_accents", False)), bool(spec.get("split_on_cjk", True)))
    raise ZooError(f"text tokenizer {spec['kind']!r} is not known to this runtime: expected "
                   f"{VECTORIZER} or {WORDPIECE}")
