"""`zoo export`, `zoo predict` and `zoo serve`: bundles out of run folders, and inference on them."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from zoo.cli.keyvalue import REQUIRED, parse
from zoo.config.bounds import Bounds
from zoo.core.errors import ZooError
from zoo.export.defaults import EXPORT_DEFAULTS

EXPORT_OPTIONS = {"run_dir": REQUIRED, **EXPORT_DEFAULTS}
PREDICT_OPTIONS = {"bundle": REQUIRED, "input": REQUIRED, "output": REQUIRED, "seed": 0, "trust": False}
ONNX_OPSETS = Bounds(ge=9, le=21)  # what tf2onnx 1.17 writes and onnxruntime 1.20 runs
EXPORT_RANGES = {"opset": ONNX_OPSETS, "tolerance": Bounds(gt=0), "max_metric_drop": Bounds(ge=0, le=1)}
SERVE_RANGES = {"port": Bounds(ge=0, le=65535), "max_request_bytes": Bounds(ge=1),  # port 0: any free one
                "max_instances": Bounds(ge=1), "max_batch": Bounds(ge=1), "batch_window_ms": Bounds(ge=0),
                "header_timeout_s": Bounds(gt=0), "body_timeout_s": Bounds(gt=0),
                "request_timeout_s": Bounds(gt=0), "keep_alive_s": Bounds(ge=0), "max_queue": Bounds(ge=1),
                "model_threads": Bounds(ge=1), "inline_ms": Bounds(ge=0), "onnx_threads": Bounds(ge=0),
                "drain_timeout_s": Bounds(ge=0), "poll_s": Bounds(ge=0), "drift_window": Bounds(ge=1)}
SERVE_OPTIONS = {"bundle": "", "repository": "", "port": 8501, "host": "127.0.0.1"}  # + ServeOptions fields


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
    records = predict(opts["bundle"], str(opts["input"]), opts["output"], seed=opts["seed"],
                      trust=opts["trust"] or None)
    print(f"predicted {len(records)} input(s): {opts['output']}")
    return 0


def _serve_options() -> dict[str, Any]:
    from dataclasses import fields

    from zoo.serving.options import ServeOptions

    return SERVE_OPTIONS | {f.name: f.default for f in fields(ServeOptions)}


def _log_access_to_stdout() -> None:
    """One JSON object per request on stdout (the container log); other messages on stderr."""
    access = logging.getLogger("zoo.access")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.propagate = False


def run_serve(args: Sequence[str]) -> int:
    """Serve bundles (comma-separated folders) or a repository of numbered versions until SIGTERM/SIGINT."""
    from zoo.serving.options import ServeOptions
    from zoo.serving.server import ModelServer

    opts = parse("serve", args, _serve_options(), SERVE_RANGES)
    if bool(opts["bundle"]) == bool(opts["repository"]):
        raise ZooError("zoo serve: give bundle=FOLDER[,FOLDER...] or repository=DIR (DIR/NAME/1/, "
                       "DIR/NAME/2/, ...), one of the two")
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    _log_access_to_stdout()
    options = ServeOptions(**{k: v for k, v in opts.items() if k not in SERVE_OPTIONS})
    bundles = None
    if opts["bundle"]:
        from zoo.runtime.bundle import load_bundle
        from zoo.runtime.runners import configure_onnx

        configure_onnx(options.onnx_threads or None, options.onnx_spinning)
        bundles = [load_bundle(path, trust=options.trust or None) for path in str(opts["bundle"]).split(",")]
    try:
        server = ModelServer(bundles, opts["host"], opts["port"], repository=opts["repository"] or None,
                             options=options)
    except OSError as exc:
        raise ZooError(f"cannot listen on {opts['host']}:{opts['port']} ({exc.strerror}): "
                       "pass another port=...") from exc
    host, port = server.server_address[:2]
    print(f"serving {', '.join(server.models) or 'no model yet'} on http://{host}:{port}/v1/models "
          f"(Open Inference v2 at /v2, metrics at /metrics)", flush=True)
    # uvicorn drains on SIGTERM/SIGINT, then re-raises the signal to the handler found before it:
    # a quiet one lets the command end normally (exit 0) after the drain.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = ({sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
                if main_thread else {})
    try:
        server.serve_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.socket.close()
    print("stopped: in-flight requests drained", flush=True)
    return 0


COMMANDS = {"export": run_export, "predict": run_predict, "serve": run_serve}
