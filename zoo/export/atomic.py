"""Where an export may write, and writing it all-or-nothing.

A bundle is built in a hidden folder beside its target and moved into place only once every
part passed its check, so the previous bundle survives any failure. Each folder an export
writes holds a manifest of its files: that is how an export tells a folder it wrote (and may
replace) from a user's folder (which it refuses), and it never writes into a run folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from zoo.core.errors import ZooError

MANIFEST = ".zoo-export.json"
BUNDLE_MARK = "export.json"


def is_run_folder(path: Path) -> bool:
    """A `zoo train` run folder: its config beside its checkpoints."""
    return (path / "config.yaml").is_file() and (path / "checkpoints").is_dir()


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def _run_inside(folder: Path, depth: int = 3) -> Path | None:
    """A run folder at most `depth` levels below `folder`, if any."""
    level = [folder]
    for _ in range(depth):
        level = [c for p in level for c in sorted(p.iterdir()) if c.is_dir() and not c.is_symlink()]
        for child in level:
            if is_run_folder(child):
                return child
    return None


def _owned(folder: Path, legacy: bool) -> list[str]:
    """Files under `folder` that no export wrote ([] when the export may replace the folder)."""
    files = _files(folder)
    listed: set[str] = set()
    manifest = folder / MANIFEST
    if manifest.is_file():
        try:
            listed = set(json.loads(manifest.read_text()).get("files", []))
        except (ValueError, AttributeError):
            listed = set()
        return sorted(f for f in files if f not in listed and f != MANIFEST)
    if legacy and ((folder / BUNDLE_MARK).is_file() or any(f.endswith("/" + BUNDLE_MARK) for f in files)):
        return []  # a bundle of an older zoo inside the run's own export/ folder
    return sorted(files)


def check_target(target: Path, run_path: Path) -> None:
    """Refuse an output folder the export must not replace: a file, a run folder, a folder in or
    holding a run folder, or one holding files an export did not write."""
    target, run_path = Path(os.path.abspath(target)), Path(os.path.abspath(run_path))
    own_exports = run_path / "export"
    default = f"leave output= out to write under {own_exports}"
    if target.exists() and not target.is_dir():
        raise ZooError(f"output={target} is a file: give a new or empty folder for the bundle, or {default}")
    if target == run_path or is_run_folder(target):
        raise ZooError(f"output={target} is a run folder: exporting there would replace its checkpoints "
                       f"and metrics; choose a new folder (output=...), or {default}")
    for parent in target.parents:
        if is_run_folder(parent) and not (parent == run_path and own_exports in (target, *target.parents)
                                          and target != own_exports):
            raise ZooError(f"output={target} lies inside the run folder {parent}: choose a folder outside "
                           f"it, or {default}")
    if not target.is_dir() or not any(target.iterdir()):
        return
    inner = _run_inside(target)
    if inner is not None:
        raise ZooError(f"output={target} contains the run folder {inner}: choose a new or empty folder "
                       "for the bundle (output=...)")
    stray = _owned(target, legacy=own_exports in target.parents)
    if stray:
        shown = ", ".join(stray[:3]) + (f" and {len(stray) - 3} more" if len(stray) > 3 else "")
        raise ZooError(f"output={target} holds files zoo export did not write ({shown}): choose a new "
                       f"or empty folder (output=...), or {default}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_manifest(folder: Path) -> None:
    """List every file under `folder` (sub-bundles included) in its manifest."""
    for sub in [p for p in folder.iterdir() if p.is_dir() and (p / BUNDLE_MARK).is_file()]:
        write_manifest(sub)
    files = sorted(f for f in _files(folder) if f != MANIFEST)
    (folder / MANIFEST).write_text(json.dumps({"writer": "zoo export", "files": files}, indent=1) + "\n")


class Staging:
    """The hidden folder a bundle is built in, beside `target`; `commit()` moves it into place."""

    def __init__(self, target: Path):
        self.target = Path(os.path.abspath(target))
        self.path = self.target.parent / f".{self.target.name}.tmp-{os.getpid()}"
        self.made: list[Path] = []  # parent folders this export created

    def keep_parts(self, rebuilt: set[str]) -> None:
        """Copy the target's other part bundles (a VAE's decoder when only the encoder is redone)."""
        if not self.target.is_dir() or (self.target / BUNDLE_MARK).exists():
            return
        for part in sorted(self.target.iterdir()):
            if part.is_dir() and part.name not in rebuilt and (part / BUNDLE_MARK).is_file():
                shutil.copytree(part, self.path / part.name, symlinks=True)

    def commit(self) -> None:
        write_manifest(self.path)
        old = self.target.parent / f".{self.target.name}.old-{os.getpid()}"
        if self.target.exists():
            os.rename(self.target, old)
        os.rename(self.path, self.target)
        shutil.rmtree(old, ignore_errors=True)


def _clear_stale(target: Path) -> None:
    """Staging folders of exports that were killed (their process is gone)."""
    for kind in ("tmp", "old"):
        for stale in target.parent.glob(f".{target.name}.{kind}-*"):
            pid = stale.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)) and stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def staging(target: Path) -> Iterator[Staging]:
    """A `Staging` for `target`; on any failure it is removed and the target is left as it was."""
    stage = Staging(target)
    missing = [p for p in (stage.target.parent, *stage.target.parent.parents) if not p.exists()]
    stage.target.parent.mkdir(parents=True, exist_ok=True)
    stage.made = missing
    _clear_stale(stage.target)
    shutil.rmtree(stage.path, ignore_errors=True)
    stage.path.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage.path, ignore_errors=True)
        for folder in stage.made:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
