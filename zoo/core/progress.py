"""Progress of a long loop (`zoo evaluate`, `zoo export`'s checks, `zoo predict` over many files).

On a terminal (stdout a TTY, `CI` not set) a bar with the count and an ETA is redrawn in place and
wiped when the loop ends, so the command's own lines never share a line with it. Anywhere else (a
pipe, a file, CI) there is no bar: one plain line when the work starts and one when it is done, on
stdout with the command's result, with no control characters (stderr keeps to the one `zoo: error:`
line of a failed command).

TensorFlow-free: `zoo predict` on an ONNX bundle uses it. Training's per-epoch bar
(`zoo.training.progress`) shares `on_terminal` and `CLEAR_LINE`.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

CLEAR_LINE = "\r\x1b[2K"
WIDTH = 24
REDRAW_SECONDS = 0.1


def on_terminal(stream: Any = None) -> bool:
    """A progress bar may be drawn: `stream` (stdout) is a TTY and `CI` is not set."""
    stream = stream or sys.stdout
    if os.environ.get("CI", "") not in ("", "0", "false"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """Count `total` steps of `label` (`unit` names them, plural); a context manager, `advance()` per step.

    `total=None` (unknown) shows the count and the elapsed time instead of a bar and an ETA.
    """

    def __init__(self, label: str, total: int | None, unit: str = "batches",
                 bar: bool | None = None, stream: TextIO | None = None, plain: TextIO | None = None) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream or sys.stdout
        self.plain = plain or self.stream
        self.bar = on_terminal(self.stream) if bar is None else bar
        self.count = 0
        self.start = time.monotonic()
        self.drawn_at = 0.0
        self.open = False

    def __enter__(self) -> Progress:
        self.start = time.monotonic()
        self.open = True
        if self.bar:
            self._draw()
        else:
            of = f" {self.total}" if self.total is not None else ""
            self._line(f"{self.label}:{of} {self.unit}")
        return self

    def advance(self, steps: int = 1) -> None:
        self.count += steps
        if self.bar and self.open:
            now = time.monotonic()
            if now - self.drawn_at >= REDRAW_SECONDS or self.count == self.total:
                self._draw(now)

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        self.open = False
        if self.bar:
            _write(self.stream, CLEAR_LINE)
        elif kind is None:
            took = _duration(time.monotonic() - self.start)
            self._line(f"{self.label}: done, {self.count} {self.unit} in {took}")

    def text(self, now: float | None = None) -> str:
        """The bar's line: `label 12/40 [=====>......] ETA 3s` (or `label 12 2s` with no total)."""
        elapsed = (now or time.monotonic()) - self.start
        if not self.total:
            return f"{self.label} {self.count} {_duration(elapsed)}"
        done = min(self.count, self.total)
        filled = WIDTH * done // self.total
        arrow = ">" if filled < WIDTH else ""
        bar = "=" * filled + arrow + "." * (WIDTH - filled - len(arrow))
        eta = (f"ETA {_duration(elapsed / done * (self.total - done))}" if done and done < self.total
               else _duration(elapsed))
        return f"{self.label} {done}/{self.total} [{bar}] {eta}"

    def _draw(self, now: float | None = None) -> None:
        self.drawn_at = now or time.monotonic()
        _write(self.stream, CLEAR_LINE + self.text(now))

    def _line(self, line: str) -> None:
        _write(self.plain, line + "\n")


def _write(stream: TextIO, text: str) -> None:
    """Progress is never worth failing over: a closed stdout (`zoo predict ... | head`) is left to the
    command's own output to report."""
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass
