"""The defaults of `zoo export` and `zoo.export.exporter.export`, kept once (importing this is cheap)."""

from __future__ import annotations

EXPORT_DEFAULTS = {"format": "onnx", "output": "", "opset": 17, "quantize": "none", "tolerance": 1e-4,
                   "max_metric_drop": 0.05, "checkpoint": "final", "name": "", "part": "all"}
