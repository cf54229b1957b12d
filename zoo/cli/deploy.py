"""`zoo export`, `zoo predict` and `zoo serve`: bundles out of run folders, and inference on them."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence

from zoo.cli.options import parse_options
from zoo.config.commands import ExportOptions, PredictOptions, ServeCommand, ServeOptions
from zoo.core.errors import ZooError


def run_export(args: Sequence[str]) -> int:
    """Export a run folder and print each bundle folder with its check figures."""
    from zoo.export.exporter import export

    opts = parse_options("export", ExportOptions, args)
    logging.basicConfig(level=logging.WARNING)
    result = export(opts.run_dir, format=opts.format, output=opts.output or None, opset=opts.opset,
                    quantize=opts.quantize, tolerance=opts.tolerance, max_metric_drop=opts.max_metric_drop,
                    checkpoint=opts.checkpoint, name=opts.name or None, part=opts.part)
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

    opts = parse_options("predict", PredictOptions, args)
    records = predict(opts.bundle, opts.input, opts.output, seed=opts.seed, trust=opts.trust or None)
    print(f"predicted {len(records)} input(s): {opts.output}")
    return 0


def _log_access_to_stdout() -> None:
    """One JSON object per request on stdout (the container log); other messages on stderr."""
    access = logging.getLogger("zoo.access")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.propagate = False


def run_serve(args: Sequence[str]) -> int:
    """Serve bundles (comma-separated folders) or a repository of numbered versions until SIGTERM/SIGINT."""
    from dataclasses import fields

    from zoo.serving.server import ModelServer

    opts = parse_options("serve", ServeCommand, args)
    if bool(opts.bundle) == bool(opts.repository):
        raise ZooError("zoo serve: give bundle=FOLDER[,FOLDER...] or repository=DIR (DIR/NAME/1/, "
                       "DIR/NAME/2/, ...), one of the two")
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    _log_access_to_stdout()
    options = ServeOptions(**{f.name: getattr(opts, f.name) for f in fields(ServeOptions)})
    bundles = None
    if opts.bundle:
        from zoo.runtime.bundle import load_bundle
        from zoo.runtime.runners import configure_onnx

        configure_onnx(options.onnx_threads or None, options.onnx_spinning)
        bundles = [load_bundle(path, trust=options.trust or None) for path in opts.bundle.split(",")]
    try:
        server = ModelServer(bundles, opts.host, opts.port, repository=opts.repository or None,
                             options=options)
    except OSError as exc:
        raise ZooError(f"cannot listen on {opts.host}:{opts.port} ({exc.strerror}): "
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
