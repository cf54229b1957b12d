"""Collect a sweep's runs into one table (swept values + metric, best first) and a bar plot.

`SweepSummary` is a Hydra callback: at the end of `zoo train -m ...` it reads every job's
`config.yaml` and `metrics.json` under the sweep folder and writes `summary.csv`,
`summary.md` and `summary.png` there. A job that failed shows up with an empty metric.
Jobs are ranked by a **validation** metric (the headline one, else the validation loss): choosing
hyper-parameters by the test metric would select them on the test set. The test metric is shown
beside it, for reading only.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from zoo.core.atomic import atomic_open, write_atomic

log = logging.getLogger("zoo.sweep")
LOWER_IS_BETTER = ("loss", "mae", "mse", "rmse", "error", "perplexity")


def swept_keys(overrides: list[str]) -> list[str]:
    """The config keys a sweep varies, from its command-line overrides (`key=a,b`, `key=range(...)`)."""
    keys = []
    for override in overrides:
        key, _, value = override.partition("=")
        key = key.lstrip("+~")
        if key and not key.startswith("hydra") and ("," in value or "(" in value):
            keys.append(key)
    return keys


def headline_of(metrics: dict[str, Any]) -> str:
    return metrics.get("headline") or ("accuracy" if "accuracy" in metrics.get("test", {}) else "mae")


def selection(metrics: dict[str, Any]) -> tuple[str, float | None]:
    """The metric a sweep selects by: the validation headline (`validation.accuracy`), else
    `validation.loss`; its value is None when the run has neither."""
    headline = headline_of(metrics)
    validation = metrics.get("validation", {})
    if validation.get(headline) is not None or "loss" not in validation:
        return f"validation.{headline}", validation.get(headline)
    return "validation.loss", validation.get("loss")


def metric_value(metrics: dict[str, Any], metric: str) -> float | None:
    """`validation.accuracy`-style dotted lookup; `auto` is the run's `selection` metric."""
    if metric == "auto":
        return selection(metrics)[1]
    value: Any = metrics
    for part in metric.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def collect(sweep_dir: Path, keys: list[str], metric: str) -> list[dict[str, Any]]:
    """One row per job folder: its number, swept values and metric."""
    rows = []
    for job in sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()),
                      key=lambda p: int(p.name)):
        cfg = OmegaConf.load(job / "config.yaml") if (job / "config.yaml").exists() else None
        row: dict[str, Any] = {"job": int(job.name)}
        for key in keys:
            row[key] = OmegaConf.select(cfg, key) if cfg is not None else None
        metrics = json.loads((job / "metrics.json").read_text()) if (job / "metrics.json").exists() else {}
        row["metric"] = metric_value(metrics, metric)
        row["name"] = selection(metrics)[0] if metric == "auto" and metrics else metric
        row["test_name"] = f"test.{headline_of(metrics)}"
        row["test"] = metrics.get("test", {}).get(headline_of(metrics)) if metrics else None
        rows.append(row)
    return rows


def rank(rows: list[dict[str, Any]], lower_is_better: bool) -> list[dict[str, Any]]:
    """Best first; jobs without a metric (failed) last."""
    done = [r for r in rows if r["metric"] is not None]
    failed = [r for r in rows if r["metric"] is None]
    return sorted(done, key=lambda r: r["metric"], reverse=not lower_is_better) + failed


def write_summary(sweep_dir: Path, rows: list[dict[str, Any]], keys: list[str], metric: str) -> None:
    """`summary.csv`, `summary.md` and `summary.png` in `sweep_dir`."""
    test_name = next((r["test_name"] for r in rows if r.get("test") is not None), None)
    test_column = [test_name] if test_name and test_name != metric else []
    columns = ["rank", "job", *keys, metric, *test_column]
    table = [[i + 1, r["job"], *(r[k] for k in keys), r["metric"], *([r.get("test")] if test_column else [])]
             for i, r in enumerate(rows)]
    with atomic_open(sweep_dir / "summary.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(table)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
                                for v in row) + " |" for row in table]
    write_atomic(sweep_dir / "summary.md", "\n".join(lines) + "\n")
    plot_summary(sweep_dir / "summary.png", rows, keys, metric)


def plot_summary(path: Path, rows: list[dict[str, Any]], keys: list[str], metric: str) -> None:
    """A horizontal bar per finished job, best at the top, labelled with its swept values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["metric"] is not None]
    labels = [f"#{r['job']} " + " ".join(f"{k.split('.')[-1]}={r[k]}" for k in keys) for r in done]
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.4 * max(1, len(done))))
    ax.barh(labels[::-1], [r["metric"] for r in done][::-1])
    ax.set_xlabel(metric)
    ax.set_title("sweep summary, ranked by the validation metric (best at the top)"
                 if metric.startswith("validation") else "sweep summary (best at the top)")
    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png")
    plt.close(fig)


class SweepSummary(Callback):
    """Hydra callback: write the sweep summary when a multirun ends."""

    def __init__(self, metric: str = "auto", lower_is_better: bool | None = None):
        self.metric = metric
        self.lower_is_better = lower_is_better

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        keys = swept_keys(list(config.hydra.overrides.task))
        keys += [k for k in config.hydra.sweeper.get("params", None) or {} if k not in keys]
        rows = collect(sweep_dir, keys, self.metric)
        name = self.metric if self.metric != "auto" else next(
            (r["name"] for r in rows if r["metric"] is not None), "validation")
        lower = self.lower_is_better
        if lower is None:
            lower = any(word in name for word in LOWER_IS_BETTER)
        rows = rank(rows, lower)
        write_summary(sweep_dir, rows, keys, name)
        best = rows[0] if rows and rows[0]["metric"] is not None else None
        log.info("sweep summary: %s (%d job(s)%s)", sweep_dir / "summary.md", len(rows),
                 f", best job {best['job']}: {name}={best['metric']:.4f}" if best else ", none finished")
