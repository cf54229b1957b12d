"""One writer per run folder: an OS file lock held for the whole run (`locked_run` opens a run
folder under it: prepared, resumed, or taken back when a new run fails before its first epoch).

`fcntl.flock` locks belong to the open file, so the kernel releases them when the process
ends, however it ends: a lock left by `kill -9` never blocks the resume. The lock file keeps
the holder's PID for the error a second process gets.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.core.errors import RunDirError

LOCK_FILE = ".zoo.lock"


class RunFolderBusy(RunDirError):
    """Another process writes this run folder."""


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode(errors="replace").strip()
    return text if text.isdigit() else "unknown"


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold the run folder's lock while the block runs (the folder must exist)."""
    path = Path(folder) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            import fcntl
        except ImportError:  # not a POSIX system: a library lock, without the holder's PID
            from filelock import FileLock, Timeout

            lock = FileLock(str(path) + ".filelock")
            try:
                lock.acquire(timeout=0)
            except Timeout:
                raise RunFolderBusy(f"run folder {folder} is in use by another zoo process: wait for it "
                                    "to finish, or choose another folder (run_dir=...)") from None
            try:
                yield path
            finally:
                lock.release()
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderBusy(f"run folder {folder} is in use by another zoo process (PID "
                                f"{_holder(fd)}): wait for it to finish, or choose another folder "
                                "(run_dir=...)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked_run(cfg: Any, run: Any) -> Iterator[bool]:
    """Prepare `run` under its lock, held until the block ends; yields whether it resumes.

    A new run that fails before its first epoch ends takes back what it wrote, so a rerun
    starts clean and no half-made folder looks like a run.
    """
    before = run.entries()
    run.path.mkdir(parents=True, exist_ok=True)
    with run_lock(run.path):
        try:
            resuming = run.prepare(cfg, resume=cfg.trainer.resume, overwrite=cfg.trainer.overwrite)
        except BaseException:
            if before is None:
                run.discard_new(before)
            raise
        try:
            yield resuming
        except BaseException:
            if not resuming and not run.state.exists():
                run.discard_new(before)
            raise
