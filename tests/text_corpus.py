"""A small real labelled text set for tests: first paragraphs of installed docstrings, labelled by
what the library does (numpy: arrays; os, shutil, pathlib...: files and processes). The same set the
conformance kit trains text models on (`zoo.testing.data`)."""

from __future__ import annotations

from pathlib import Path

from zoo.testing.data import TOPICS, docstrings, write_topics

SOURCES = {topic: list(modules) for topic, modules in TOPICS.items()}
__all__ = ["SOURCES", "docstrings", "write_corpus"]


def write_corpus(path: Path, per_class: int = 150, seed: int = 0) -> Path:
    """A CSV (`text`, `topic`) with up to `per_class` examples of each topic, shuffled."""
    return write_topics(path, per_class, seed)
