"""Compare finished runs: one row per run folder (model, dataset, settings, metrics, time, size).

Reads only what `zoo train` leaves in a run folder (`config.yaml`, `metrics.json`, `train.log`),
so it needs no TensorFlow. Runs are ranked by their validation metric, as sweeps are.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from zoo.core.atomic import atomic_open
from zoo.core.errors import ZooError, first_line
from zoo.sweeps.summary import LOWER_IS_BETTER, headline_of, selection

# Settings shown for every run; any other config key whose value differs between the runs is added.
KEY_SETTINGS = ("trainer.epochs", "trainer.batch_size", "trainer.learning_rate")
IGNORED = ("run_dir", "description")
PARAMETERS = re.compile(r"model \S+: ([\d,]+) parameters")


@dataclass
class RunRow:
    """What `zoo compare` shows of one run."""

    path: Path
    model: str
    dataset: str
    settings: dict[str, Any]
    validation_name: str
    validation: float | None
    test_name: str
    test: float | None
    seconds: float | None
    parameters: int | None
    flat: dict[str, Any] = field(default_factory=dict, repr=False)


def find_runs(paths: list[str]) -> list[Path]:
    """Run folders named by `paths`: a finished run folder itself, or every one found below a folder."""
    runs: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            raise ZooError(f"zoo compare: {path} is not a folder: pass run folders or a folder that "
                           "holds them")
        found = [path] if _finished(path) else sorted(p.parent for p in path.rglob("metrics.json")
                                                       if _finished(p.parent))
        if not found:
            raise ZooError(f"zoo compare: no finished run under {path} (a run folder holds config.yaml "
                           "and metrics.json)")
        runs += [p for p in found if p not in runs]
    return runs


def _finished(path: Path) -> bool:
    return (path / "metrics.json").is_file() and (path / "config.yaml").is_file()


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def _number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def metrics_problem(metrics: Any) -> str | None:
    """What keeps a metrics.json out of the table (None when its figures can be shown)."""
    if not isinstance(metrics, dict):
        return f"metrics.json holds {json.dumps(metrics)[:30]}, not an object"
    for split in ("validation", "test"):
        scores = metrics.get(split, {})
        if not isinstance(scores, dict) or not all(_number(v) for v in scores.values()):
            return f"metrics.json's {split!r} is not an object of numbers"
    if not isinstance(metrics.get("headline", ""), str) or not _number(metrics.get("train_seconds")):
        return "metrics.json's headline or train_seconds has the wrong type"
    return None


def read_run(path: Path) -> RunRow:
    """One row from a finished run folder."""
    try:
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        cfg = OmegaConf.to_container(OmegaConf.load(path / "config.yaml"))
    except Exception as exc:  # JSON, YAML and encoding errors alike
        raise ZooError(f"zoo compare: {path} holds a corrupt metrics.json or config.yaml "
                       f"({first_line(exc)})") from None
    problem = metrics_problem(metrics) or (None if isinstance(cfg, dict) else "config.yaml is not a mapping")
    if problem:
        raise ZooError(f"{path}: {problem}")
    flat = _flatten(cfg)
    validation_name, validation = selection(metrics)
    headline = headline_of(metrics)
    log = path / "train.log"
    counts = PARAMETERS.findall(log.read_text(encoding="utf-8", errors="replace")) if log.is_file() else []
    return RunRow(path=path, model=str(flat.get("model.name", "?")),
                  dataset=str(flat.get("dataset.source", "?")), settings={},
                  validation_name=validation_name, validation=validation,
                  test_name=f"test.{headline}", test=metrics.get("test", {}).get(headline),
                  seconds=metrics.get("train_seconds"),
                  parameters=int(counts[-1].replace(",", "")) if counts else None, flat=flat)


def differing_keys(rows: list[RunRow], most: int = 6) -> list[str]:
    """`KEY_SETTINGS` plus (at most `most`) config keys whose values differ between the runs; a
    model's (dataset's) own fields only when every run has the same model (dataset)."""
    keys = list(KEY_SETTINGS)
    skip = [*IGNORED, "model.name", "dataset.source", "dataset.name"]
    for group, column in (("model.", "model"), ("dataset.", "dataset")):
        if len({getattr(r, column) for r in rows}) > 1:
            skip.append(group)
    for key in sorted({k for r in rows for k in r.flat}):
        if key in keys or key.startswith(tuple(skip)):
            continue
        if len({json.dumps(r.flat.get(key), sort_keys=True, default=str) for r in rows}) > 1:
            keys.append(key)
        if len(keys) >= len(KEY_SETTINGS) + most:
            break
    return keys


def lower_is_better(name: str) -> bool:
    return any(word in name for word in LOWER_IS_BETTER)


def compare_runs(paths: list[str]) -> tuple[list[RunRow], list[str], list[str]]:
    """The rows of the runs under `paths`, best validation first, the settings shown, and a note per
    run left out (corrupt files); a ZooError when no run is left."""
    rows, notes = [], []
    for path in find_runs(paths):
        try:
            rows.append(read_run(path))
        except ZooError as exc:
            notes.append(str(exc).removeprefix("zoo compare: "))
    if not rows:
        raise ZooError(f"zoo compare: no run could be read ({'; '.join(notes)[:300]})")
    keys = differing_keys(rows)
    for row in rows:
        row.settings = {k: row.flat.get(k) for k in keys}

    def order(row: RunRow) -> tuple:
        if row.validation is None:
            return (row.validation_name, 1, 0.0)
        sign = 1 if lower_is_better(row.validation_name) else -1
        return (row.validation_name, 0, sign * row.validation)

    return sorted(rows, key=order), keys, notes


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ",".join(_cell(v) for v in value) + "]"
    return str(value)


def table_rows(rows: list[RunRow], keys: list[str], root: Path | None = None
               ) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the comparison table."""
    names = sorted({r.validation_name for r in rows}) + sorted({r.test_name for r in rows})
    shown_keys = [k.split(".", 1)[-1] if k in KEY_SETTINGS else k for k in keys]
    header = ["run", "model", "dataset", *shown_keys, *names, "seconds", "parameters"]
    cells = []
    for r in rows:
        shown = str(r.path.relative_to(root)) if root and r.path.is_relative_to(root) and r.path != root \
            else str(r.path)
        scores = [_cell(r.validation if n == r.validation_name else r.test if n == r.test_name else None)
                  for n in names]
        cells.append([shown, r.model, r.dataset, *(_cell(r.settings[k]) for k in keys), *scores,
                      _cell(r.seconds), f"{r.parameters:,}" if r.parameters is not None else ""])
    return header, cells


def plot_comparison(path: Path, rows: list[RunRow], labels: list[str]) -> None:
    """Grouped horizontal bars: validation and test metric of every run, best at the top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 1.0 + 0.55 * max(1, len(rows))))
    y = np.arange(len(rows))[::-1]
    validation = [r.validation if r.validation is not None else 0.0 for r in rows]
    test = [r.test if r.test is not None else 0.0 for r in rows]
    ax.barh(y + 0.2, validation, height=0.4, label="validation (ranked by)")
    ax.barh(y - 0.2, test, height=0.4, label="test")
    ax.set_yticks(y, labels)
    names = sorted({r.validation_name.split(".", 1)[-1] for r in rows})
    ax.set_xlabel(", ".join(names))
    ax.set_title(f"{len(rows)} run(s), best validation at the top")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, dpi=110, format=path.suffix.lstrip(".").lower() or "png")
    plt.close(fig)
