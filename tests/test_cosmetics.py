"""What a person sees: tick labels of the regression plot that do not run into each other."""

from __future__ import annotations

import numpy as np
import pytest


def _min_gap(labels, renderer, horizontal: bool) -> float:
    boxes = [t.get_window_extent(renderer) for t in labels if t.get_text() and t.get_visible()]
    if horizontal:
        boxes.sort(key=lambda b: b.x0)
        return min(b.x0 - a.x1 for a, b in zip(boxes, boxes[1:], strict=False))
    boxes.sort(key=lambda b: b.y0)
    return min(b.y0 - a.y1 for a, b in zip(boxes, boxes[1:], strict=False))


@pytest.mark.parametrize(("scale", "offset"), [(1700.0, 120000.0), (200.0, 330000.5), (1.0, 0.0)])
def test_predicted_vs_true_tick_labels_never_overlap(tmp_path, monkeypatch, scale, offset):
    """Diabetes progression scaled to six-digit prices (labels 100000 ... 800000 once touched)."""
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_diabetes

    from zoo.evaluation import plots

    y_true = load_diabetes().target * scale + offset
    y_pred = y_true + np.random.default_rng(0).normal(0, 20 * scale + 1, len(y_true))
    kept = []
    monkeypatch.setattr(plots.plt, "close", kept.append)  # keep the figure to measure its labels
    out = plots.predicted_vs_true(y_true, y_pred, tmp_path / "predicted_vs_true.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = kept[0].axes[0]
    renderer = kept[0].canvas.get_renderer()
    assert _min_gap(ax.get_xticklabels(), renderer, True) > 4
    assert _min_gap(ax.get_yticklabels(), renderer, False) > 2
    plt.close(kept[0])
