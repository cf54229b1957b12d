"""Small real text sets for conformance cases, written offline from installed packages' docstrings.

A plugin's case declares one through the SDK, `ConformanceCase(data=lazy("zoo.sdk:labelled_text"))`:
called with a folder, it writes the data there and returns the overrides that point the run at it.
"""

from __future__ import annotations

import csv
import importlib
import inspect
import random
from collections.abc import Sequence
from pathlib import Path

# Two topics a model can tell apart by their words: numpy's arrays, the standard library's files.
TOPICS = {"arrays": ("numpy", "numpy.linalg", "numpy.fft", "numpy.random"),
          "files": ("os", "os.path", "shutil", "pathlib", "glob", "tempfile", "subprocess", "io")}


def docstrings(modules: Sequence[str]) -> list[str]:
    """First paragraphs (whitespace collapsed, 25 characters or more) of the modules' public callables."""
    seen: dict[str, None] = {}
    for name in modules:
        for attr, obj in sorted(vars(importlib.import_module(name)).items()):
            if attr.startswith("_") or not callable(obj):
                continue
            text = " ".join((inspect.getdoc(obj) or "").split("\n\n")[0].split())
            if len(text) >= 25:
                seen.setdefault(text)
    return list(seen)


def write_topics(path: Path, per_class: int, seed: int = 0) -> Path:
    """A CSV of `text,topic` rows (up to `per_class` of each topic, shuffled) at `path`."""
    rng = random.Random(seed)
    rows = []
    for topic, modules in TOPICS.items():
        texts = docstrings(modules)
        rng.shuffle(texts)
        rows += [(text, topic) for text in texts[:per_class]]
    rng.shuffle(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "topic"])
        writer.writerows(rows)
    return path


def labelled_text(folder: Path, per_class: int = 60, seed: int = 0) -> list[str]:
    """Overrides of a `text_csv` dataset of `write_topics` rows written into `folder`."""
    path = write_topics(folder / "topics.csv", per_class, seed)
    return ["dataset=text_csv", f"dataset.path={path}", "dataset.label_column=topic"]


def unlabelled_text(folder: Path, lines: int = 120) -> list[str]:
    """A .txt file of docstring paragraphs, one a line, for a `text_lines` dataset."""
    texts = [t for modules in TOPICS.values() for t in docstrings(modules)][:lines]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "docstrings.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return ["dataset=text_lines", f"dataset.path={path}"]
