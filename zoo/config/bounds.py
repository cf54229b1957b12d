"""Allowed ranges of numeric settings, declared on the schema dataclasses.

A field says its range with `bounded(default, ge=..., gt=..., le=..., lt=...)` (dataclass field
metadata under the key `zoo_bounds`; `zoo.sdk.bounded` for plugins). A field without one has no
range: nothing is guessed from its name (a GPT `hidden_dim=0` means "the size's value", which a
`*_dim >= 1` rule once refused).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

BOUNDS = "zoo_bounds"


@dataclass(frozen=True)
class Bounds:
    """`ge <= x`, `gt < x`, `x <= le`, `x < lt` (None: no limit on that side)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def admits(self, value: float) -> bool:
        if isinstance(value, float) and math.isnan(value):
            return False
        return ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))

    def text(self) -> str:
        """`a number > 0`, `0 <= x < 1`, `an integer >= 1` style wording."""
        low = (f"{_num(self.ge)} <= " if self.ge is not None
               else f"{_num(self.gt)} < " if self.gt is not None else "")
        high = (f" <= {_num(self.le)}" if self.le is not None
                else f" < {_num(self.lt)}" if self.lt is not None else "")
        if low and high:
            return f"{low}x{high}"
        if self.ge is not None:
            return f"x >= {_num(self.ge)}"
        if self.gt is not None:
            return f"x > {_num(self.gt)}"
        return f"x{high}" if high else "any number"


def _num(value: float | None) -> str:
    return str(int(value)) if value is not None and float(value).is_integer() else str(value)


def bounded(default: Any = dataclasses.MISSING, *, ge: float | None = None, gt: float | None = None,
            le: float | None = None, lt: float | None = None, default_factory: Any = None) -> Any:
    """A dataclass field whose value (or each value of a list) must lie in the given range."""
    metadata = {BOUNDS: Bounds(ge, gt, le, lt)}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def bounds_of(item: dataclasses.Field) -> Bounds | None:
    """The range a schema field declares, else None."""
    return item.metadata.get(BOUNDS)


def out_of_range(value: Any, bounds: Bounds) -> Any:
    """The first number in `value` (a number or a list of them) outside `bounds`, else None."""
    values = value if isinstance(value, list | tuple) else [value]
    for v in values:
        if isinstance(v, int | float) and not isinstance(v, bool) and not bounds.admits(v):
            return v
    return None


PATH = "zoo_path"
CHOICES = "zoo_choices"


def choice(default: Any, options: tuple[str, ...]) -> Any:
    """A string field that must be one of `options`, checked with the config before TensorFlow
    starts: `documents: str = choice("lines", ("lines", "paragraphs", "files"))`."""
    return field(default=default, metadata={CHOICES: tuple(options)})


def choices_of(schema: type, name: str) -> tuple[str, ...]:
    """The options a schema field declares with `choice` (the one list every module reads)."""
    item = next((f for f in dataclasses.fields(schema) if f.name == name), None)
    if item is None or CHOICES not in item.metadata:
        raise KeyError(f"{schema.__name__}.{name} declares no choices")
    return item.metadata[CHOICES]


def wrong_choice(value: Any, item: dataclasses.Field) -> tuple[str, ...] | None:
    """The field's options, if it declares some and `value` is not one of them (None passes; a
    boolean, which OmegaConf turns into 'True'/'False' in a string field, is matched in lower case)."""
    options = item.metadata.get(CHOICES)
    text = str(value)
    if text in ("True", "False"):
        text = text.lower()
    if options is None or value is None or text in options:
        return None
    return options


def existing_path(default: Any = dataclasses.MISSING, *, what: str = "file or folder") -> Any:
    """A dataclass field naming a file or folder that must exist when the config is checked
    (before TensorFlow starts): `path: str = existing_path(what="CSV file")`."""
    return field(default=default, metadata={PATH: what})


def missing_path(value: Any, item: dataclasses.Field) -> str | None:
    """What kind of thing `value` should be, if the field declares a path that does not exist (a glob
    pattern exists when it matches something)."""
    import glob
    import os

    what = item.metadata.get(PATH)
    if what is None or not isinstance(value, str) or not value:
        return None
    path = os.path.expanduser(value)
    if os.path.exists(path) or (glob.has_magic(path) and next(glob.iglob(path), None) is not None):
        return None
    return what
