"""Real English text that ships offline: the licence files of the installed distributions
(`*.dist-info/LICENSE*`, `COPYING*`), de-duplicated, one paragraph a line.

Only the distributions that `keras-zoo[test]` always brings (below, in name order) are read, so the
text stays the same when a tool is added to the environment (import-linter once changed it, and with
it what a tiny GPT learns)."""

from __future__ import annotations

import importlib.metadata
import textwrap
from pathlib import Path

DISTRIBUTIONS = ("absl_py", "aiohappyeyeballs", "aiohttp", "aiosignal", "astunparse", "attrs", "brotli",
                 "certifi", "click", "cloudpickle", "contourpy", "cycler", "filelock", "fonttools", "fsspec",
                 "gast", "gevent", "geventhttpclient", "greenlet", "grpcio", "h11", "h5py", "httpcore2",
                 "httptools", "httpx2", "hydra_core", "idna", "importlib_resources", "iniconfig", "jiter",
                 "joblib", "kiwisolver", "kubernetes_validate", "libclang", "markdown", "markdown_it_py",
                 "matplotlib")


def licence_paragraphs(max_chars: int | None = None, as_written: bool = False) -> list[str]:
    """Paragraphs (>= 40 characters) of the `DISTRIBUTIONS`' licence files, in order: whitespace
    collapsed, or `as_written` (line breaks kept, common indentation and trailing spaces dropped)."""
    root = Path(importlib.metadata.distribution(DISTRIBUTIONS[0]).locate_file(""))  # also from a venv
    files = sorted(p for pattern in ("*.dist-info/**/LICEN[CS]E*", "*.dist-info/**/COPYING*")
                   for p in root.glob(pattern)
                   if p.is_file() and p.relative_to(root).parts[0].split("-")[0].lower() in DISTRIBUTIONS)
    seen: dict[str, None] = {}
    total = 0
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        for block in text.replace("\r\n", "\n").split("\n\n"):
            paragraph = " ".join(block.split())
            if as_written:
                lines = (line.rstrip() for line in block.strip("\n").split("\n"))
                paragraph = textwrap.dedent("\n".join(lines))
            if len(paragraph.strip()) >= 40 and paragraph not in seen:
                seen[paragraph] = None
                total += len(paragraph) + 1
                if max_chars and total >= max_chars:
                    return list(seen)
    return list(seen)


def write_lines(path: Path, max_chars: int | None = None) -> Path:
    path.write_text("\n".join(licence_paragraphs(max_chars)) + "\n", encoding="utf-8")
    return path


def write_text(path: Path, max_chars: int | None = None) -> Path:
    """The paragraphs as written (line breaks kept), separated by blank lines: running text."""
    path.write_text("\n\n".join(licence_paragraphs(max_chars, as_written=True)) + "\n", encoding="utf-8")
    return path
