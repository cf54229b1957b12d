"""A TFLite bundle's string lookups at inference: `lookups.json` (written by `zoo.export.lookups`)
maps each categorical column's strings to the `StringLookup` ids the graph takes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LOOKUPS_JSON = "lookups.json"


class Lookups:
    """Strings -> `StringLookup` ids from `lookups.json` (for a TFLite artifact beside it)."""

    def __init__(self, folder: Path, names: list[str]):
        file = folder / LOOKUPS_JSON
        vocab = json.loads(file.read_text()) if file.exists() else {}
        self.tables = {i: {word: k for k, word in enumerate(vocab[name]) if k}
                       for i, name in enumerate(names) if name in vocab}

    def apply(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if not self.tables:
            return inputs
        out = list(inputs)
        for i, table in self.tables.items():
            ids = [table.get(str(word), 0) for word in np.asarray(inputs[i]).reshape(-1)]
            out[i] = np.array(ids, np.int64).reshape(np.shape(inputs[i]))
        return out
