"""`zoo export`, `zoo predict` and `zoo serve`: bundles out of run folders, and inference on them."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from zoo.cli.keyvalue import REQUIRED, parse
from zoo.config.bounds import Bounds
from zoo.errors import ZooError

EXPORT_OPTIONS = {"run_dir": REQUIRED, "format": "onnx", "output": "", "opset": 17, "quantize": "none",
                  "tolerance": 1e-4, "max_metric_drop": 0.05, "checkpoint": "final", "name": "",
                  "part": "all"}
PREDICT_OPTIONS = {"bundle": REQUIRED, "input": REQUIRED, "output": REQUIRED, "seed": 0}
ONNX_OPSETS = Bounds(ge=9, le=21)  # what tf2onnx 1.17 writes and onnxruntime 1.20 runs
EXPORT_RANGES = {"opset": ONNX_OPSETS, "tolerance": Bounds(gt=0), "max_metric_drop": Bounds(ge=0, le=1)}
SERVE_RANGES = {"port": Bounds(ge=0, le=65535), "max_request_bytes": Bounds(ge=1),  # port 0: any free one
                "max_instances": Bounds(ge=1), "max_batch": Bounds(ge=1), "batch_window_ms": Bounds(ge=0)}
SERVE_OPTIONS = {"bundle": REQUIRED, "port": 8501, "host": "127.0.0.1", "max_request_bytes": 1 << 20,
                 "max_instances": 1024, "max_batch": 64, "batch_window_ms": 5.0}


def run_export(args: Sequence[str]) -> int:
    """Export a run folder and print each bundle folder with its check figures."""
    from zoo.export.exporter import export

    opts = parse("export", args, EXPORT_OPTIONS, EXPORT_RANGES)
    logging.basicConfig(level=logging.WARNING)
    result = export(opts["run_dir"], format=opts["format"], output=opts["output"] or None,
                    opset=opts["opset"], quantize=opts["quantize"], tolerance=opts["tolerance"],
                    max_metric_drop=opts["max_metric_drop"], checkpoint=opts["checkpoint"],
                    name=opts["name"] or None, part=opts["part"])
    for meta in result["parts"].values() if "parts" in result else [result]:
        check = meta["verification"]
        figures = f"max |keras - exported| = {check['max_abs_diff']:.3g}"
        if "metric" in check:
            figures += f", {check['metric']} {check['keras']:.4f} -> {check['exported']:.4f}"
        part = "" if meta.get("part", "model") == "model" else f"{meta['part']} "
        print(f"exported {part}{meta['format']} (quantize={meta['quantize']}, "
              f"{meta['sizes']['artifact_bytes']} bytes): {figures}  bundle: {meta['bundle']}")
    return 0


def run_predict(args: Sequence[str]) -> int:
    """Predict on a file or folder (or draw N samples) with a bundle and write CSV, JSON, NPY or PNGs."""
    from zoo.serving.predict import predict

    opts = parse("predict", args, PREDICT_OPTIONS)
    records = predict(opts["bundle"], str(opts["input"]), opts["output"], seed=opts["seed"])
    print(f"predicted {len(records)} input(s): {opts['output']}")
    return 0


def run_serve(args: Sequence[str]) -> int:
    """Serve bundles (comma-separated folders) over HTTP until interrupted."""
    from zoo.export.runtime import load_bundle
    from zoo.serving.server import ModelServer

    opts = parse("serve", args, SERVE_OPTIONS, SERVE_RANGES)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    bundles = [load_bundle(path) for path in str(opts["bundle"]).split(",")]
    try:
        server = ModelServer(bundles, opts["host"], opts["port"], opts["max_request_bytes"],
                             opts["max_instances"], opts["max_batch"], opts["batch_window_ms"])
    except OSError as exc:
        raise ZooError(f"cannot listen on {opts['host']}:{opts['port']} ({exc.strerror}): "
                       "pass another port=...") from exc
    host, port = server.server_address[:2]
    print(f"serving {', '.join(server.models)} on http://{host}:{port}/v1/models", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


COMMANDS = {"export": run_export, "predict": run_predict, "serve": run_serve}
