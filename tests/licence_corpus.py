"""Real English text that ships offline: the licence files of the installed distributions
(`*.dist-info/LICENSE*`, `COPYING*`), de-duplicated, one paragraph a line.

Only the distributions that `keras-zoo[test]` always brings (below, in name order) are read, so the
text stays the same when a tool is added to the environment (import-linter once changed it, and with
it what a tiny GPT learns)."""

from __future__ import annotations

import sysconfig
from pathlib import Path

DISTRIBUTIONS = ("absl_py", "aiohappyeyeballs", "aiohttp", "aiosignal", "astunparse", "attrs", "brotli",
                 "certifi", "click", "cloudpickle", "contourpy", "cycler", "filelock", "fonttools", "fsspec",
                 "gast", "gevent", "geventhttpclient", "greenlet", "grpcio", "h11", "h5py", "httpcore2",
                 "httptools", "httpx2", "hydra_core", "idna", "importlib_resources", "iniconfig", "jiter",
                 "joblib", "kiwisolver", "kubernetes_validate", "libclang", "markdown", "markdown_it_py",
                 "matplotlib")


def licence_paragraphs(max_chars: int | None = None) -> list[str]:
    """Paragraphs (whitespace collapsed, >= 40 characters) of the `DISTRIBUTIONS`' licence files, in order."""
    root = Path(sysconfig.get_paths()["purelib"])
    files = sorted(p for pattern in ("*.dist-info/**/LICEN[CS]E*", "*.dist-info/**/COPYING*")
                   for p in root.glob(pattern)
                   if p.is_file() and p.relative_to(root).parts[0].split("-")[0].lower() in DISTRIBUTIONS)
    seen: dict[str, None] = {}
    total = 0
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        for block in text.split("\n\n"):
            paragraph = " ".join(block.split())
            if len(paragraph) >= 40 and paragraph not in seen:
                seen[paragraph] = None
                total += len(paragraph) + 1
                if max_chars and total >= max_chars:
                    return list(seen)
    return list(seen)


def write_lines(path: Path, max_chars: int | None = None) -> Path:
    path.write_text("\n".join(licence_paragraphs(max_chars)) + "\n", encoding="utf-8")
    return path
