"""The user's unlabelled text (masked-language-model pre-training): a UTF-8 `.txt` file with one
example per non-empty line, or a folder whose `.txt` files (searched recursively) are one example each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo.sdk import UNLABELLED, DataError, DatasetInfo, RawSplits, read_utf8, split_arrays, to_raw_splits


def load(cfg: Any, seed: int) -> RawSplits:
    """Seeded splits of `(text, 0)`: the label is a placeholder, `info.task` is unlabelled."""
    path = Path(cfg.path).expanduser()
    texts = read_lines(path, cfg.min_chars)
    if len(texts) < 3:
        raise DataError(f"{path} holds {len(texts)} text example(s) of at least {cfg.min_chars} "
                        "characters: pre-training needs more (at least one each for train, "
                        "validation and test)")
    x = np.array(texts, dtype=object)
    arrays = split_arrays(x, np.zeros(len(x), np.int32), cfg, seed, stratify=False)
    arrays = {split: (a.astype(str), b) for split, (a, b) in arrays.items()}
    info = DatasetInfo(name=cfg.name or path.stem, task=UNLABELLED, modality="text", input_shape=(),
                       input_dtype="string", extra={"text_pairs": False, "path": str(path)})
    return to_raw_splits(arrays, info)


def read_lines(path: Path, min_chars: int) -> list[str]:
    """Non-empty lines of a file, or the texts of a folder's `.txt` files (shorter ones dropped)."""
    if path.is_dir():
        files = sorted(path.rglob("*.txt"))
        if not files:
            raise DataError(f"{path} holds no .txt files: point dataset.path at a .txt file (one "
                            "example per line) or a folder of .txt files")
        texts = [" ".join(read_utf8(file).split()) for file in files]
    elif path.is_file():
        texts = [" ".join(line.split()) for line in read_utf8(path).splitlines()]
    else:
        raise DataError(f"text file or folder {path} not found: set dataset.path to a .txt file "
                        "(one example per line) or a folder of .txt files")
    return [text for text in texts if len(text) >= max(1, min_chars)]
