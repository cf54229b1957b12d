"""Write an `Evaluation` to disk: per-class report (JSON and text) and its plot."""

from __future__ import annotations

from pathlib import Path

from zoo.data.base import DatasetInfo
from zoo.run.rundir import write_atomic, write_json
from zoo.tasks.report import Evaluation


def report_text(evaluation: Evaluation, info: DatasetInfo) -> str:
    """A fixed-width per-class table: precision, recall, F1, support."""
    lines = [f"{'class':<24}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for name, row in evaluation.report.items():
        if isinstance(row, dict):
            lines.append(f"{name:<24}{row['precision']:>10.4f}{row['recall']:>10.4f}"
                         f"{row['f1-score']:>10.4f}{int(row['support']):>10d}")
    lines.append(f"{'accuracy':<24}{evaluation.metrics['accuracy']:>40.4f}")
    return "\n".join(lines) + "\n"


def write_evaluation(evaluation: Evaluation, info: DatasetInfo, out_dir: Path, plots: bool,
                     report_name: str = "report", plot_dir: Path | None = None) -> None:
    """`<report_name>.json/.txt` (classifiers) and a confusion matrix or scatter plot."""
    from zoo.evaluation import plots as draw

    plot_dir = plot_dir or out_dir / "plots"
    if evaluation.report:
        write_json(out_dir / f"{report_name}.json", evaluation.report)
        write_atomic(out_dir / f"{report_name}.txt", report_text(evaluation, info))
    if not plots:
        return
    plot_dir.mkdir(parents=True, exist_ok=True)
    if evaluation.confusion is not None:
        names = info.class_names or [str(i) for i in range(info.num_classes)]
        draw.confusion_matrix(evaluation.confusion, names, plot_dir / "confusion_matrix.png")
    elif evaluation.y_true is not None:
        draw.predicted_vs_true(evaluation.y_true, evaluation.y_pred,
                               plot_dir / "predicted_vs_true.png")
