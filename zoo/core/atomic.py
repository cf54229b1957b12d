"""Every file a command writes for the user is written all-or-nothing: into a temporary file beside it,
then renamed over the target. A full disk or a kill leaves the old file (or none),
never a cut one; an OSError names the file the user asked for, not the temporary one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """`open(path, mode)` whose writes appear at `path` only when the block ends without an error."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files (mode 'w' or 'wb'), not {mode!r}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, mode, **kwargs) as handle:
            yield handle
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if exc.filename in (None, str(tmp), tmp):
            raise type(exc)(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_atomic(path: str | os.PathLike, data: str | bytes, encoding: str = "utf-8") -> None:
    """Write `data` (text or bytes) to `path` so readers see the old file or the new one, never half."""
    if isinstance(data, bytes):
        with atomic_open(path, "wb") as handle:
            handle.write(data)
    else:
        with atomic_open(path, "w", encoding=encoding) as handle:
            handle.write(data)


def refuse_overwrite(output: str | os.PathLike, protected: dict[str, str | os.PathLike | None],
                     option: str = "output", what: str = "the results") -> None:
    """Refuse an `output` that is, lies inside or holds one of the `protected` paths (named by what
    they are: "the input", "the bundle folder", ...), or is an existing file of a run folder."""
    from zoo.core.errors import ZooError

    out = Path(output).resolve()
    for name, given in protected.items():
        if not given or not Path(given).exists():
            continue
        path = Path(given).resolve()
        if out == path or path in out.parents:
            where = "is" if out == path else "lies inside"
            raise ZooError(f"{option}={output} {where} {name} ({path}): write {what} to another file "
                           f"({option}=...)")
        if out.is_dir() and out in path.parents:
            raise ZooError(f"{option}={output} holds {name} ({path}): write {what} to another folder "
                           f"({option}=...)")
    parent = out.parent
    if (parent / "config.yaml").is_file() and (parent / "checkpoints").is_dir() and out.exists():
        raise ZooError(f"{option}={output} is a file of the run folder {parent}: write {what} to "
                       f"another file ({option}=...)")
