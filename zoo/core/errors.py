"""Errors that are part of Keras Zoo's interface: one line, the bad value, the fix."""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable
from typing import Any


class ZooError(Exception):
    """Base class for user-facing errors; the CLI prints the message on one line and exits 2."""

    exit_code = 2  # bad input


class WorkFailed(ZooError):
    """A failure while working (a check that failed, a run folder gone): the CLI exits 1."""

    exit_code = 1


class WorkerLost(WorkFailed):
    """A multi-worker run lost a peer (killed, node down): the CLI exits 75, so a retry loop
    (or the cluster manager's own retry) can tell it apart and run the job again, which resumes."""

    exit_code = 75  # EX_TEMPFAIL, as EXIT_PREEMPTED below: the same command resumes


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what the user can do next (the CLI prints it and exits 130)."""


EXIT_PREEMPTED = 75  # sysexits.h EX_TEMPFAIL: a temporary failure, the same command goes on


class Preempted(Interrupted):
    """Stopped by SIGTERM (Slurm's scancel, a Kubernetes eviction) after saving a checkpoint of the
    current step: the CLI exits `EXIT_PREEMPTED`, and the same command resumes."""

    exit_code = EXIT_PREEMPTED


class UnknownNameError(ZooError, KeyError):
    """A model, dataset, loss, metric or experiment name that nobody registered."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class DuplicateNameError(ZooError):
    """Two plugins registered the same name in one kind."""


class DataError(ZooError):
    """The data given cannot be used as it is (missing column, empty folder, bad labels...)."""


class RunDirError(ZooError):
    """A run folder is missing, incomplete, or would be overwritten."""


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Names in `candidates` that look like `name` (best first), never `name` itself."""
    candidates = [c for c in candidates if c != name]
    found = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    found += [c for c in candidates if name and name.lower() in c.lower() and c not in found]
    return found[:n]


def plural(kind: str) -> str:
    """`loss` -> `losses`, `model` -> `models` (for `zoo list <kinds>` hints)."""
    return kind + ("es" if kind.endswith("s") else "s")


def unknown_name(kind: str, name: str, candidates: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build the error for an unknown `kind` name, listing the close matches."""
    candidates = sorted(candidates)
    matches = close_matches(name, candidates)
    if matches:
        advice = "did you mean " + ", ".join(repr(m) for m in matches) + "?"
    else:
        advice = "available: " + (", ".join(candidates) if candidates else "none")
    hint = hint or f"`zoo list {plural(kind)}` shows them all"
    return UnknownNameError(f"unknown {kind} {name!r}: {advice} ({hint})")


def first_line(error: BaseException, typed: bool = False, limit: int | None = None) -> str:
    """The first line of an exception's message (`Type: message` when `typed`), or its type's name;
    the line cut at `limit` characters. The one helper for a one-line account of an error."""
    text = str(error).strip()
    line = text.splitlines()[0][:limit] if text else ""
    if typed or not line:
        return f"{type(error).__name__}: {line}" if line else type(error).__name__
    return line


USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s]+)@")


def mask_credentials(text: str) -> str:
    """`http://alice:SECRET@host/` -> `http://alice:***@host/` (a user name alone may be a token:
    `https://TOKEN@host` -> `https://***@host`), for every message and log line."""

    def masked(match: re.Match) -> str:
        user, colon, _ = match["userinfo"].partition(":")
        return f"{match['scheme']}{user + ':***' if colon else '***'}@"

    return USERINFO.sub(masked, text) if "://" in text else text


def mask_credentials_in_logs() -> None:
    """Every log record's message (any logger's: zoo's, MLflow's, Hydra's) with credentials masked."""
    current = logging.getLogRecordFactory()
    if getattr(current, "masks_credentials", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        message = record.getMessage()
        masked = mask_credentials(message)
        if masked != message:
            record.msg, record.args = masked, None
        return record

    factory.masks_credentials = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
