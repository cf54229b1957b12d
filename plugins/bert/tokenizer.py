"""WordPiece: the checkpoint's tokenizer, or a vocabulary fitted on the training split; either
way saved as `vocab.txt` in the run folder so the numeric model travels with its tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo_plugins.bert.presets import checkpoint, is_size

VOCABULARY_FILE, TOKENIZER_JSON = "vocab.txt", "tokenizer.json"
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


def save_tokenizer(tokenizer: Any, folder: Path, sequence_length: int) -> Path:
    """Write the tokenizer's vocabulary to `folder/vocab.txt` (what keras-hub reads) and the whole
    preprocessor, packing included, to `folder/tokenizer.json` (what an exported bundle runs)."""
    path = Path(folder) / VOCABULARY_FILE
    vocabulary = tokenizer.get_vocabulary()
    path.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    runtime_tokenizer(vocabulary, bool(tokenizer.lowercase), sequence_length).save(
        str(Path(folder) / TOKENIZER_JSON))
    return path


def load_tokenizer(folder: Path, lowercase: bool) -> Any:
    """The BertTokenizer a run saved."""
    import keras_hub

    return keras_hub.models.BertTokenizer(vocabulary=str(Path(folder) / VOCABULARY_FILE),
                                          lowercase=lowercase)


# Training runs NFKC, then keras-hub, which splits on these and then case-folds each word
# (NFKC_Casefold), so a character that folds away stays inside its word. `tokenizers` normalises
# before it splits, so after NFKC the normaliser turns split characters into spaces and in-word
# spaces into a character no vocabulary holds (keras-hub's word with a space in it is [UNK]; so is
# a word with U+FFFF).
SPLIT_CHARACTERS = r"[\p{Cc}\p{Cf}]"
IN_WORD_SPACES = r"[\p{Z}&&[^ ]]"
NOT_IN_ANY_VOCABULARY = "\uffff"
# What NFKC_Casefold drops (Unicode's Default_Ignorable_Code_Point; its Cf characters split first).
DEFAULT_IGNORABLE = (r"[\x{00AD}\x{034F}\x{061C}\x{115F}-\x{1160}\x{17B4}-\x{17B5}\x{180B}-\x{180F}"
                     r"\x{200B}-\x{200F}\x{202A}-\x{202E}\x{2060}-\x{206F}\x{3164}\x{FE00}-\x{FE0F}\x{FEFF}"
                     r"\x{FFA0}\x{FFF0}-\x{FFF8}\x{1BCA0}-\x{1BCA3}\x{1D173}-\x{1D17A}\x{E0000}-\x{E0FFF}]")
WORD_DELIMITERS = r"[ \t\n\r\f]+"


def full_case_folds() -> dict[str, str]:
    """Characters whose Unicode case folding is not their lower case (ß -> ss, ς -> σ, ...)."""
    import unicodedata

    folds = {}
    for code in range(0x110000):
        char = chr(code)
        if unicodedata.category(char) != "Cs" and char.casefold() != char.lower():
            folds[char] = char.casefold()
    return folds


def runtime_tokenizer(vocabulary: list[str], lowercase: bool, sequence_length: int) -> Any:
    """What training runs (NFKC, keras-hub's `BertTokenizer` and `BertTextClassifierPreprocessor`)
    as a `tokenizers.Tokenizer`: equal token for token (tests/test_export_text.py)."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    index = {token: i for i, token in enumerate(vocabulary)}
    tokenizer = Tokenizer(models.WordPiece(index, unk_token="[UNK]", max_input_chars_per_word=100))
    steps = [normalizers.NFKC(), normalizers.Replace(Regex(SPLIT_CHARACTERS), " "),
             normalizers.Replace(Regex(IN_WORD_SPACES), NOT_IN_ANY_VOCABULARY)]
    if lowercase:
        steps += [*(normalizers.Replace(k, v) for k, v in full_case_folds().items()),
                  normalizers.Lowercase(), normalizers.NFKC(),
                  normalizers.Replace(Regex(DEFAULT_IGNORABLE), "")]
    steps.append(normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False,
                                            lowercase=False))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(WORD_DELIMITERS), "removed"), pre_tokenizers.Punctuation("isolated")])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", index["[CLS]"]), ("[SEP]", index["[SEP]"])])
    tokenizer.enable_truncation(int(sequence_length))
    tokenizer.enable_padding(length=int(sequence_length), pad_id=index["[PAD]"], pad_token="[PAD]")
    return tokenizer
