"""A small real labelled text set for tests: first paragraphs of installed docstrings, labelled by
what the library does (numpy: arrays; os, shutil, pathlib...: files and processes)."""

from __future__ import annotations

import csv
import inspect
import random
from pathlib import Path

SOURCES = {"arrays": ["numpy", "numpy.linalg", "numpy.fft", "numpy.random"],
           "files": ["os", "os.path", "shutil", "pathlib", "glob", "tempfile", "subprocess", "io"]}


def docstrings(modules: list[str]) -> list[str]:
    import importlib

    seen: dict[str, None] = {}
    for name in modules:
        for attr, obj in sorted(vars(importlib.import_module(name)).items()):
            if attr.startswith("_") or not callable(obj):
                continue
            text = " ".join((inspect.getdoc(obj) or "").split("\n\n")[0].split())
            if len(text) >= 25:
                seen.setdefault(text)
    return list(seen)


def write_corpus(path: Path, per_class: int = 150, seed: int = 0) -> Path:
    """A CSV (`text`, `topic`) with up to `per_class` examples of each topic, shuffled."""
    rng = random.Random(seed)
    rows = []
    for topic, modules in SOURCES.items():
        texts = docstrings(modules)
        rng.shuffle(texts)
        rows += [(text, topic) for text in texts[:per_class]]
    rng.shuffle(rows)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "topic"])
        writer.writerows(rows)
    return path
