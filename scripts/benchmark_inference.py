"""Inference latency and throughput of one run folder: Keras vs onnxruntime vs TFLite, and `zoo serve`.

    python scripts/benchmark_inference.py RUN_DIR [RUN_DIR ...] [--repeats 50] [--clients 8]

For each run it exports ONNX and TFLite bundles (into RUN_DIR/export/), then measures on the same
inputs (test-split examples): median latency at batch 1, throughput at batch 64, and requests per
second of `zoo serve` on loopback under `--clients` concurrent clients sending one instance each.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from zoo.evaluation.evaluate import load_run
from zoo.export.convert import ExportError
from zoo.export.exporter import export, split_arrays
from zoo.runtime.bundle import load_bundle
from zoo.runtime.runners import KerasRunner, OnnxRunner, TFLiteRunner
from zoo.runtime.signature import input_signature, model_inputs
from zoo.serving.server import ModelServer, start


def timed(run: Any, inputs: list[np.ndarray], repeats: int) -> float:
    """Median seconds of `run(inputs)` after one warm-up call."""
    run(inputs)
    times = []
    for _ in range(repeats):
        start_time = time.perf_counter()
        run(inputs)
        times.append(time.perf_counter() - start_time)
    return statistics.median(times)


def serve_rps(bundle: Path, rows: list[Any], clients: int, requests: int) -> float:
    """Requests per second of `zoo serve` with `clients` threads each posting one instance."""
    server = ModelServer([load_bundle(bundle)], "127.0.0.1", 0)
    start(server)
    host, port = server.server_address[:2]
    name = next(iter(server.models))

    def post(i: int) -> int:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("POST", f"/v1/models/{name}:predict", json.dumps({"instances": [rows[i % len(rows)]]}))
        response = conn.getresponse()
        response.read()  # closing with the body unread resets the connection
        conn.close()
        return response.status

    try:
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(post, range(clients)))  # warm-up
            start_time = time.perf_counter()
            statuses = list(pool.map(post, range(requests)))
            elapsed = time.perf_counter() - start_time
    finally:
        server.close()
    assert all(s == 200 for s in statuses), statuses
    return requests / elapsed


def bench(run_dir: Path, repeats: int, clients: int, requests: int) -> dict[str, Any]:
    """Every figure of one run folder."""
    onnx = Path(export(run_dir, format="onnx")["bundle"])
    try:
        tflite: Path | None = Path(export(run_dir, format="tflite")["bundle"])
    except ExportError as exc:  # recurrent models need Flex ops the TFLite interpreter lacks
        tflite, tflite_error = None, str(exc)
    _, _, task, splits, model = load_run(run_dir, "final")
    specs = input_signature(model, task, splits.info)
    inputs, _ = split_arrays(splits.test, splits.info, specs, 64)
    inputs = [np.resize(x, (64, *x.shape[1:])) for x in inputs]
    names = [s.name for s in specs]
    runners = {"keras": KerasRunner(None, names, model=model), "onnxruntime": OnnxRunner(onnx / "model.onnx")}
    if tflite is not None:
        runners["tflite"] = TFLiteRunner(tflite / "model.tflite", names)
    keras_predict = {"keras_predict": lambda xs: model.predict(model_inputs(model, names, xs), verbose=0)}
    result: dict[str, Any] = {"run": str(run_dir), "model": model.name}
    if tflite is None:
        result["tflite_unavailable"] = tflite_error
    for name, run in {**keras_predict, **{k: r.run for k, r in runners.items()}}.items():
        one = timed(run, [x[:1] for x in inputs], repeats)
        many = timed(run, inputs, max(3, repeats // 5))
        result[name] = {"latency_ms_batch1": one * 1000, "throughput_batch64": 64 / many}
    bundle = load_bundle(onnx)
    raw = [(x * np.asarray(bundle.std) + np.asarray(bundle.mean)) if bundle.mean is not None else x
           for x in inputs]
    rows = raw[0].tolist() if len(raw) == 1 else [
        {s["name"]: x[i].tolist() for s, x in zip(bundle.inputs, raw, strict=True)} for i in range(64)]
    result["serve_rps"] = serve_rps(onnx, rows, clients, requests)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders written by `zoo train`")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    for run_dir in args.runs:
        result = bench(run_dir, args.repeats, args.clients, args.requests)
        print(json.dumps(result, indent=2))
        base = result["keras_predict"]
        for name in [n for n in ("keras", "onnxruntime", "tflite") if n in result]:
            speedup = base["latency_ms_batch1"] / result[name]["latency_ms_batch1"]
            throughput = result[name]["throughput_batch64"] / base["throughput_batch64"]
            print(f"{result['model']}: {name} is {speedup:.1f}x faster than keras predict at batch 1, "
                  f"{throughput:.1f}x its throughput at batch 64")
        rps = result["serve_rps"]
        print(f"{result['model']}: zoo serve {rps:.0f} requests/s with {args.clients} clients")


if __name__ == "__main__":
    main()
