"""The user's text files: one sub-folder of UTF-8 `.txt` files per class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from zoo_plugins.text.labels import check_texts, class_ids, text_splits

from zoo.sdk import DataError, RawSplits, read_utf8


def load(cfg: Any, seed: int) -> RawSplits:
    """Seeded splits of `(text, class id)`; the class names are the sub-folder names."""
    root = Path(cfg.path).expanduser()
    texts, labels = read_folder(root)
    ids, names = class_ids(labels, str(root))
    test = None
    if cfg.test_path:
        test_texts, test_labels = read_folder(Path(cfg.test_path).expanduser())
        test = (test_texts, class_ids(test_labels, str(cfg.test_path), names)[0])
    return text_splits(texts, ids, names, cfg, seed, cfg.name or root.name, test,
                       {"path": str(root), "label_map": dict(enumerate(names))})


def read_folder(root: Path) -> tuple[np.ndarray, list[str]]:
    """Texts of `root/<class>/*.txt` and their class names."""
    if not root.is_dir():
        raise DataError(f"text folder {root} not found: set dataset.path to a folder with one "
                        "sub-folder of .txt files per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root} has no class sub-folders: put each class's .txt files in "
                        "its own sub-folder")
    texts, labels, files = [], [], []
    for name in classes:
        found = sorted((root / name).glob("*.txt"))
        if not found:
            raise DataError(f"class folder {root / name} holds no .txt files: add some or remove it")
        for file in found:
            texts.append(read_utf8(file))
            labels.append(name)
            files.append(str(file))
    check_texts(texts, str(root), files)
    return np.array(texts, dtype=object), labels
