"""`zoo serve`: a TF-Serving-style REST API over onnxruntime, on the standard library's HTTP server.

Routes: `GET /v1/models` (served models), `GET /v1/models/NAME` (status and metadata),
`POST /v1/models/NAME:predict` with `{"instances": [...]}`, `GET /healthz`, and for language-model
bundles OpenAI's `POST /v1/completions` (`zoo.serving.completions`, streamed as server-sent events).
Text bundles also take strings as instances (tokenised as in training). Bad requests get a 4xx
answer with `{"error": "..."}`; the server keeps running.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from zoo.errors import DataError, ZooError
from zoo.export.runtime import Bundle
from zoo.serving.batcher import MicroBatcher

BAD, TOO_LARGE = HTTPStatus.BAD_REQUEST, HTTPStatus.REQUEST_ENTITY_TOO_LARGE

log = logging.getLogger("zoo.serve")
NUMERIC_KINDS = "biuf"


class RequestError(Exception):
    """A client error: answered with `status` and the message, never a crash."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


class ServedModel:
    """One bundle behind a micro-batcher, with its TF-Serving status and metadata."""

    def __init__(self, bundle: Bundle, max_batch: int, window_ms: float):
        self.bundle = bundle
        self.batcher = MicroBatcher(lambda xs: bundle.runner.run_all(bundle.preprocess(xs)), max_batch,
                                    window_ms)

    def status(self) -> dict[str, Any]:
        meta = self.bundle.meta
        return {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}],
                "metadata": {"name": self.bundle.name, "format": meta["format"], "task": meta["task"],
                             "part": self.bundle.part, "inputs": meta["inputs"], "outputs": meta["outputs"],
                             "text": (self.bundle.text_spec or {}).get("kind"),
                             "quantize": meta["quantize"], "verification": meta["verification"]}}

    def instances(self, body: Any, max_instances: int) -> list[np.ndarray]:
        """The request's instances as arrays in signature order (one per model input)."""
        if not isinstance(body, dict) or not isinstance(body.get("instances"), list) or not body["instances"]:
            raise RequestError(BAD, 'the body must be {"instances": [...]} with at least one instance')
        rows = body["instances"]
        if len(rows) > max_instances:
            raise RequestError(TOO_LARGE, f"{len(rows)} instances in one request, "
                               f"the limit is {max_instances}: split it")
        if self.bundle.takes_text and _looks_like_text(rows[0]):
            return self.texts(rows)
        specs = self.bundle.inputs
        if len(specs) == 1:
            columns = [rows]
        elif all(isinstance(r, dict) for r in rows):
            columns = [[r.get(s["name"]) for r in rows] for s in specs]
        else:
            names = ", ".join(s["name"] for s in specs)
            raise RequestError(BAD, f"each instance must be an object with {names}")
        arrays = []
        for spec, column in zip(specs, columns, strict=True):
            try:
                array = np.asarray(column)
            except ValueError as exc:
                raise RequestError(BAD, f"input {spec['name']!r}: ragged instances ({exc})") from exc
            if array.dtype.kind not in NUMERIC_KINDS:
                raise RequestError(BAD, f"input {spec['name']!r} must hold numbers of dtype "
                                   f"{spec['dtype']}, got {array.dtype.name} values")
            arrays.append(array)
        try:
            return self.bundle.check(arrays)
        except ZooError as exc:
            raise RequestError(BAD, str(exc)) from exc

    def texts(self, rows: list[Any]) -> list[np.ndarray]:
        """Text instances (strings, or pairs of strings) tokenised into the model's inputs."""
        from zoo.serving.text import as_text

        pairs = bool(self.bundle.text_spec.get("pairs"))
        try:
            texts = [as_text(row, pairs, f"instance {i}") for i, row in enumerate(rows)]
        except DataError as exc:
            raise RequestError(BAD, str(exc)) from exc
        return self.bundle.encode_texts(texts)

    def predict(self, body: Any, max_instances: int) -> dict[str, Any]:
        outputs = self.batcher.submit(self.instances(body, max_instances))
        if len(outputs) > 1:  # named outputs (a VAE encoder): TF Serving's row format
            names = self.bundle.meta["outputs"].get("names") or sorted(outputs)
            n = len(next(iter(outputs.values())))
            return {"predictions": [{k: outputs[k][i].tolist() for k in names} for i in range(n)]}
        values = next(iter(outputs.values()))
        answer: dict[str, Any] = {"predictions": values.tolist()}
        labels = self.bundle.labels(values)
        if labels is not None:
            answer["labels"] = labels
        return answer


def _looks_like_text(instance: Any) -> bool:
    """A text instance: a string, or a list whose first item is one (a sentence pair)."""
    return isinstance(instance, str) or (isinstance(instance, list) and bool(instance)
                                         and isinstance(instance[0], str))


def language_models(bundles: list[Bundle]) -> dict[str, Any]:
    """A TF-free text generator for each bundle that declares itself a causal LM."""
    from zoo.generation.onnx_loop import CAUSAL_LM, BundleGenerator

    return {b.name: BundleGenerator(b) for b in bundles if b.meta["outputs"].get("kind") == CAUSAL_LM}


class ModelServer(ThreadingHTTPServer):
    """The HTTP server holding the served models and the request limits."""

    daemon_threads = True
    request_queue_size = 256  # the listen backlog: a burst of clients must not be reset (default 5)

    def __init__(self, bundles: list[Bundle], host: str = "127.0.0.1", port: int = 8501,
                 max_request_bytes: int = 1 << 20, max_instances: int = 1024, max_batch: int = 64,
                 window_ms: float = 5.0):
        self.models = {b.name: ServedModel(b, max_batch, window_ms) for b in bundles}
        self.generators = language_models(bundles)
        self.max_request_bytes, self.max_instances = max_request_bytes, max_instances
        super().__init__((host, port), Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-connection is routine; anything else is printed as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        for model in self.models.values():
            model.batcher.close()


class Handler(BaseHTTPRequestHandler):
    """Routes requests to the served models; every client error is a JSON 4xx answer."""

    server: ModelServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: HTTPStatus, data: dict[str, Any]) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:  # tell the client not to reuse this connection (keep-alive pools)
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _model(self, name: str) -> ServedModel:
        if name not in self.server.models:
            raise RequestError(HTTPStatus.NOT_FOUND, f"no model {name!r}: served models are "
                               f"{', '.join(self.server.models)} (GET /v1/models)")
        return self.server.models[name]

    def _answer(self, handle: Any) -> None:
        try:
            self._send(HTTPStatus.OK, handle())
        except RequestError as exc:
            self.close_connection = True  # an unread body must not be taken for the next request
            self._send(exc.status, {"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - the server must survive a failing model call
            log.exception("request %s failed", self.path)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.rstrip("/")

        def handle() -> dict[str, Any]:
            if path in ("/healthz", "/health"):
                return {"status": "ok", "models": list(self.server.models)}
            if path == "/v1/models":
                return {"models": [{"name": n, "version": "1", "state": "AVAILABLE"}
                                   for n in self.server.models]}
            if path.startswith("/v1/models/") and ":" not in path:
                return self._model(path.removeprefix("/v1/models/")).status()
            raise RequestError(HTTPStatus.NOT_FOUND, f"no route GET {self.path}: try /v1/models or /healthz")

        self._answer(handle)

    def _body(self) -> Any:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header with the JSON body")
        if int(length) > self.server.max_request_bytes:
            raise RequestError(TOO_LARGE, f"request of {length} bytes exceeds the limit "
                               f"of {self.server.max_request_bytes} bytes: send fewer instances per request")
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestError(BAD, f"malformed JSON: {exc}") from exc

    def completions(self) -> None:
        """OpenAI's text completions: one JSON answer, or server-sent events (chunked) when streaming."""
        from zoo.serving.completions import CompletionError, complete, parse_request, stream_events

        try:
            request = parse_request(self._body(), list(self.server.generators))
        except RequestError as exc:
            request, error = None, CompletionError(str(exc), status=int(exc.status))
        except CompletionError as exc:
            request, error = None, exc
        if request is None:
            self.close_connection = True
            self._send(HTTPStatus(error.status), error.body())
            return
        generator = self.server.generators[request.model]
        if not request.stream:
            self._answer(lambda: complete(generator, request))
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in stream_events(generator, request):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
        except Exception:  # noqa: BLE001 - headers are sent: end the stream, keep serving
            log.exception("streamed completion failed")
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.rstrip("/") == "/v1/completions":
            self.completions()
            return

        def handle() -> dict[str, Any]:
            path = self.path.rstrip("/")
            if not (path.startswith("/v1/models/") and path.endswith(":predict")):
                raise RequestError(HTTPStatus.NOT_FOUND, f"no route POST {self.path}: "
                                   "use /v1/models/NAME:predict")
            model = self._model(path.removeprefix("/v1/models/").removesuffix(":predict"))
            return model.predict(self._body(), self.server.max_instances)

        self._answer(handle)


def start(server: ModelServer) -> threading.Thread:
    """Serve in a background thread (for tests and the benchmark); `server.close()` stops it."""
    thread = threading.Thread(target=server.serve_forever, name="zoo-serve", daemon=True)
    thread.start()
    return thread
