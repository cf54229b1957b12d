"""The ASGI application (Starlette): TF Serving REST, Open Inference Protocol v2, health and /metrics.

Every answer is JSON (binary v2 outputs aside); every client error is a 4xx `{"error": "..."}`, an
unexpected one a logged 500 of the same shape. Bodies are read under a size limit and a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from zoo.core.errors import first_line
from zoo.serving import tfserving, v2
from zoo.serving.codec import ApiError, dumps, parse_json
from zoo.serving.metrics import ObserveRequests, ServerMetrics
from zoo.serving.openai_api import GenerationService
from zoo.serving.options import ServeOptions
from zoo.serving.repository import ModelEntry, ModelRepository, ServedVersion

log = logging.getLogger("zoo.serve")
CLOSE = {"connection": "close"}  # the body was not read to its end: the connection cannot be reused
Handler = Callable[[Request], Awaitable[Response]]


def answer(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status, headers, media_type="application/json")


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return answer({"error": message}, status, headers)


def endpoint(route: str, handle: Handler) -> Handler:
    """Name the route for metrics and the access log; turn every failure into a JSON answer."""

    async def run(request: Request) -> Response:
        request.scope.setdefault("zoo", {})["route"] = route
        try:
            return await handle(request)
        except ApiError as exc:
            return error(exc.status, str(exc), exc.headers)
        except ClientDisconnect:
            return error(400, "the client went away before sending its whole body", CLOSE)
        except Exception as exc:  # noqa: BLE001 - the server must survive a failing model call
            log.exception("%s %s failed", request.method, request.scope["path"])
            return error(500, f"internal error: {first_line(exc, typed=True)}")

    return run


async def read_body(request: Request, options: ServeOptions) -> bytes:
    """The whole body, within `max_request_bytes` (also after gzip/deflate) and `body_timeout_s`."""
    limit = options.max_request_bytes
    length = request.headers.get("content-length")
    if length is not None and not length.isdigit():
        raise ApiError(400, f"Content-Length {length!r} is not a number", CLOSE)
    if length is not None and int(length) > limit:
        raise ApiError(413, f"request of {length} bytes exceeds the limit of {limit} bytes: send fewer "
                       "instances per request", CLOSE)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(options.body_timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, f"request body exceeds the limit of {limit} bytes: send fewer "
                                   "instances per request", CLOSE)
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {options.body_timeout_s:g} s "
                       "(is Content-Length larger than the body?)", CLOSE) from None
    raw = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding in ("gzip", "deflate"):
        inflate = zlib.decompressobj(31 if encoding == "gzip" else 15)
        try:
            raw = inflate.decompress(raw, limit + 1)
        except zlib.error as exc:
            raise ApiError(400, f"the {encoding} body cannot be decompressed ({exc})") from None
        if len(raw) > limit or inflate.unconsumed_tail:
            raise ApiError(413, f"the decompressed body exceeds the limit of {limit} bytes")
        if not inflate.eof:
            raise ApiError(400, f"the {encoding} body is cut short (its end and checksum are missing): "
                           "send the whole compressed body")
        if inflate.unused_data:
            raise ApiError(400, f"{len(inflate.unused_data)} bytes follow the end of the {encoding} body "
                           "(trailing data or a second member): send one compressed stream")
    elif encoding != "identity":
        raise ApiError(415, f"Content-Encoding {encoding!r} is not supported: send identity, gzip or deflate")
    return raw


async def decoded(served: ServedVersion, convert: Callable[..., Any], *args: Any) -> Any:
    """`convert(*args)`: in a worker thread for a model taking images (base64 files are decoded there,
    so health checks and other requests never wait for them), inline otherwise."""
    if any(len(spec["shape"]) == 4 for spec in served.bundle.inputs):
        return await asyncio.to_thread(convert, *args)
    return convert(*args)


class Endpoints:
    """The handlers of the routes over one repository: a method each, the two model routers sharing
    `model_route` (match the path, name the route for metrics, allow POST only where it posts)."""

    def __init__(self, repository: ModelRepository, options: ServeOptions, metrics: ServerMetrics):
        self.repository, self.options, self.metrics = repository, options, metrics

    def model_route(self, request: Request, pattern: Any, usage: str, prefix: str, default: str,
                    posts: tuple[str, ...], allowed: str) -> tuple[Any, ModelEntry]:
        path = request.scope["path"]
        match = pattern.match(path)
        if match is None:
            raise ApiError(404, f"no route {path}: use {usage}")
        entry = self.repository.get(match["name"])
        tail = match["tail"]
        request.scope["zoo"]["route"] = f"{prefix}_{(tail or default).strip(':/')}"
        if (request.method == "POST") != (tail in posts):
            raise ApiError(405, f"{request.method} is not allowed on {path}: {allowed}")
        return match, entry

    @staticmethod
    def note(request: Request, served: ServedVersion) -> None:
        request.scope["zoo"].update(model=served.model, version=served.version)

    async def predict(self, request: Request, served: ServedVersion, verb: str) -> Response:
        body = parse_json(await read_body(request, self.options))
        limit = self.options.max_instances
        if verb == ":predict":
            arrays, rows = await decoded(served, tfserving.request_inputs, served, body, limit)
        else:
            want = "classifier" if verb == ":classify" else "regressor"
            if tfserving.kind(served) != want:
                raise ApiError(400, f"{verb[1:]} needs a {want}, model {served.model!r} is a "
                               f"{tfserving.kind(served)}: use :predict")
            arrays = await decoded(served, tfserving.examples_inputs, served, body, limit)
        outputs = await served.infer(arrays)
        self.metrics.inferences.labels(served.model, str(served.version), "tfserving").inc(len(arrays[0]))
        if verb == ":classify":
            return answer(tfserving.classify_answer(served, outputs))
        if verb == ":regress":
            return answer(tfserving.regress_answer(outputs))
        return answer(tfserving.predict_answer(served, outputs, rows))

    @staticmethod
    def drift(served: ServedVersion) -> Response:
        if served.drift is None:
            raise ApiError(404, f"model {served.model!r} version {served.version} has no training profile "
                           "(training_profile.json): export it again to monitor drift")
        return answer({"model": served.model, "version": str(served.version), **served.drift.report()})

    @staticmethod
    def status(entry: ModelEntry, version: str | None, label: str | None) -> Response:
        states = entry.status()
        if label is not None or version is not None:
            number = entry.resolve(version, label).version if label is not None else entry.number(version)
            chosen = str(number)
            states = [s for s in states if s["version"] == chosen]
            if not states:
                raise ApiError(404, f"model {entry.name!r} has no version {chosen}")
        return answer({"model_version_status": states})

    async def tf_model(self, request: Request) -> Response:
        match, entry = self.model_route(
            request, tfserving.ROUTE,
            "/v1/models/NAME[/versions/N][:predict|:classify|:regress|/metadata|/drift]", "v1", "status",
            (":predict", ":classify", ":regress"),
            "POST to :predict, :classify or :regress, GET the status, /metadata or /drift")
        version, label, tail = match["version"], match["label"], match["tail"]
        if tail is None:
            return self.status(entry, version, label)
        served = entry.resolve(version, label)
        self.note(request, served)
        if tail == "/metadata":
            return answer(tfserving.metadata(served))
        if tail == "/drift":
            return self.drift(served)
        return await self.predict(request, served, tail)

    async def models(self, request: Request) -> Response:
        """OpenAI's model list (`object`, `data`), with each model's versions and state beside it."""
        entries = list(self.repository.models.values())
        return answer({"object": "list",
                       "data": [{"id": e.name, "object": "model", "owned_by": "keras-zoo",
                                 "created": min((v.loaded for v in e.versions.values()), default=0)}
                                for e in entries],
                       "models": [{"name": e.name, "versions": sorted(e.versions),
                                   "state": "AVAILABLE" if e.versions else "UNAVAILABLE"} for e in entries]})

    async def v2_model(self, request: Request) -> Response:
        match, entry = self.model_route(
            request, v2.ROUTE, "/v2/models/NAME[/versions/V][/ready|/infer]", "v2", "metadata", ("/infer",),
            "POST to /infer, GET the metadata, /ready or /drift")
        tail = match["tail"]
        served = entry.resolve(match["version"])
        self.note(request, served)
        if tail is None:
            return answer(v2.model_metadata(entry, served))
        if tail == "/ready":
            return answer({"name": entry.name, "version": str(served.version), "ready": True})
        if tail == "/drift":
            return self.drift(served)
        raw = await read_body(request, self.options)
        arrays, infer_request = v2.infer_inputs(served, raw, request.headers.get(v2.HEADER),
                                                self.options.max_instances)
        body, headers = v2.infer_answer(served, await served.infer(arrays), infer_request)
        self.metrics.inferences.labels(served.model, str(served.version), "v2").inc(len(arrays[0]))
        return Response(body, headers=headers)

    async def live(self, request: Request) -> Response:
        return answer({"live": True})

    async def ready(self, request: Request) -> Response:
        if not self.repository.ready():
            missing = [n for n, e in self.repository.models.items() if not e.versions]
            raise ApiError(503, f"not ready: no version loaded for {', '.join(missing) or 'any model'}")
        return answer({"ready": True})

    async def healthz(self, request: Request) -> Response:
        return answer({"status": "ok", "models": list(self.repository.models)})

    async def server_metadata(self, request: Request) -> Response:
        return answer(v2.server_metadata())

    async def scrape(self, request: Request) -> Response:
        metrics = self.metrics
        metrics.drift.clear()
        for entry in self.repository.models.values():
            for served in entry.versions.values():
                if served.drift is not None:
                    for feature, value in served.drift.report()["features"].items():
                        metrics.drift.labels(entry.name, str(served.version), feature).set(value["psi"])
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def routes(self, generation: GenerationService) -> list[Route]:
        get, both = ["GET"], ["GET", "POST"]
        return [Route("/v1/models", endpoint("v1_models", self.models), methods=get),
                Route("/v1/models/{path:path}", endpoint("v1", self.tf_model), methods=both),
                Route("/v2", endpoint("v2_server", self.server_metadata), methods=get),
                Route("/v2/health/live", endpoint("v2_live", self.live), methods=get),
                Route("/v2/health/ready", endpoint("v2_ready", self.ready), methods=get),
                Route("/v2/models/{path:path}", endpoint("v2", self.v2_model), methods=both),
                Route("/healthz", endpoint("healthz", self.healthz), methods=get),
                Route("/metrics", endpoint("metrics", self.scrape), methods=get),
                Route("/v1/completions", endpoint("v1_completions", generation.completions()),
                      methods=["POST"]),
                Route("/v1/chat/completions",
                      endpoint("v1_chat_completions", generation.chat_completions()), methods=["POST"])]


async def not_found(request: Request, exc: Exception) -> Response:
    code, path = getattr(exc, "status_code", 404), request.scope["path"]
    message = (f"no route {request.method} {path}: try /v1/models, /v2/health/ready "
               "or /metrics" if code == 404 else f"{request.method} is not allowed on {path}")
    return error(code, message, getattr(exc, "headers", None))


def create_app(repository: ModelRepository, options: ServeOptions, metrics: ServerMetrics) -> Any:
    """The application serving `repository`, wrapped in the metrics and access-log middleware."""
    generation = GenerationService(repository, options, metrics, lambda request: read_body(request, options))

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        poller = (asyncio.create_task(repository.poll())
                  if repository.root is not None and options.poll_s > 0 else None)
        yield
        if poller is not None:
            poller.cancel()
        # shutdown began (stop_by) at most drain_timeout_s ago: what is left ends within that budget
        by = None if generation.stop_at is None else generation.stop_at + 1.0
        generation.close(0.5 if by else None)
        await repository.close(by)

    app = Starlette(routes=Endpoints(repository, options, metrics).routes(generation), lifespan=lifespan,
                    exception_handlers={HTTPException: not_found})
    observed = ObserveRequests(app, metrics, options.access_log)
    observed.stop_by = generation.stop_by  # called by the server when shutdown begins (zoo.serving.server)
    return observed
