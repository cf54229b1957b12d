"""Versioned JSON files: every file zoo writes for itself (`export.json`, `dataset.json`, a run's
`checkpoints/state.json`) carries `format_version` and the `zoo_version` that wrote it.

A reader takes every format up to its own: a file without `format_version` was written by zoo
0.1.0 before files were versioned and is format 1; each reader upgrades older formats to its
dataclass. A newer format is refused in one line naming the file, both versions and the fix.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from zoo.core.atomic import write_atomic
from zoo.core.errors import ZooError
from zoo.core.version import __version__

FORMAT_KEY, ZOO_KEY = "format_version", "zoo_version"
UNVERSIONED = 1  # what a file without `format_version` is (zoo 0.1.0 wrote no version)


class FormatError(ZooError):
    """A file written in a format this zoo cannot read (a newer one, or a version that is not a number)."""


def stamped(data: dict[str, Any], version: int) -> dict[str, Any]:
    """`data` with `format_version` and `zoo_version` first (the keys a reader looks at first)."""
    return {FORMAT_KEY: version, ZOO_KEY: __version__, **data}


def format_of(data: dict[str, Any], path: str | os.PathLike, newest: int, fix: str = "upgrade keras-zoo "
              "(pip install -U keras-zoo)") -> int:
    """The format of a file's `data` (its `format_version`; 1 when there is none), after refusing a
    format newer than `newest` or one that is not a positive integer."""
    version = data.get(FORMAT_KEY, UNVERSIONED)
    if type(version) is not int or version < 1:
        raise FormatError(f"{path}: format_version is {json.dumps(version, default=str)[:40]}, not a "
                          "positive integer: the file is damaged; write it again")
    if version > newest:
        raise FormatError(f"{path}: written by zoo {data.get(ZOO_KEY, '?')}, format {version}; this zoo "
                          f"({__version__}) reads up to format {newest}: {fix}")
    return version


def unstamped(data: dict[str, Any]) -> dict[str, Any]:
    """`data` without the version keys (what a dataclass is built from)."""
    return {k: v for k, v in data.items() if k not in (FORMAT_KEY, ZOO_KEY)}


def finite(data: Any) -> Any:
    """NaN and infinities become null: JSON has no spelling for them."""
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [finite(v) for v in data]
    if isinstance(data, float) and not math.isfinite(data):
        return None
    return data


def write_versioned(path: str | os.PathLike, data: dict[str, Any], version: int) -> None:
    """Write `data` stamped with `version` and the zoo version, atomically (`zoo.core.atomic`)."""
    text = json.dumps(finite(stamped(data, version)), indent=2, allow_nan=False) + "\n"
    write_atomic(Path(path), text)
