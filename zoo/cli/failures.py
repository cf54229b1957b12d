"""One error path for every command: a known failure ends as one stderr line and an exit code.

Exit codes: 0 done, 1 a failure while working (disk, a check that failed, a diverged run),
2 bad input (config, options, files), 130 interrupted (Ctrl-C). Tracebacks only with
`ZOO_DEBUG=1` or Hydra's `HYDRA_FULL_ERROR=1`.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sys
from collections.abc import Callable

from zoo.core.errors import ZooError, first_line

BAD_INPUT, FAILED, INTERRUPTED = 2, 1, 130
DEBUG_VARIABLES = ("ZOO_DEBUG", "HYDRA_FULL_ERROR")
# Hydra options that come with an optional extra: (group, option) -> (extra, the package holding it)
EXTRAS = {("hydra/sweeper", "optuna"): ("sweeps", "hydra-optuna-sweeper"),
          ("hydra/sweeper/sampler", "tpe"): ("sweeps", "hydra-optuna-sweeper"),
          ("hydra/launcher", "joblib"): ("sweeps", "hydra-joblib-launcher")}


def extra_line(exc: Exception) -> str | None:
    """`hydra/sweeper=optuna needs the sweeps extra: pip install "keras-zoo[sweeps]"`, when a
    missing Hydra option is one an extra installs."""
    group, _, name = str(getattr(exc, "missing_cfg_file", "") or "").rpartition("/")
    if (group, name) not in EXTRAS:
        return None
    extra, package = EXTRAS[(group, name)]
    return (f"{group}={name} needs the {extra} extra, which is not installed ({package} is missing): "
            f'pip install "keras-zoo[{extra}]"')


def debugging() -> bool:
    """Whether the user asked for full tracebacks."""
    return any(os.environ.get(name, "") not in ("", "0") for name in DEBUG_VARIABLES)


def os_error_line(exc: OSError) -> str:
    """`cannot write /x/y (permission denied): ...` for an OSError met while working."""
    name = exc.filename or ""
    reason = (exc.strerror or str(exc)).lower()
    advice = {errno.EACCES: "make it writable or choose another folder",
              errno.EPERM: "make it writable or choose another folder",
              errno.EROFS: "choose a folder on a writable disk",
              errno.ENOSPC: "free some disk space or choose another folder",
              errno.ENOENT: "check that the path exists (was a folder deleted while zoo ran?)"}
    fix = advice.get(exc.errno or 0, "check the path and try again")
    return f"{name}{' ' if name else ''}({reason}): {fix}"


def hydra_line(exc: Exception) -> str | None:
    """One line for Hydra's and OmegaConf's config errors (typos, unknown options, bad types)."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    from zoo.config.validate import unknown_key_line, unknown_option_line

    if isinstance(exc, MissingConfigException):
        return extra_line(exc) or unknown_option_line(exc)
    if isinstance(exc, OverrideParseException):
        return f"cannot parse the command line: {first_line(exc)} (write overrides as key=value)"
    if isinstance(exc, ConfigCompositionException | OmegaConfBaseException):
        cause = exc.__cause__ if isinstance(exc, ConfigCompositionException) else exc
        message = first_line(exc)
        found = re.search(r"override '([^']+)'", message)
        if found and "not in" in str(cause):
            return unknown_key_line(found.group(1))
        detail = first_line(cause) if cause is not None else message
        key = getattr(cause, "full_key", None)
        where = f"{key}: " if key and key not in detail else ""
        return f"{where}{detail}" + ("" if detail == message else f" ({message})")
    return None


def describe(exc: BaseException) -> tuple[str, int]:
    """The one line and exit code of a failure (a bug gets a line asking for its traceback)."""
    if isinstance(exc, KeyboardInterrupt):
        return (str(exc) or "interrupted"), getattr(exc, "exit_code", INTERRUPTED)
    if isinstance(exc, ZooError):
        line = first_line(exc)
        return line, getattr(exc, "exit_code", BAD_INPUT)
    if isinstance(exc, Exception) and type(exc).__module__.split(".")[0] in ("hydra", "omegaconf"):
        line = hydra_line(exc)
        if line:
            return line, BAD_INPUT
    if isinstance(exc, OSError):
        return os_error_line(exc), FAILED
    return (f"internal error {first_line(exc, typed=True)} (rerun with ZOO_DEBUG=1 for the traceback, "
            "and please report it)"), FAILED


def _silence_stdout() -> None:
    """After the reader of stdout went away: send further output nowhere (no exit-time noise)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def run_guarded(command: Callable[[], int]) -> int:
    """Run a command; turn its known failures into one `zoo: error: ...` line and an exit code."""
    logging.raiseExceptions = False  # a closed stdout must not print a traceback per log record
    traceback_wanted = debugging()  # before the Hydra apps set HYDRA_FULL_ERROR for themselves
    try:
        code = command()
        sys.stdout.flush()  # a closed pipe shows now, not as exit-time noise
        return code
    except SystemExit:
        raise
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except BaseException as exc:  # noqa: BLE001 - the one place every failure ends
        if traceback_wanted:
            raise
        line, code = describe(exc)
        prefix = "zoo: " if code == INTERRUPTED else "zoo: error: "
        print(prefix + line, file=sys.stderr)
        return code
