"""Keep TensorFlow's own chatter off the console (it still reaches the run's `train.log`).

Two sources, two means:

- TensorFlow's C++ (absl) log lines -- `oneDNN custom operations are on`, `Could not find cuda
  drivers`, `failed call to cuInit` -- are written straight to file descriptor 2 before
  `TF_CPP_MIN_LOG_LEVEL` is read (TF 2.21: "All log messages before absl::InitializeLog() is
  called are written to STDERR"), so no setting hides them. `filtering_native_stderr()` puts a
  pipe on fd 2 for the command's lifetime; a reader thread passes every other line through to
  the real stderr at once and holds back lines in the C++ log format (`I0000 00:00:...] ...`),
  except fatal (`F`) ones. `drain_to_log()` writes the held lines to the `tensorflow.native`
  logger, i.e. to `train.log`. Only the command line does this: a Python program's fd 2 is left alone.
- Python log records of other libraries (`tensorflow`'s MirroredStrategy `Reduce to ...` INFO
  lines, `absl` warnings) are dropped from the console handlers by `ConsoleFilter`, below ERROR;
  file handlers (`train.log`) keep them.

`--verbose` (or `ZOO_VERBOSE=1`) shows both on the console as before. Commands without a run log
(`zoo export`, `zoo evaluate`, `zoo generate`) drop the held C++ lines unless `--verbose`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator

VERBOSE_VARIABLE = "ZOO_VERBOSE"
NATIVE_LINE = re.compile(r"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\]]+\] |WARNING: All log messages "
                         r"before absl::InitializeLog\(\) is called|To enable the following instructions: "
                         r"|INFO: Created TensorFlow Lite )")  # TFLite's own C++ line
OWN_LOGGERS = ("zoo", "hydra", "__main__")
native_log = logging.getLogger("tensorflow.native")
_held: list[str] = []
_lock = threading.Lock()


def verbose() -> bool:
    """Whether the user asked to see TensorFlow's own lines (`--verbose`, `ZOO_VERBOSE=1`)."""
    return os.environ.get(VERBOSE_VARIABLE, "") not in ("", "0")


def set_verbose(on: bool) -> None:
    os.environ[VERBOSE_VARIABLE] = "1" if on else "0"


class ConsoleFilter(logging.Filter):
    """Pass zoo's and Hydra's records, and any library's errors; drop other libraries' chatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (verbose() or record.levelno >= logging.ERROR
                or record.name.split(".")[0] in OWN_LOGGERS)


def is_console(handler: logging.Handler) -> bool:
    return isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)


_added: list[tuple[logging.Handler, logging.Filter]] = []


def quiet_console_logging() -> None:
    """Add `ConsoleFilter` to the console handlers of the root, `tensorflow` and `absl` loggers
    (TensorFlow gives its logger a stderr handler of its own when the root has none); idempotent."""
    for name in (None, "tensorflow", "absl"):
        for handler in logging.getLogger(name).handlers:
            if is_console(handler) and not any(isinstance(f, ConsoleFilter) for f in handler.filters):
                console_filter = ConsoleFilter()
                handler.addFilter(console_filter)
                _added.append((handler, console_filter))


def restore_console_logging() -> None:
    """Remove the filters `quiet_console_logging` added (the Python API, after a run)."""
    while _added:
        handler, console_filter = _added.pop()
        handler.removeFilter(console_filter)


def drain_to_log() -> None:
    """Write the held C++ log lines to `train.log` (through the `tensorflow.native` logger)."""
    with _lock:
        lines, _held[:] = list(_held), []
    for line in lines:
        native_log.info("%s", line)


def _forward(read_fd: int, real_fd: int) -> None:
    pending = b""
    while True:
        try:
            chunk = os.read(read_fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            if pending:
                _route(pending, real_fd)
            return
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            _route(line + b"\n", real_fd)


def _route(raw: bytes, real_fd: int) -> None:
    text = raw.decode("utf-8", "replace").rstrip("\n")
    if NATIVE_LINE.match(text):
        with _lock:
            _held.append(text)
        if not verbose():
            return
    with contextlib.suppress(OSError):
        os.write(real_fd, raw)


@contextlib.contextmanager
def filtering_native_stderr() -> Iterator[None]:
    """While the block runs, hold TensorFlow's C++ log lines back from fd 2 (see the module doc)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (embedded, captured): nothing to do
        yield
        return
    sys.stderr.flush()
    try:
        real = os.dup(fd)
    except OSError:  # fd 2 is closed: nothing to filter
        yield
        return
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, fd)
    os.close(write_fd)
    reader = threading.Thread(target=_forward, args=(read_fd, real), name="zoo-stderr", daemon=True)
    reader.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(real, fd)  # the pipe's last writer in this process is gone: the reader sees EOF
        reader.join(timeout=1)
        if not reader.is_alive():
            os.close(real)
            os.close(read_fd)
        # else child processes that inherited fd 2 (joblib's workers) still write into the pipe: the
        # reader goes on forwarding their lines to the real stderr until they end, so both fds stay.
