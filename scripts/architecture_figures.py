"""Architecture figures of a Keras Zoo tree (issue 12's before/after), from the source alone.

    python scripts/architecture_figures.py [TREE] [--json]

- core modules plugins import: distinct `zoo.*` modules imported anywhere under `plugins/`;
- back-imports: pairs of `zoo` subpackages that import each other (either direction, any depth
  of function nesting: what a layered design forbids);
- private-API sites outside `zoo/core/compat.py`: attribute uses and `getattr` strings of
  `_private` names on objects other than `self`/`cls`, in `zoo/` and `plugins/`;
- family names in the core: the built-in families' names as words in `zoo/**/*.py` and
  `conf/**/*.yaml` (the default `model: cnn` in conf/train.yaml is one);
- lines of the core: lines of `zoo/**/*.py`.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
from collections import defaultdict
from pathlib import Path

FAMILIES = ("mlp", "cnn", "resnet", "lstm", "gru", "bert", "gpt", "gan", "vae")
COMPAT = ("zoo/compat.py", "zoo/core/compat.py")


def imported_modules(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def private_sites(tree: ast.AST) -> int:
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                count += 1
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                "getattr", "hasattr", "setattr") and len(node.args) > 1
              and isinstance(node.args[1], ast.Constant) and str(node.args[1].value).startswith("_")
              and not str(node.args[1].value).startswith("__")):
            count += 1
    return count


def figures(root: Path) -> dict[str, object]:
    modules = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
               for p in (root / "zoo").rglob("*.py")}
    plugin_imports: set[str] = set()
    private = 0
    for path in sorted((root / "plugins").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        plugin_imports |= {m for m in imported_modules(tree) if m in modules and m != "zoo"}
        private += private_sites(tree)
    edges: dict[tuple[str, str], int] = defaultdict(int)
    lines = 0
    for path in sorted((root / "zoo").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines += len(text.splitlines())
        tree = ast.parse(text)
        rel = path.relative_to(root).as_posix()
        if rel not in COMPAT:
            private += private_sites(tree)
        parts = path.relative_to(root / "zoo").with_suffix("").parts
        source = parts[0] if len(parts) > 1 else parts[0]
        for name in imported_modules(tree):
            if name.startswith("zoo.") and name.split(".")[1] != source:
                edges[(source, name.split(".")[1])] += 1
    back = sorted({tuple(sorted(pair)) for pair in edges if pair[::-1] in edges})
    word = re.compile(r"\b(" + "|".join(FAMILIES) + r")\b", re.I)
    family_names = 0
    for pattern in ("zoo/**/*.py", "conf/**/*.yaml"):
        for path in root.glob(pattern):
            family_names += len(word.findall(path.read_text(encoding="utf-8")))
    return {"core modules plugins import": len(plugin_imports), "back-imports": len(back),
            "back-import pairs": [" <-> ".join(p) for p in back],
            "private-API sites outside compat": private, "family names in the core": family_names,
            "lines of the core": lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=".", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = figures(args.tree)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"{key:36} {', '.join(value) if isinstance(value, list) else value}")


if __name__ == "__main__":
    main()
