"""The user's unlabelled text (language-model pre-training): a UTF-8 `.txt` file or a folder of them
(searched recursively), cut into documents as `documents` says:

- `lines`: one document a non-empty line, whitespace collapsed (masked-LM sentences); a folder's
  files are one document each, whitespace collapsed.
- `paragraphs`: documents separated by blank lines, kept as written (newlines inside kept) - what a
  GPT learns running text from (a play's speaker line followed by the speech, verse, code). A text
  of fewer than three paragraphs (one sentence a line, no blank lines) is one stream, cut at line
  ends into `STREAM_BLOCKS` blocks of consecutive lines so that every split gets some of it.
- `files`: a folder's files one document each, kept as written (a single file is one document).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from zoo.sdk import (
    UNLABELLED,
    DataError,
    DatasetInfo,
    RawSplits,
    TextFacts,
    read_utf8,
    split_arrays,
    to_raw_splits,
)

DOCUMENTS = ("lines", "paragraphs", "files")
STREAM_BLOCKS = 20  # blocks a text without paragraphs is cut into (train, validation and test each get some)
log = logging.getLogger("zoo.data")
BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def load(cfg: Any, seed: int) -> RawSplits:
    """Seeded splits of `(text, 0)`: the label is a placeholder, `info.task` is unlabelled."""
    path = Path(cfg.path).expanduser()
    documents = getattr(cfg, "documents", "lines")
    texts = read_documents(path, cfg.min_chars, documents)
    if len(texts) < 3:
        raise DataError(f"{path} holds {len(texts)} text example(s) of at least {cfg.min_chars} "
                        f"characters (dataset.documents={documents}): pre-training needs more (at least "
                        "one each for train, validation and test)")
    x = np.array(texts, dtype=object)
    arrays = split_arrays(x, np.zeros(len(x), np.int32), cfg, seed, stratify=False)
    arrays = {split: (a.astype(str), b) for split, (a, b) in arrays.items()}
    info = DatasetInfo(name=cfg.name or path.stem, task=UNLABELLED, modality="text", input_shape=(),
                       input_dtype="string", text=TextFacts(pairs=False),
                       extra={"path": str(path), "documents": documents})
    return to_raw_splits(arrays, info)


def paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks of `text`, each as written (line ends normalised, trailing
    spaces of each line dropped)."""
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    return [block.strip("\n") for block in BLANK_LINES.split(text) if block.strip()]


def line_blocks(text: str, blocks: int) -> list[str]:
    """`text` cut at line ends into at most `blocks` runs of consecutive lines, in order."""
    lines = text.split("\n")
    size = math.ceil(len(lines) / blocks)
    return ["\n".join(lines[i:i + size]) for i in range(0, len(lines), size)]


def read_documents(path: Path, min_chars: int, documents: str = "lines") -> list[str]:
    """The documents of a file or a folder's `.txt` files (shorter ones than `min_chars` dropped)."""
    if documents not in DOCUMENTS:
        raise DataError(f"dataset.documents={documents!r}: expected one of {', '.join(DOCUMENTS)} "
                        "(paragraphs keeps the text as written, blank lines separate documents)")
    if path.is_dir():
        files = sorted(path.rglob("*.txt"))
        if not files:
            raise DataError(f"{path} holds no .txt files: point dataset.path at a .txt file or a "
                            "folder of .txt files")
        contents = [read_utf8(file) for file in files]
    elif path.is_file():
        contents = [read_utf8(path)]
    else:
        raise DataError(f"text file or folder {path} not found: set dataset.path to a .txt file "
                        "or a folder of .txt files")
    if documents == "paragraphs":
        texts = [p for content in contents for p in paragraphs(content)]
        if len(texts) < 3:
            texts = [block for text in texts for block in line_blocks(text, STREAM_BLOCKS)]
            log.info("%s has fewer than 3 paragraphs: one stream, cut at line ends into %d blocks",
                     path, len(texts))
    elif documents == "files":
        texts = ["\n\n".join(paragraphs(content)) for content in contents]
    elif path.is_dir():
        texts = [" ".join(content.split()) for content in contents]
    else:
        texts = [" ".join(line.split()) for line in contents[0].splitlines()]
    return [text for text in texts if len(text) >= max(1, min_chars)]

