"""Prometheus metrics (`prometheus_client`) and the structured access log, as one ASGI middleware.

Every request is counted by route, method and status code and timed into a latency histogram; model
calls record their batch size and duration; queue depth, loaded versions and drift (PSI per feature)
are read when `/metrics` is scraped. The access log is one JSON object per request on the
`zoo.access` logger.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

access_log = logging.getLogger("zoo.access")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServerMetrics:
    """The server's metrics, in a registry of their own (several servers may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):  # CPU, memory, Python
            r.register(standard)
        self.requests = Counter("zoo_http_requests", "HTTP requests answered",
                                ["method", "route", "code"], registry=r)
        self.latency = Histogram("zoo_http_request_duration_seconds", "Time to answer a request",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.inferences = Counter("zoo_inference_examples", "Examples predicted",
                                  ["model", "version", "protocol"], registry=r)
        self.batch_size = Histogram("zoo_batch_size", "Rows per model call", ["model", "version"],
                                    buckets=BATCH_BUCKETS, registry=r)
        self.batch_latency = Histogram("zoo_model_run_duration_seconds", "Time of one model call",
                                       ["model", "version"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("zoo_queue_depth", "Requests waiting for a model call",
                                 ["model", "version"], registry=r)
        self.versions = Gauge("zoo_model_versions_loaded", "Versions of a model being served",
                              ["model"], registry=r)
        self.load_failures = Counter("zoo_model_load_failures", "Versions that failed to load or check",
                                     ["model"], registry=r)
        self.decode_rows = Gauge("zoo_generation_batch_requests", "Completions in the decoding batch",
                                 ["model", "version"], registry=r)
        self.generated_tokens = Counter("zoo_generated_tokens", "Completion tokens generated",
                                        ["model", "version"], registry=r)
        self.time_to_first_token = Histogram("zoo_time_to_first_token_seconds", "From a completion's "
                                             "arrival to its first token", ["model", "version"],
                                             buckets=LATENCY_BUCKETS, registry=r)
        self.tokens_per_second = Histogram("zoo_generation_tokens_per_second", "A completion's decoding "
                                           "speed after its first token", ["model", "version"],
                                           buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), registry=r)
        self.drift = Gauge("zoo_input_drift_psi", "Population stability index of live inputs against "
                           "the training data, per feature", ["model", "version", "feature"], registry=r)

    def batch_observer(self, model: str, version: str) -> Callable[[int, float], None]:
        size, seconds = self.batch_size.labels(model, version), self.batch_latency.labels(model, version)

        def observe(rows: int, elapsed: float) -> None:
            size.observe(rows)
            seconds.observe(elapsed)

        return observe


class ObserveRequests:
    """ASGI middleware: count, time and log every HTTP request (handlers name the route and model
    in `scope["zoo"]`)."""

    def __init__(self, app: Any, metrics: ServerMetrics, log_requests: bool = True):
        self.app, self.metrics, self.log_requests = app, metrics, log_requests
        self.children: dict[tuple[str, str, str], tuple[Any, Any]] = {}  # labelled series, looked up once

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer = {"status": 500, "bytes": 0}
        info: dict[str, Any] = {}
        scope["zoo"] = info

        async def observed_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            elapsed = time.perf_counter() - started
            route = info.get("route", "unknown")
            key = (scope["method"], route, str(answer["status"]))
            series = self.children.get(key)
            if series is None:
                series = self.children[key] = (self.metrics.requests.labels(*key),
                                               self.metrics.latency.labels(route))
            series[0].inc()
            series[1].observe(elapsed)
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                client = scope.get("client") or ("", 0)
                access_log.info(json.dumps({
                    "time": round(time.time(), 3), "client": f"{client[0]}:{client[1]}",
                    "method": scope["method"], "path": scope["path"], "status": answer["status"],
                    "bytes": answer["bytes"], "ms": round(elapsed * 1000, 2), "route": route,
                    **{k: v for k, v in info.items() if k != "route"}}))
