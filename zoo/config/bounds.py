"""Allowed ranges of numeric settings, declared on the schema dataclasses.

A field says its range with `bounded(default, ge=..., gt=..., le=..., lt=...)` (dataclass field
metadata). Fields without one get the range their name implies (`*dropout`, `*_fraction` lie in
[0, 1); sizes, dims, lengths, steps and filters are at least 1), so a plugin's schema is checked
without extra code.
"""

from __future__ import annotations

import dataclasses
import fnmatch
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


AT_LEAST_ONE = Bounds(ge=1)
NON_NEGATIVE = Bounds(ge=0)
FRACTION = Bounds(ge=0, lt=1)
# (pattern of the field name, range) for fields that declare none; first match wins.
CONVENTIONS: tuple[tuple[str, Bounds], ...] = (
    ("*dropout", FRACTION), ("*_fraction", FRACTION), ("*_rate", FRACTION),
    ("*_units", NON_NEGATIVE), ("*_epochs", NON_NEGATIVE), ("patience", NON_NEGATIVE),
    ("min_*", NON_NEGATIVE), ("*momentum", Bounds(ge=0, le=1)),
    ("*_size", AT_LEAST_ONE), ("*_sizes", AT_LEAST_ONE), ("*_dim", AT_LEAST_ONE),
    ("*_length", AT_LEAST_ONE), ("*_steps", AT_LEAST_ONE), ("*_stride", AT_LEAST_ONE),
    ("*filters", AT_LEAST_ONE), ("units", AT_LEAST_ONE), ("max_*", AT_LEAST_ONE),
    ("*_copies", AT_LEAST_ONE), ("window", AT_LEAST_ONE), ("horizon", AT_LEAST_ONE),
    ("limit", AT_LEAST_ONE), ("shuffle_buffer", AT_LEAST_ONE),
)


def bounds_of(item: dataclasses.Field) -> Bounds | None:
    """The declared range of a schema field, else the one its name implies, else None."""
    declared = item.metadata.get(BOUNDS)
    if declared is not None:
        return declared
    for pattern, bounds in CONVENTIONS:
        if fnmatch.fnmatchcase(item.name, pattern):
            return bounds
    return None


def out_of_range(value: Any, bounds: Bounds) -> Any:
    """The first number in `value` (a number or a list of them) outside `bounds`, else None."""
    values = value if isinstance(value, list | tuple) else [value]
    for v in values:
        if isinstance(v, int | float) and not isinstance(v, bool) and not bounds.admits(v):
            return v
    return None
