"""Word vectors from a text file (GloVe / word2vec text format) for an embedding's start."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.sdk import DataError


def load_word_vectors(path: str, vocabulary: list[str] | None) -> np.ndarray:
    """An embedding matrix for `vocabulary`: the file's vector for known words, small noise else."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"word-vector file {path} not found: check model.embeddings_path")
    if not vocabulary:
        raise DataError("model.embeddings_path needs a text dataset (the vocabulary indexes it)")
    index = {word: i for i, word in enumerate(vocabulary)}
    matrix, found = None, 0
    with file.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            parts = line.rstrip().split(" ")
            if number == 1 and len(parts) == 2:
                continue  # word2vec header: count and dimension
            if matrix is None:
                matrix = np.random.default_rng(0).normal(0, 0.05, (len(vocabulary), len(parts) - 1))
            if len(parts) - 1 != matrix.shape[1]:
                raise DataError(f"line {number} of {file} has {len(parts) - 1} values, the first "
                                f"vector {matrix.shape[1]}: one `word v1 v2 ...` per line")
            if parts[0] in index:
                matrix[index[parts[0]]] = np.asarray(parts[1:], np.float32)
                found += 1
    if matrix is None or not found:
        raise DataError(f"{file} has no vector for any word of the vocabulary: is it a word-vector "
                        "text file of the data's language?")
    matrix[0] = 0.0  # padding
    return matrix.astype(np.float32)
