"""Load benchmark of `zoo serve` on loopback: requests/s and p50/p99 latency per concurrency level.

    python scripts/benchmark_serving.py cnn=BUNDLE [lstm=BUNDLE bert=BUNDLE] [--clients 1 8 32]
        [--seconds 5] [--old-server REF]

For each bundle (a folder `zoo export` wrote) it measures, in one run:
- raw onnxruntime throughput (examples/s at batch 64, in this process) and batch-1 latency;
- `zoo serve` started as its own process (batching on: max_batch=64, and off: max_batch=1), under
  1, 8 and 32 concurrent keep-alive clients, each request one instance in TF Serving's row format;
- with `--old-server REF`, the `http.server` based server of git revision REF on the same requests.

The clients are coroutines of one asyncio process (uvloop when installed), so client and server
each get about one core on a 2-core machine. Every phase is bounded by `--seconds` (after a
one-second warm-up) and talks to 127.0.0.1 only. Each answer must be 200 or the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]
WARMUP_S = 1.0


def instances(bundle: Any, n: int = 64) -> list[Any]:
    """`n` single-instance payloads: digits images, sentences (text bundles), or zeros."""
    from sklearn import datasets

    if bundle.takes_text:
        descr = datasets.load_digits().DESCR + datasets.load_wine().DESCR
        sentences = [line.strip() for line in descr.splitlines() if len(line.split()) > 4]
        return [sentences[i % len(sentences)] for i in range(n)]
    spec = bundle.inputs[0]
    shape = [d or 1 for d in spec["shape"][1:]]
    if len(bundle.inputs) == 1 and shape == [8, 8, 1]:
        images = datasets.load_digits().images[-n:]
        return [img[:, :, None].astype(np.float32).tolist() for img in images]
    if len(bundle.inputs) > 1:
        raise SystemExit(f"{bundle.path}: this benchmark sends single-input or text bundles")
    return [np.zeros(shape, np.float32).tolist() for _ in range(n)]


def raw_onnxruntime(bundle: Any, rows: list[Any], seconds: float) -> dict[str, float]:
    """Examples/s of `bundle.outputs` at batch 64 and its median latency at batch 1 (in-process)."""
    if bundle.takes_text:
        batch = bundle.encode_texts([rows[i % len(rows)] for i in range(64)])
    else:
        batch = [np.asarray([rows[i % len(rows)] for i in range(64)], np.float32)]
    one = [x[:1] for x in batch]
    bundle.outputs(batch)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        bundle.outputs(batch)
        count += 64
    throughput = count / (time.perf_counter() - start)
    times = []
    for _ in range(200):
        t = time.perf_counter()
        bundle.outputs(one)
        times.append(time.perf_counter() - t)
    return {"examples_per_s": throughput, "latency_ms": 1000 * statistics.median(times)}


def http_requests(name: str, rows: list[Any]) -> list[bytes]:
    out = []
    for row in rows:
        body = json.dumps({"instances": [row]}).encode()
        out.append(f"POST /v1/models/{name}:predict HTTP/1.1\r\nHost: {HOST}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    return out


async def one_client(port: int, requests: list[bytes], offset: int, start_at: float, stop_at: float,
                     latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    i = offset
    try:
        while (now := time.perf_counter()) < stop_at:
            writer.write(requests[i % len(requests)])
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            status = int(head[9:12])
            if now >= start_at:
                latencies.append(time.perf_counter() - now)
                statuses[status] = statuses.get(status, 0) + 1
            i += 1
    finally:
        writer.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to report server CPU per request."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(port: int, requests: list[bytes], clients: int, seconds: float, pid: int) -> dict[str, Any]:
    start_at = time.perf_counter() + WARMUP_S
    stop_at = start_at + seconds
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    cpu: list[float] = []

    async def sample_cpu() -> None:
        for moment in (start_at, stop_at):
            await asyncio.sleep(max(0.0, moment - time.perf_counter()))
            cpu.append(cpu_seconds(pid))

    await asyncio.gather(sample_cpu(), *(one_client(port, requests, c * 7, start_at, stop_at, latencies,
                                                    statuses) for c in range(clients)))
    if set(statuses) != {200}:
        raise SystemExit(f"non-200 answers under load: {statuses}")
    ms = np.asarray(latencies) * 1000
    return {"rps": len(latencies) / seconds, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "requests": len(latencies),
            "server_cpu_ms_per_request": 1000 * (cpu[1] - cpu[0]) / max(len(latencies), 1)}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start listening")


def old_server_code(ref: str, folder: Path, bundle: Path, port: int) -> str:
    """A program serving `bundle` with revision `ref`'s http.server based server."""
    for module in ("server", "batcher"):
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:zoo/serving/{module}.py"], check=True,
                              capture_output=True, text=True).stdout
        (folder / f"old_{module}.py").write_text(text.replace("zoo.serving.batcher", "old_batcher"))
    return (f"import sys; sys.path.insert(0, {str(folder)!r}); from old_server import ModelServer; "
            f"from zoo.runtime.bundle import load_bundle; "
            f"ModelServer([load_bundle({str(bundle)!r})], {HOST!r}, {port}).serve_forever()")


def serve(command: list[str], name: str, requests: list[bytes], levels: list[int], seconds: float,
          port: int) -> dict[int, dict[str, Any]]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_listening(port, proc)
        return {c: asyncio.run(load(port, requests, c, seconds, proc.pid)) for c in levels}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundles", nargs="+", help="NAME=BUNDLE_FOLDER")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--old-server", default="", help="git revision of the old http.server server")
    parser.add_argument("--serve-options", nargs="*", default=[], help="extra zoo serve key=value options")
    parser.add_argument("--modes", nargs="+", default=["batching", "no_batching"])
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    from zoo.runtime.bundle import load_bundle

    zoo = str(Path(sys.executable).with_name("zoo"))
    results: dict[str, Any] = {}
    for item in args.bundles:
        label, _, path = item.partition("=")
        bundle = load_bundle(path)
        rows = instances(bundle)
        requests = http_requests(bundle.name, rows)
        figures: dict[str, Any] = {"onnxruntime": raw_onnxruntime(bundle, rows, args.seconds)}
        for mode, max_batch in (("batching", 64), ("no_batching", 1)):
            if mode not in args.modes:
                continue
            port = free_port()
            command = [zoo, "serve", f"bundle={path}", f"port={port}", f"max_batch={max_batch}",
                       "access_log=false", *args.serve_options]
            figures[mode] = serve(command, bundle.name, requests, args.clients, args.seconds, port)
        if args.old_server:
            with tempfile.TemporaryDirectory() as folder:
                port = free_port()
                code = old_server_code(args.old_server, Path(folder), Path(path), port)
                figures["old_server"] = serve([sys.executable, "-c", code], bundle.name, requests,
                                              args.clients, args.seconds, port)
        results[label] = figures
        print(json.dumps({label: figures}), flush=True)
    print()
    print("| model | server | " + " | ".join(f"{c} clients: req/s, p50/p99 ms (server CPU/request)"
                                           for c in args.clients) + " |")
    print("|---|---|" + "---:|" * len(args.clients))
    for label, figures in results.items():
        for mode in ("batching", "no_batching", "old_server"):
            if mode in figures:
                cells = [f"{f['rps']:,.0f}, {f['p50_ms']:.1f}/{f['p99_ms']:.1f} "
                         f"({f['server_cpu_ms_per_request']:.2f} ms CPU)" for f in figures[mode].values()]
                print(f"| {label} | {mode} | " + " | ".join(cells) + " |")
        raw = figures["onnxruntime"]
        print(f"| {label} | onnxruntime alone | {raw['examples_per_s']:,.0f} examples/s at batch 64, "
              f"{raw['latency_ms']:.3f} ms at batch 1 |")


if __name__ == "__main__":
    main()
