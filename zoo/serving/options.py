"""The server's limits and batching settings (the `zoo serve` options of the same names), typed
with their ranges in `zoo.config.commands`."""

from __future__ import annotations

from zoo.config.commands import ServeOptions

__all__ = ["ServeOptions"]
