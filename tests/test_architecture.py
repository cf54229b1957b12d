"""The architecture holds: imports flow one way (import-linter's contracts in setup.cfg), the core
names no family in code or config, and the docs name only modules that exist."""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())", "setup.cfg", "--no-cache"]


def lint(tree: Path = REPO) -> subprocess.CompletedProcess:
    """`lint-imports` over the `zoo` and `zoo_plugins` packages of `tree` (this checkout, or a copy)."""
    env = dict(os.environ)
    if tree != REPO:
        links = tree / ".packages"
        links.mkdir(exist_ok=True)
        if not (links / "zoo_plugins").exists():
            (links / "zoo_plugins").symlink_to(tree / "plugins")
        env["PYTHONPATH"] = f"{tree}{os.pathsep}{links}"
    return subprocess.run(LINT, cwd=tree, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    for name in ("zoo", "plugins"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "conf"))
    shutil.copy(REPO / "setup.cfg", root / "setup.cfg")
    return root


def test_import_contracts_hold():
    result = lint()
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Contracts: 5 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("zoo/tasks/training.py", "from zoo.training import trainer",
     "zoo.tasks is not allowed to import zoo.training"),
    ("zoo/runtime/bundle.py", "from zoo.serving import app",
     "zoo.runtime is not allowed to import zoo.serving"),
    ("zoo/core/errors.py", "import zoo_plugins.mlp", "zoo is not allowed to import zoo_plugins"),
    ("plugins/mlp/model.py", "from zoo.core.errors import ZooError",
     "zoo_plugins is not allowed to import zoo.core"),
    ("plugins/cnn/model.py", "from zoo_plugins.mlp import model", "zoo_plugins.cnn is not allowed to import"),
    ("zoo/serving/app.py", "import keras", "zoo.serving is not allowed to import keras"),
])
def test_a_wrong_way_import_breaks_a_contract(tree_copy, module, line, broken):
    path = tree_copy / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{line}  # noqa\n", encoding="utf-8")
    try:
        result = lint(tree_copy)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode != 0 and broken in result.stdout, result.stdout[-2000:]


def family_words() -> re.Pattern:
    """The built-in families' plugin names and the models they register, as whole words."""
    from zoo.core.registry import build_registry

    registry = build_registry()
    builtin = {p.name for p in registry.plugins if "(zoo_plugins." in p.source}
    names = builtin | {m for m in registry.names("model") if registry.owner("model", m) in builtin}
    assert {"mlp", "cnn", "bert", "gan"} <= names
    return re.compile(r"(?<![A-Za-z])(" + "|".join(sorted(names - {"text"})) + r")(?![A-Za-z])", re.I)


def code_strings_and_names(source: str) -> list[tuple[int, str]]:
    """Identifiers and string literals of Python source, docstrings and comments left out."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    out = []
    for i, tok in enumerate(tokens):
        previous = next((t for t in reversed(tokens[:i]) if t.type not in (
            tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT)), None)
        docstring = tok.type == tokenize.STRING and (previous is None or previous.string in (":", "")
                                                     or previous.type == tokenize.NEWLINE)
        if tok.type == tokenize.NAME or (tok.type == tokenize.STRING and not docstring):
            out.append((tok.start[0], tok.string))
    return out


HELP_TEXT = '"""\\\nusage:'  # `zoo --help`'s usage text: documentation, with example commands


def test_the_core_names_no_family_in_code_or_config():
    words = family_words()
    offenders = []
    for path in sorted((REPO / "zoo").rglob("*.py")):
        offenders += [f"{path.relative_to(REPO)}:{n}: {text[:60]}"
                      for n, text in code_strings_and_names(path.read_text(encoding="utf-8"))
                      if (words.search(text) or "zoo_plugins" in text) and not text.startswith(HELP_TEXT)]
    for path in sorted((REPO / "conf").rglob("*.yaml")):
        if path.parent.name == "help":  # the help page's example commands are documentation
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            if words.search(code) and not (path.name == "train.yaml" and code.strip() == "- model: cnn"):
                offenders.append(f"{path.relative_to(REPO)}:{n}: {code.strip()}")
    assert not offenders, "the core names a family (families live in plugins/):\n" + "\n".join(offenders)


DOC_ROOTS = (REPO, REPO / "tests" / "toy_plugin" / "zoo_toy_plugin")  # the toy plugin's own conf/
NOT_MODULES = {"zoo.plugins", "zoo.core_plugins", "zoo.builtin", "zoo.builtin.training",  # entry-point
               # groups, the core plugins' names
               "zoo.run_dir", "zoo.model", "zoo.dataset"}  # the tags of an MLflow run


def test_docs_name_only_modules_and_files_that_exist():
    import zoo

    missing = []
    for doc in sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")]):
        text = doc.read_text(encoding="utf-8")
        paths = re.findall(r"(?<![\w/.-])((?:zoo|plugins|scripts|tests|conf)/[\w/.-]*\.(?:py|yaml|md|json))",
                           text)
        for path in set(paths):
            if not re.search(r"[A-Z]{3,}", path) and not any((root / path).exists() for root in DOC_ROOTS):
                missing.append(f"{doc.name}: {path}")
        for dotted in set(re.findall(r"`(zoo(?:\.\w+)+)", text)) - NOT_MODULES:
            parts = dotted.split(".")
            found = next((i for i in range(len(parts), 1, -1)
                          if REPO.joinpath(*parts[:i]).with_suffix(".py").exists()
                          or REPO.joinpath(*parts[:i]).is_dir()), 1)
            if found == 1 and not hasattr(zoo, parts[1]):
                missing.append(f"{doc.name}: {dotted}")
    assert not missing, "the docs name modules or files that are not there:\n" + "\n".join(sorted(missing))


def test_the_sdk_table_its_typing_block_and_its_docs_agree():
    """`zoo.sdk` lists each name twice (the lazy table it imports from, the `TYPE_CHECKING` imports
    type checkers read): both say the same module for the same names, each name resolves, and
    docs/plugins.md documents each one."""
    import ast

    import zoo.sdk as sdk

    tree = ast.parse((REPO / "zoo/sdk.py").read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and getattr(node.test, "id", "") == "TYPE_CHECKING")
    typed: dict[str, set[str]] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom), ast.dump(node)
        typed.setdefault(node.module, set()).update(alias.name for alias in node.names)
    table = {module: set(names) for module, names in sdk._MODULES.items()}
    assert typed == table
    docs = (REPO / "docs/plugins.md").read_text().split("## The SDK", 1)[1].split("\n## ", 1)[0]
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None
        assert re.search(rf"[`.]{name}[`(]", docs), f"docs/plugins.md's SDK table does not list {name}"


def test_every_tiered_module_exists_and_the_tiers_do_not_overlap():
    """The fast tier names real modules (a renamed file would silently leave it), once each."""
    from conftest import SYSTEM_MODULES, UNIT_MODULES

    present = {path.stem for path in (REPO / "tests").glob("test_*.py")}
    assert present >= UNIT_MODULES, sorted(UNIT_MODULES - present)
    assert present >= SYSTEM_MODULES, sorted(SYSTEM_MODULES - present)
    assert not UNIT_MODULES & SYSTEM_MODULES


@functools.cache
def _figures_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("architecture_figures",
                                                  REPO / "scripts" / "architecture_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _trees() -> dict:
    return _figures_script()._sources(REPO)


def test_no_module_named_in_a_string_climbs_the_layers():
    """What the import contracts cannot see: `lazy("zoo.x:y")`, registry load strings, plugins'
    strings naming anything but `zoo.sdk` (scripts/architecture_figures.py)."""
    figures = _figures_script()
    assert figures.string_climbs(_trees(), figures.layer_order(REPO)) == []


def test_private_library_apis_are_used_only_in_compat():
    figures = _figures_script()
    sites = figures.private_api_sites(_trees())
    assert any(site.startswith("zoo/core/compat.py") for site in sites)  # the check sees them
    assert [s for s in sites if not s.startswith("zoo/core/compat.py")] == []
