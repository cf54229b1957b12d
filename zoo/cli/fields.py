"""Help for config fields: name, type, default, range and help text of a schema dataclass.

The help text is a field's `metadata["help"]` when it has one, else the trailing `# comment` on
its line in the source (the convention of every schema in Keras Zoo and its plugins). No TensorFlow.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize
from dataclasses import dataclass
from typing import Any

from zoo.config.bounds import CHOICES, bounds_of


@dataclass(frozen=True)
class FieldHelp:
    """One config field as `zoo list models NAME` and `zoo train --help` show it."""

    key: str
    type: str
    default: Any
    help: str


def source_comments(cls: type) -> dict[str, str]:
    """`{field name: trailing comment}` from the class body's source (empty when it has none)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    name_of_line: dict[int, str] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return {}
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.NAME and i + 1 < len(tokens) and tokens[i + 1].string == ":" \
                and tok.start[1] > 0 and tok.start[0] not in name_of_line:
            name_of_line[tok.start[0]] = tok.string
        if tok.type == tokenize.COMMENT and tok.start[0] in name_of_line:
            comments[name_of_line[tok.start[0]]] = tok.string.lstrip("#").strip()
    return comments


def _default(item: dataclasses.Field) -> Any:
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return "???"


def field_help(cls: type, prefix: str = "") -> list[FieldHelp]:
    """Every field of the dataclass `cls` (nested dataclasses flattened to dotted keys)."""
    comments: dict[str, str] = {}
    for base in reversed(cls.__mro__):  # an inherited field's comment is on its own class's line
        if dataclasses.is_dataclass(base):
            comments.update(source_comments(base))
    rows: list[FieldHelp] = []
    for item in dataclasses.fields(cls):
        default = _default(item)
        if dataclasses.is_dataclass(default):
            rows += field_help(type(default), f"{prefix}{item.name}.")
            continue
        text = item.metadata.get("help") or comments.get(item.name, "")
        bounds = bounds_of(item)
        if bounds is not None and isinstance(default, int | float | list | type(None)) \
                and not isinstance(default, bool):
            text = f"{text} (range {bounds.text()})" if text else f"range {bounds.text()}"
        options = item.metadata.get(CHOICES)
        if options:
            text = f"{' | '.join(options)}" + (f" ({text})" if text else "")
        kind = item.type if isinstance(item.type, str) else getattr(item.type, "__name__", str(item.type))
        rows.append(FieldHelp(prefix + item.name, kind, default, text))
    return rows


def show(value: Any) -> str:
    """A default as the command line writes it (`null`, `true`, `[32,64]`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ",".join(show(v) for v in value) + "]"
    return str(value)


def field_table(rows: list[FieldHelp], indent: str = "  ") -> str:
    """Aligned `key  type  default  help` lines."""
    if not rows:
        return indent + "(no fields)"
    cells = [(r.key, r.type, show(r.default), r.help) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    return "\n".join((indent + "  ".join((*(c[i].ljust(widths[i]) for i in range(3)), c[3]))).rstrip()
                     for c in cells)
