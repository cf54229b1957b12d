"""`zoo launch workers=N [timeout=S] [train overrides ...]`: a local multi-worker cluster."""

from __future__ import annotations

from collections.abc import Sequence

from zoo.cli.keyvalue import convert
from zoo.config.bounds import Bounds, out_of_range
from zoo.core.errors import ZooError

OPTIONS = {"workers": 2, "timeout": 3600.0}
RANGES = {"workers": Bounds(ge=1), "timeout": Bounds(gt=0)}


def run_launch(args: Sequence[str]) -> int:
    """Split the launcher's own options from the training overrides and start the workers."""
    from zoo.launch.local import launch

    values = dict(OPTIONS)
    overrides = []
    for arg in args:
        key, sep, text = arg.partition("=")
        if sep and key in OPTIONS:
            values[key] = convert("launch", key, text, OPTIONS[key])
            if values[key] is None or out_of_range(values[key], RANGES[key]) is not None:
                raise ZooError(f"zoo launch: {key}={text} is out of range: expected {RANGES[key].text()}")
        else:
            overrides.append(arg)
    return launch(int(values["workers"]), overrides, timeout=float(values["timeout"]))
