"""Architecture figures of a Keras Zoo tree (issues 12 and 26: before/after), from the source alone.

    python scripts/architecture_figures.py [TREE] [--json] [--tests fast|all]

Issue 12's figures:
- core modules plugins import: distinct `zoo.*` modules imported anywhere under `plugins/`;
- back-imports: pairs of `zoo` subpackages that import each other;
- family names in the core: the built-in families' names as words in `zoo/**/*.py` and `conf/**/*.yaml`;
- lines of the core: lines of `zoo/**/*.py`.

Issue 26's figures:
- public steps a family may implement: distinct public methods (not properties) of the classes the SDK
  (`zoo/sdk.py`'s `_MODULES`) exports for families to subclass: those defined in `zoo/tasks/` and any
  SDK class a plugin subclasses; each class's own count is listed too;
- widest function: the function in `zoo/` with the most parameters (`self`/`cls` not counted);
- config validation sites: calls of `zoo/config/validate.py`'s `check_*` functions outside that file;
- private-API sites: `._name` uses and `getattr("_name")` strings whose name the project never defines
  (so it belongs to a library object), imports from private modules (`keras.src`, `tensorflow.python`,
  uvicorn submodules), private methods no project code calls (overrides of a library's hooks),
  assignments to attributes of those libraries (class-wide patches) and subclasses of uvicorn classes
  (uvicorn documents no subclassing); all of them and those outside
  `zoo/core/compat.py`;
- string-named layer climbs: `zoo.*` module names in strings (lazy specs, `import_module`, registry
  load strings) that name a module above (or beside) the layer of the file they are in, by setup.cfg's
  `layers` contract; in `plugins/` any `zoo.*` module other than `zoo.sdk` (logger names and the
  module of a `python -m` command line are not imports and do not count);
- duplicated blocks: the pair count of the `duplicates` command over the tree;
- fast-tier / full-suite test time: measured only with `--tests fast` (`pytest -m unit`) or
  `--tests all` (both), otherwise "not measured".
"""

from __future__ import annotations

import argparse
import ast
import configparser
import json
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

FAMILIES = ("mlp", "cnn", "resnet", "lstm", "gru", "bert", "gpt", "gan", "vae")
COMPAT = ("zoo/compat.py", "zoo/core/compat.py")
EXTERNAL = ("keras", "tensorflow", "uvicorn")  # libraries whose private names count
PRIVATE_MODULES = re.compile(r"^(keras\.src|tensorflow\.python|tf_keras\.src|uvicorn\.\w+)(\.|$)")
MODULE_STRING = re.compile(r"^(zoo(?:\.\w+)+)(?::[\w.]*)?$")


def imported_modules(tree: ast.AST) -> list[str]:
    names = []
    for node in _nodes(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


_NODES: dict[int, list[ast.AST]] = {}


def _nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of a module, walked once."""
    if id(tree) not in _NODES:
        _NODES[id(tree)] = list(ast.walk(tree))
    return _NODES[id(tree)]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _sources(root: Path) -> dict[str, ast.AST]:
    trees = {}
    for folder in ("zoo", "plugins"):
        for path in sorted((root / folder).rglob("*.py")):
            trees[path.relative_to(root).as_posix()] = ast.parse(path.read_text(encoding="utf-8"))
    return trees


def defined_private_names(trees: dict[str, ast.AST]) -> set[str]:
    """Private names the project itself defines: functions, classes, attributes it assigns, arguments."""
    names: set[str] = set()
    for tree in trees.values():
        for node in _nodes(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if not _overrides_external(node, tree):
                    names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if _root(node) not in _external_names(tree):
                    names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[-1])
    return {n for n in names if _private(n)}


_EXTERNAL_CACHE: dict[int, dict[str, str]] = {}


def _external_names(tree: ast.AST) -> dict[str, str]:
    """Local names bound to keras/tensorflow/uvicorn objects by imports, with the module they come from."""
    key = id(tree)
    if key not in _EXTERNAL_CACHE:
        names = {}
        for node in _nodes(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] in EXTERNAL:
                        names[a.asname or a.name.split(".")[0]] = a.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in EXTERNAL:
                for a in node.names:
                    names[a.asname or a.name] = f"{node.module}.{a.name}"
        _EXTERNAL_CACHE[key] = names
    return _EXTERNAL_CACHE[key]


def _root(node: ast.AST) -> str:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


_METHODS: dict[int, set[int]] = {}


def _overrides_external(func: ast.AST, tree: ast.AST) -> bool:
    """A private method that no code of the project calls: a library's hook it overrides (say Keras's
    `Distiller._extract_all_student_features`), whatever the class's bases."""
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)) or not _private(func.name):
        return False
    if id(tree) not in _METHODS:
        _METHODS[id(tree)] = {id(f) for cls in _nodes(tree) if isinstance(cls, ast.ClassDef)
                              for f in cls.body}
    return func.name in _called_nowhere and id(func) in _METHODS[id(tree)]


_called_nowhere: set[str] = set()  # private method names no code of the project calls (filled first)


def private_api_sites(trees: dict[str, ast.AST]) -> list[str]:
    """Every private-API site as `path:line what`."""
    used = defaultdict(int)
    for tree in trees.values():
        for node in _nodes(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                used[node.attr] += 1
    methods = {node.name for tree in trees.values() for node in _nodes(tree)
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _private(node.name)}
    _called_nowhere.clear()
    _called_nowhere.update(m for m in methods if not used[m])
    defined = defined_private_names(trees)
    sites = []
    for rel, tree in trees.items():
        external = _external_names(tree)
        for node in _nodes(tree):
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in defined:
                sites.append(f"{rel}:{line} .{node.attr}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) > 1
                  and isinstance(node.args[1], ast.Constant) and _private(str(node.args[1].value))
                  and node.args[1].value not in defined):
                sites.append(f"{rel}:{line} {node.func.id}({node.args[1].value!r})")
            elif isinstance(node, ast.ImportFrom) and node.module and PRIVATE_MODULES.match(node.module):
                sites.append(f"{rel}:{line} from {node.module} import")
            elif isinstance(node, ast.Import):
                sites += [f"{rel}:{line} import {a.name}" for a in node.names
                          if PRIVATE_MODULES.match(a.name)]
            elif _overrides_external(node, tree):
                sites.append(f"{rel}:{line} overrides {node.name}")
            elif isinstance(node, ast.ClassDef) and any(
                    external.get(_root(base), "").startswith("uvicorn") for base in node.bases):
                sites.append(f"{rel}:{line} subclasses {', '.join(ast.unparse(b) for b in node.bases)}")
            elif (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "type"
                  and len(node.args) == 3 and isinstance(node.args[1], ast.Tuple)
                  and any(_root(base) in external for base in node.args[1].elts)):
                sites.append(f"{rel}:{line} subclasses {ast.unparse(node.args[1])} (type())")
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and _root(target) in external:
                        sites.append(f"{rel}:{line} patches {ast.unparse(target)}")
    return sorted(set(sites))


def layer_order(root: Path) -> dict[str, int]:
    """`zoo` subpackage -> its rank in setup.cfg's layers contract (0 = the top)."""
    parser = configparser.ConfigParser()
    parser.read(root / "setup.cfg")
    ranks = {}
    # siblings written `a | b` share a rank
    text = parser["importlinter:contract:layers"]["layers"]
    for rank, line in enumerate(x for x in text.splitlines() if x.strip()):
        for item in line.split("|"):
            ranks[item.strip()] = rank
    return ranks


def _string_value(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)  # f"zoo.losses:{name}": its constant head
    return None


def string_climbs(trees: dict[str, ast.AST], ranks: dict[str, int]) -> list[str]:
    """`zoo.*` module names in strings that climb the layers (or, in plugins, pass by zoo.sdk)."""
    loggers = set()
    for tree in trees.values():
        for node in _nodes(tree):
            if isinstance(node, ast.Call) and "getLogger" in (getattr(node.func, "attr", ""),
                                                              getattr(node.func, "id", "")):
                loggers |= {id(a) for a in node.args}
    for tree in trees.values():  # `[python, "-m", "zoo.cli.main", ...]`: a command run, not an import
        for node in _nodes(tree):
            if isinstance(node, (ast.List, ast.Tuple)):
                for before, item in zip(node.elts, node.elts[1:], strict=False):
                    if isinstance(before, ast.Constant) and before.value == "-m":
                        loggers.add(id(item))
    climbs = []
    for rel, tree in trees.items():
        parts = rel.removesuffix(".py").split("/")
        for node in _nodes(tree):
            if id(node) in loggers or not isinstance(node, (ast.JoinedStr, ast.Constant)):
                continue
            text = _string_value(node)
            match = MODULE_STRING.match(text) if text else None
            if not match and text and text.startswith("zoo.") and isinstance(node, ast.JoinedStr):
                match = re.match(r"^(zoo(?:\.\w+)+)", text)
            if not match:
                continue
            target = match.group(1).split(".")
            layer = target[1]
            if layer not in ranks:
                continue
            if parts[0] == "plugins":
                if layer != "sdk":
                    climbs.append(f"{rel}:{node.lineno} {text!r} (plugins use zoo.sdk only)")
                continue
            source = parts[1] if len(parts) > 2 else parts[1]
            if source not in ranks or source == layer:
                continue
            if ranks[layer] <= ranks[source]:
                climbs.append(f"{rel}:{node.lineno} {text!r} ({source} names {layer})")
    return sorted(set(climbs))


def family_steps(root: Path, trees: dict[str, ast.AST]) -> tuple[int, dict[str, int]]:
    """Distinct public methods of the SDK's family-facing classes, and each class's own count."""
    sdk = ast.parse((root / "zoo" / "sdk.py").read_text(encoding="utf-8"))
    exported: dict[str, str] = {}
    for node in ast.walk(sdk):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "_MODULES":
            for module, names in ast.literal_eval(node.value).items():
                exported |= {name: module for name in names}
    subclassed = {_root(base) if isinstance(base, ast.Name) else getattr(base, "attr", "")
                  for rel, tree in trees.items() if rel.startswith("plugins/")
                  for node in _nodes(tree) if isinstance(node, ast.ClassDef) for base in node.bases}
    counts: dict[str, int] = {}
    names: set[str] = set()
    for name, module in exported.items():
        if not (module.startswith("zoo.tasks") or name in subclassed):
            continue
        rel = module.replace(".", "/") + ".py"
        for node in ast.walk(trees.get(rel) or ast.Module(body=[], type_ignores=[])):
            if isinstance(node, ast.ClassDef) and node.name == name:
                public = [f.name for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                          and not f.name.startswith("_")
                          and not any(getattr(d, "id", "") in ("property", "staticmethod")
                                      for d in f.decorator_list)]
                counts[name] = len(public)
                names |= set(public)
    return len(names), counts


def widest_function(trees: dict[str, ast.AST]) -> tuple[int, str]:
    best = (0, "")
    for rel, tree in trees.items():
        if not rel.startswith("zoo/"):
            continue
        for node in _nodes(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs
                          if p.arg not in ("self", "cls")]
                count = len(params) + (a.vararg is not None) + (a.kwarg is not None)
                if count > best[0]:
                    best = (count, f"{rel}:{node.lineno} {node.name}")
    return best


def longest_function(trees: dict[str, ast.AST]) -> tuple[int, str]:
    best = (0, "")
    for rel, tree in trees.items():
        if rel.startswith("zoo/"):
            for node in _nodes(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > best[0]:
                        best = (length, f"{rel}:{node.lineno} {node.name}")
    return best


def validation_sites(trees: dict[str, ast.AST]) -> list[str]:
    validators = {node.name for node in ast.walk(trees.get("zoo/config/validate.py", ast.Module(body=[])))
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("check_")}
    sites = []
    for rel, tree in trees.items():
        if rel == "zoo/config/validate.py":
            continue
        for node in _nodes(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in validators:
                    sites.append(f"{rel}:{node.lineno} {name}")
    return sorted(sites)


def duplicate_pairs(root: Path) -> str:
    if not shutil.which("duplicates"):
        return "not measured (no `duplicates` command)"
    out = subprocess.run(["duplicates", "--repo", str(root), "--seconds", "120"], capture_output=True,
                         text=True, check=False).stdout
    first = out.splitlines()[0] if out else ""
    match = re.match(r"(\d+) pairs", first)
    return match.group(1) if match else ("0" if "no duplicates" in first else first)


def test_time(root: Path, marker: str | None) -> str:
    """Wall time of a pytest run (with `-m marker`), and its summary line."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           *(["-m", marker] if marker else [])]
    start = time.monotonic()
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False).stdout
    summary = next((line for line in reversed(out.splitlines()) if " in " in line and "=" in line), "")
    return f"{time.monotonic() - start:.0f} s ({summary.strip('= ')})"


def figures(root: Path, tests: str = "") -> dict[str, object]:
    trees = _sources(root)
    modules = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
               for p in (root / "zoo").rglob("*.py")}
    plugin_imports: set[str] = set()
    for rel, tree in trees.items():
        if rel.startswith("plugins/"):
            plugin_imports |= {m for m in imported_modules(tree) if m in modules and m != "zoo"}
    edges: dict[tuple[str, str], int] = defaultdict(int)
    lines = 0
    for path in sorted((root / "zoo").rglob("*.py")):
        lines += len(path.read_text(encoding="utf-8").splitlines())
        parts = path.relative_to(root / "zoo").with_suffix("").parts
        source = parts[0]
        for name in imported_modules(trees[path.relative_to(root).as_posix()]):
            if name.startswith("zoo.") and name.split(".")[1] != source:
                edges[(source, name.split(".")[1])] += 1
    back = sorted({tuple(sorted(pair)) for pair in edges if pair[::-1] in edges})
    word = re.compile(r"\b(" + "|".join(FAMILIES) + r")\b", re.I)
    family_names = 0
    for pattern in ("zoo/**/*.py", "conf/**/*.yaml"):
        for path in root.glob(pattern):
            family_names += len(word.findall(path.read_text(encoding="utf-8")))
    steps, per_class = family_steps(root, trees)
    width, widest = widest_function(trees)
    length, longest = longest_function(trees)
    private = private_api_sites(trees)
    outside = [s for s in private if s.split(":")[0] not in COMPAT]
    climbs = string_climbs(trees, layer_order(root))
    validated = validation_sites(trees)
    return {
        "lines of the core": lines,
        "public steps a family may implement": steps,
        "steps per family-facing class": [f"{k} {v}" for k, v in sorted(per_class.items())],
        "parameters of the widest function": width, "widest function": widest,
        "lines of the longest function": length, "longest function": longest,
        "config validation call sites": len(validated), "config validation sites": validated,
        "private-API sites": len(private), "private-API sites outside compat": len(outside),
        "private-API sites (outside compat)": outside,
        "string-named layer climbs": len(climbs), "string-named climbs": climbs,
        "duplicated blocks (duplicates pairs)": duplicate_pairs(root),
        "fast-tier test time": test_time(root, "unit") if tests in ("fast", "all") else "not measured",
        "full-suite test time": test_time(root, None) if tests == "all" else "not measured",
        "core modules plugins import": len(plugin_imports), "back-imports": len(back),
        "back-import pairs": [" <-> ".join(p) for p in back],
        "family names in the core": family_names,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=".", type=Path)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--tests", choices=("fast", "all"), default="",
                        help="also time `pytest -m unit` (fast) or it and the whole suite (all)")
    args = parser.parse_args()
    result = figures(args.tree.resolve(), args.tests)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        if isinstance(value, list):
            print(f"{key}:" + "".join(f"\n    {v}" for v in value) if value else f"{key:40} -")
        else:
            print(f"{key:40} {value}")


if __name__ == "__main__":
    main()
