"""`key=value` arguments for the small commands (`export`, `predict`, `serve`), without Hydra.

These commands take a handful of flat options; a plain parser keeps `zoo predict` and
`zoo serve` free of TensorFlow and of Hydra's start-up time, with the same argument style.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zoo.cli.quoting import unquoted
from zoo.config.bounds import Bounds, out_of_range
from zoo.core.errors import ZooError, close_matches

REQUIRED = object()


def parse(command: str, args: Sequence[str], options: dict[str, Any],
          ranges: dict[str, Bounds] | None = None) -> dict[str, Any]:
    """Values of `options` (name -> default, `REQUIRED` or a typed default) from `key=value` args;
    numbers are checked against `ranges`."""
    values = {k: v for k, v in options.items() if v is not REQUIRED}
    for arg in args:
        key, sep, text = arg.partition("=")
        key, text = key.lstrip("+"), unquoted(text)  # a Hydra-quoted value too (zoo.cli.quoting)
        if not sep:
            raise ZooError(f"zoo {command}: argument {arg!r} is not key=value "
                           f"(options: {', '.join(options)})")
        if key not in options:
            matches = close_matches(key, options)
            hint = f"did you mean {matches[0]!r}? " if matches else ""
            raise ZooError(f"zoo {command}: unknown option {key!r}: {hint}(options: {', '.join(options)})")
        values[key] = convert(command, key, text, options[key])
        bounds = (ranges or {}).get(key)
        if bounds is not None and values[key] is not None and out_of_range(values[key], bounds) is not None:
            raise ZooError(f"zoo {command}: {key}={text} is out of range: expected {bounds.text()}")
    missing = [k for k in options if k not in values]
    if missing:
        raise ZooError(f"zoo {command}: missing required value(s) {', '.join(missing)}: add "
                       + " ".join(f"{k}=..." for k in missing))
    return values


def convert(command: str, key: str, text: str, default: Any) -> Any:
    """`text` as the type of `default` (strings stay strings; `null` means None)."""
    if text.lower() in ("null", "none", "") and not isinstance(default, str | bool):
        return None
    if isinstance(default, bool):
        if text.lower() not in ("true", "false"):
            raise ZooError(f"zoo {command}: {key}={text!r}: expected true or false")
        return text.lower() == "true"
    kind = type(default) if isinstance(default, int | float) else str
    try:
        return kind(text)
    except ValueError:
        raise ZooError(f"zoo {command}: {key}={text!r}: expected a {kind.__name__}") from None
