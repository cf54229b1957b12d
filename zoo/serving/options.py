"""The server's limits and batching settings (the `zoo serve` options of the same names)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServeOptions:
    """Bounds on every request and how the models are batched; defaults suit a small CPU pod."""

    max_request_bytes: int = 1 << 20  # body size (after decompression), else 413
    max_instances: int = 1024  # examples in one request, else 413
    header_timeout_s: float = 5.0  # to send the request line and headers, else 408 and closed
    body_timeout_s: float = 10.0  # to send the body once headers are in, else 408 and closed
    request_timeout_s: float = 10.0  # queued plus model time, else 504
    keep_alive_s: int = 5  # idle keep-alive connections are closed after this
    max_batch: int = 64  # rows in one model call; 1 turns batching off
    batch_window_ms: float = 0.0  # how long a batch waits to fill (0: what queued while the model ran)
    max_queue: int = 256  # requests waiting per model version, else 429 with Retry-After
    model_threads: int = 2  # model calls in flight at once (onnxruntime releases the GIL)
    inline_ms: float = 1.0  # models faster than this per call run on the event loop, not a thread
    onnx_threads: int = 1  # onnxruntime intra-op threads per call (0 = one per core)
    onnx_spinning: bool = False  # let onnxruntime's idle threads spin (steals CPU from the event loop)
    drain_timeout_s: float = 20.0  # graceful shutdown: time for in-flight requests
    poll_s: float = 2.0  # how often a repository is scanned for new versions (0 = never)
    drift_window: int = 10_000  # live examples the drift statistics cover (about)
    access_log: bool = True
    trust: bool = False  # load bundles whose graphs may touch the host (docs/deploy.md)
    max_decode_batch: int = 16  # completions decoded together per language model (continuous batching)
    max_decode_waiting: int = 64  # completions waiting for a row, else 429 with Retry-After
    generation_timeout_s: float = 300.0  # a completion's deadline: it ends there (finish_reason length)
