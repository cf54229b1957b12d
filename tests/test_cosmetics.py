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


def test_tflite_notices_stay_off_the_console(tmp_path, recwarn):
    import keras
    import tensorflow as tf

    from zoo.core.console import NATIVE_LINE
    from zoo.runtime.runners import TFLiteRunner

    assert NATIVE_LINE.match("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    (tmp_path / "model.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    recwarn.clear()
    runner = TFLiteRunner(tmp_path / "model.tflite", ["x"])
    assert not [w for w in recwarn if "Interpreter" in str(w.message)]  # its deprecation: to the log
    assert runner.run([np.ones((2, 4), np.float32)]).shape == (2, 3)
