"""What made a run: the command line and its overrides, kept in the run folder as Hydra keeps
them (`RUN/.hydra/overrides.yaml`, a YAML list, the command line as its first comment)."""

from __future__ import annotations

import contextlib
import shlex
import sys
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path

import yaml

OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
_GIVEN: ContextVar[tuple[str, list[str]] | None] = ContextVar("zoo_given_overrides", default=None)


@contextlib.contextmanager
def given_overrides(overrides: Sequence[str], command: str) -> Iterator[None]:
    """Record `overrides` (from the Python API, where Hydra keeps none) for the run started inside."""
    token = _GIVEN.set((command, list(overrides)))
    try:
        yield
    finally:
        _GIVEN.reset(token)


def invocation() -> tuple[str, list[str]] | None:
    """(command line, overrides) of the run being started, or None when unknown (a composed
    config handed to `zoo.train`)."""
    given = _GIVEN.get()
    if given is not None:
        return given
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    overrides = [str(o) for o in HydraConfig.get().overrides.task]
    command = " ".join(shlex.quote(arg) for arg in [*sys.argv[0].split(), *sys.argv[1:]])
    return command, overrides


def write_invocation(run_dir: Path) -> None:
    """`RUN/.hydra/overrides.yaml` for the run being started (nothing when unknown)."""
    from zoo.run.rundir import write_atomic

    found = invocation()
    if found is None:
        return
    command, overrides = found
    path = run_dir / OVERRIDES_FILE
    path.parent.mkdir(exist_ok=True)
    write_atomic(path, f"# {command}\n" + yaml.safe_dump(overrides, default_flow_style=False))


def read_overrides(run_dir: Path) -> list[str] | None:
    """The overrides a run was started with, or None (older runs, runs from a composed config)."""
    try:
        data = yaml.safe_load((run_dir / OVERRIDES_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    return [str(x) for x in data] if isinstance(data, list) else None
