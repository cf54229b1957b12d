"""Build a labelled text set from real text that ships offline: the first paragraph of every
public function/class docstring of installed libraries, labelled by library.

    python scripts/make_docstring_corpus.py docstrings.csv [--libraries numpy sklearn matplotlib scipy]

Writes a CSV with columns `text,library` (shuffled, seed 0), for `experiment=lstm_text_csv` /
`bert_text_csv` with `dataset.label_column=library`, and `scripts/benchmark_bert.py`.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import inspect
import pkgutil
import random
import warnings
from collections.abc import Iterator
from pathlib import Path

SKIP = ("tests", "testing", "conftest")


def submodules(path: list[str], prefix: str) -> Iterator[str]:
    """Importable public sub-modules under `path` (tests and private modules skipped)."""
    for info in pkgutil.iter_modules(path, prefix):
        parts = info.name.split(".")[1:]
        if any(part.startswith("_") or part in SKIP or part.endswith("_test") for part in parts):
            continue
        yield info.name
        if info.ispkg:
            module = try_import(info.name)
            if module is not None:
                yield from submodules(module.__path__, info.name + ".")


def try_import(name: str) -> object | None:
    """The module, or None when it fails to import (optional back-ends, test-only modules)."""
    try:
        return importlib.import_module(name)
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - also pytest's Skipped and SystemExit from import-time code
        return None


def library_docstrings(library: str, seen: set[str], min_chars: int = 40) -> list[str]:
    """First docstring paragraphs of `library`'s public functions and classes, not in `seen`."""
    root = importlib.import_module(library)
    modules = [root]
    for name in submodules(root.__path__, library + "."):
        module = try_import(name)
        if module is not None:
            modules.append(module)
    texts = []
    for module in modules:
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if not getattr(obj, "__module__", "").startswith(library):
                continue
            text = " ".join((inspect.getdoc(obj) or "").split("\n\n")[0].split())
            if len(text) >= min_chars and text not in seen:
                seen.add(text)
                texts.append(text)
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--libraries", nargs="+", default=["numpy", "sklearn", "matplotlib", "scipy"])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    seen: set[str] = set()
    rows = []
    for library in args.libraries:
        try:
            texts = library_docstrings(library, seen)
        except ImportError as error:
            print(f"{library}: skipped ({error})")
            continue
        print(f"{library}: {len(texts)}")
        rows += [(text, library) for text in texts]
    random.Random(0).shuffle(rows)
    with args.output.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "library"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} examples to {args.output}")


if __name__ == "__main__":
    main()
