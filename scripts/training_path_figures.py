"""Figures of `zoo train`'s path (issue 26's "one run object"), from the source alone.

    python scripts/training_path_figures.py [TREE]

- the widest functions of the training path (`zoo/training/`, `zoo/cli/hydra_apps.py`,
  `zoo/api.py`): parameters besides `self`/`cls`;
- the places a `zoo train` config is checked: functions of that path that call a config check
  (`check_missing`, `check_names`, `check_train_config`, `check_tracking`, the modes' `configure`);
- lines of `zoo/training/trainer.py` + `zoo/cli/hydra_apps.py` (and `zoo/training/runner.py`).
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

CHECKS = {"check_missing", "check_names", "check_train_config", "check_tracking", "configure"}


def path_files(root: Path) -> list[Path]:
    training = sorted((root / "zoo/training").glob("*.py"))
    return [*training, root / "zoo/cli/hydra_apps.py", root / "zoo/api.py"]


def functions(root: Path) -> list[tuple[str, ast.FunctionDef]]:
    found = []
    for file in path_files(root):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((f"{file.relative_to(root)}:{node.name}", node))
    return found


def parameters(node: ast.FunctionDef) -> int:
    args = node.args
    return len([a for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg not in ("self", "cls")])


def checking_places(root: Path) -> list[str]:
    places = []
    for name, node in functions(root):
        called = {c.func.id if isinstance(c.func, ast.Name) else getattr(c.func, "attr", "")
                  for c in ast.walk(node) if isinstance(c, ast.Call)}
        if called & CHECKS and "check_evaluate_config" not in called:  # `zoo evaluate`'s own
            places.append(f"{name} ({', '.join(sorted(called & CHECKS))})")
    return places


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=".", type=Path)
    root = parser.parse_args().tree
    widest = sorted(((parameters(node), name) for name, node in functions(root)), reverse=True)[:3]
    print("widest functions:", ", ".join(f"{name} ({count})" for count, name in widest))
    places = checking_places(root)
    print(f"places a zoo train config is checked: {len(places)}")
    for place in places:
        print("  " + place)
    for rel in ("zoo/training/trainer.py", "zoo/cli/hydra_apps.py", "zoo/training/runner.py"):
        path = root / rel
        print(f"lines {rel}: {len(path.read_text().splitlines()) if path.exists() else 0}")


if __name__ == "__main__":
    main()
