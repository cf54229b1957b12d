"""`zoo serve`: the ASGI app (`zoo.serving.app`) on uvicorn, over onnxruntime bundles, without TensorFlow.

Protocols: TF Serving REST (`/v1/models/...`), Open Inference Protocol v2 (`/v2/...`), `/metrics`
(Prometheus) and `/healthz`. Models come from bundle folders (each served as version 1) or from a
repository folder of numbered versions, reloaded while serving (`zoo.serving.repository`).
SIGTERM or SIGINT stops taking connections and drains in-flight requests (up to
`drain_timeout_s`) before exiting; completions still streaming then end with a 503 event
`STREAM_MARGIN_S` before that timeout, so every response ends cleanly within it.
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from zoo.core.compat import bounded_http_protocol, draining_server
from zoo.runtime.bundle import Bundle
from zoo.runtime.runners import configure_onnx
from zoo.serving.app import create_app
from zoo.serving.metrics import ServerMetrics
from zoo.serving.options import ServeOptions
from zoo.serving.repository import ModelRepository

log = logging.getLogger("zoo.serve")
STREAM_MARGIN_S = 0.5  # streams end this long before the drain timeout, to flush and close


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (an OSError names a busy port before anything is loaded); connections made
    before uvicorn runs wait in its backlog."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class ModelServer:
    """The served models, the app and its uvicorn server, bound to `host:port` (0 = a free port)."""

    def __init__(self, bundles: list[Bundle] | None = None, host: str = "127.0.0.1", port: int = 8501,
                 max_request_bytes: int | None = None, max_instances: int | None = None,
                 max_batch: int | None = None, window_ms: float | None = None, *,
                 repository: str | Path | None = None, options: ServeOptions | None = None):
        self.options = options or ServeOptions()
        for key, value in {"max_request_bytes": max_request_bytes, "max_instances": max_instances,
                           "max_batch": max_batch, "batch_window_ms": window_ms}.items():
            if value is not None:
                setattr(self.options, key, value)
        configure_onnx(self.options.onnx_threads or None, self.options.onnx_spinning)
        self.socket = bind(host, port)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.metrics = ServerMetrics()
        try:
            self.repository = ModelRepository(self.options, self.metrics, root=repository, bundles=bundles)
        except Exception:
            self.socket.close()
            raise
        self.models = self.repository.models
        self.app = create_app(self.repository, self.options, self.metrics)
        config = uvicorn.Config(self.app, http=bounded_http_protocol(), lifespan="on", log_level="warning",
                                access_log=False, timeout_keep_alive=self.options.keep_alive_s,
                                timeout_graceful_shutdown=self.options.drain_timeout_s,
                                backlog=2048, server_header=False)
        config.zoo_header_timeout_s = self.options.header_timeout_s  # read by bounded_http_protocol()
        self.uvicorn = draining_server(config, self.stop_streams)
        self.thread: threading.Thread | None = None

    def stop_streams(self) -> None:
        """Shutdown begins: tell the app (`app.stop_by(deadline)`) to end streaming responses before
        the drain timeout, which uvicorn would otherwise cancel mid-chunk, with a traceback."""
        drain = self.options.drain_timeout_s or 0.0
        self.app.stop_by(time.monotonic() + max(0.0, drain - STREAM_MARGIN_S))

    def serve_forever(self) -> None:
        """Serve in this thread until SIGTERM/SIGINT (main thread) or `close()`, then drain."""
        gc.freeze()  # the loaded modules and models are never garbage: full collections skip them
        self.uvicorn.run(sockets=[self.socket])

    def start(self, timeout_s: float = 30.0) -> threading.Thread:
        """Serve in a background thread, returning once the server accepts connections."""
        self.thread = threading.Thread(target=self.serve_forever, name="zoo-serve", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.uvicorn.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start: see the log above")
            time.sleep(0.01)
        return self.thread

    def close(self) -> None:
        """Stop (draining in-flight requests) and wait for the server thread."""
        self.uvicorn.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=self.options.drain_timeout_s + 10)
        self.socket.close()


def start(server: ModelServer) -> Any:
    """Serve in a background thread (for tests and benchmarks); `server.close()` stops it."""
    return server.start()
