"""PNG plots of a run: learning curves, confusion matrix (up to `MAX_CONFUSION_CLASSES`), predicted
vs true."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from zoo.core.atomic import atomic_open  # noqa: E402

log = logging.getLogger("zoo.evaluate")
MAX_CONFUSION_CLASSES = 100  # past this a confusion matrix is skipped (a 201-class one took 72 s)
LABELLED_CLASSES = 40  # tick labels for every class up to this many
MARKED_EPOCHS = 60  # up to this many epochs every point gets a marker (one epoch is a dot, not nothing)


def save_png(fig: plt.Figure, out: Any) -> None:
    """Write `fig` as a PNG to `out` (a path, written atomically, or a binary file) and close it."""
    if hasattr(out, "write"):  # TensorBoard's in-memory image buffer
        fig.savefig(out, dpi=100, format="png")
    else:
        with atomic_open(out, "wb") as handle:
            fig.savefig(handle, dpi=100, format="png")
    plt.close(fig)


def learning_curves_figure(history: dict[str, list[float]]) -> plt.Figure:
    """One panel per metric (training and validation against the epoch), then the learning rate."""
    names = [k for k in history if k not in ("epoch", "learning_rate") and not k.startswith("val_")]
    panels = names + (["learning_rate"] if history.get("learning_rate") else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
    epochs = np.asarray(history.get("epoch", range(len(history[names[0]])))) + 1
    style = {"marker": "o", "markersize": 4} if len(epochs) <= MARKED_EPOCHS else {}
    for ax, name in zip(axes[0], panels, strict=True):
        if name == "learning_rate":
            ax.plot(epochs, history[name], color="tab:green", **style)
            ax.set_title("learning rate")
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        else:
            ax.plot(epochs, history[name], label="train", **style)
            if f"val_{name}" in history:
                ax.plot(epochs, history[f"val_{name}"], label="validation", **style)
            ax.set_title(name)
            ax.legend()
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return fig


def learning_curves(history: dict[str, list[float]], out: Path) -> Path:
    """`learning_curves_figure` saved as a PNG."""
    fig = learning_curves_figure(history)
    save_png(fig, out)
    return out


def confusion_matrix(matrix: np.ndarray, class_names: list[str], out: Any) -> Any:
    """The confusion matrix as a PNG at `out` (a path or a binary file), sized to the classes (cell
    counts up to 20 classes, tick labels up to `LABELLED_CLASSES`); None, logged, past
    `MAX_CONFUSION_CLASSES` (the per-class report still lists every class)."""
    n = len(class_names)
    if n > MAX_CONFUSION_CLASSES:
        log.info("confusion matrix not drawn: %d classes (more than %d); report.json lists every class",
                 n, MAX_CONFUSION_CLASSES)
        return None
    side = min(max(3.5, 0.3 * n + 2), 16)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax)
    if n <= LABELLED_CLASSES:
        ax.set_xticks(range(n), class_names, rotation=45, ha="right")
        ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                color = "white" if matrix[i, j] > matrix.max() / 2 else "black"
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", color=color, fontsize=8)
    ax.set_title("confusion matrix")
    fig.tight_layout()
    save_png(fig, out)
    return out


def compact_ticks(ax: Any, largest: float) -> None:
    """At most 5 ticks an axis, and `350k` / `1.2M` labels for large values, so that tick labels
    of a 4.5-inch plot never run into each other (six-digit prices once did)."""
    from matplotlib.ticker import EngFormatter, MaxNLocator

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(nbins=5))
        if largest >= 1e4:
            axis.set_major_formatter(EngFormatter(sep=""))


def predicted_vs_true(y_true: np.ndarray, y_pred: np.ndarray, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(y_true, y_pred, s=8, alpha=0.6)
    lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--")
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title("predicted vs true")
    compact_ticks(ax, max(abs(lo), abs(hi)))
    fig.tight_layout()
    save_png(fig, out)
    return out
