"""One path syntax for every command: `run_dir=PATH` as the shell passes it, or Hydra-quoted.

Hydra reads `,` `=` `[` `'` and spaces in a value as its own syntax, so `zoo train` and `zoo
evaluate` quote path values that hold them before Hydra parses; the plain `key=value` commands
(`export`, `predict`, `serve`, `generate`) accept a Hydra-quoted value and unquote it. Either
form names the same folder in every command.
"""

from __future__ import annotations

import re

# Keys whose values are paths (quoted for Hydra when they hold its syntax).
PATH_KEYS = ("run_dir", "output", "dataset.path", "dataset.test_path", "dataset.data_dir",
             "distill.teacher", "model.preset", "model.embeddings_path")
PLAIN = re.compile(r"[\w/.+\-~@%]*")


def hydra_quoted(arg: str) -> str:
    """`run_dir=runs/a,b` -> `run_dir='runs/a,b'` (a path key whose value Hydra would misread)."""
    key, sep, value = arg.partition("=")
    if not sep or key.lstrip("+~") not in PATH_KEYS or PLAIN.fullmatch(value) or value[:1] in "'\"":
        return arg
    escaped = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, value).replace("'", "\\'")
    return f"{key}='{escaped}'"


def unquoted(value: str) -> str:
    """`'runs/a,b'` -> `runs/a,b`: a value written in Hydra's quotes, as Hydra would read it."""
    if len(value) < 2 or value[0] not in "'\"" or value[-1] != value[0]:
        return value
    quote, inner = value[0], value[1:-1]
    return re.sub(r"(\\+)(" + quote + "|$)", lambda m: m.group(1)[: len(m.group(1)) // 2] + m.group(2),
                  inner)
