"""OpenAI's `POST /v1/completions` on the ASGI server, for language-model bundles (`zoo.serving.completions`
validates requests and builds answers; this module only routes them)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from zoo.serving.codec import ApiError, dumps, parse_json
from zoo.serving.repository import ModelRepository, ServedVersion


def language_models(repository: ModelRepository) -> list[str]:
    """Names of the served models whose newest version is a causal LM (`export.json` says so)."""
    from zoo.runtime.generate import CAUSAL_LM

    names = []
    for name, entry in repository.models.items():
        try:
            served = entry.resolve()
        except ApiError:
            continue
        if served.bundle.meta.get("outputs", {}).get("kind") == CAUSAL_LM:
            names.append(name)
    return names


def generator_of(served: ServedVersion) -> Any:
    """The TF-free decoding loop of a served version, made once."""
    from zoo.runtime.generate import BundleGenerator

    if getattr(served, "generator", None) is None:
        served.generator = BundleGenerator(served.bundle)
    return served.generator


def completions_endpoint(repository: ModelRepository, read: Callable[[Request], Awaitable[bytes]]
                         ) -> Callable[[Request], Awaitable[Response]]:
    """The handler: one JSON completion, or server-sent events when `stream` is true."""
    from zoo.serving.completions import CompletionError, complete, parse_request, stream_events

    async def completions(request: Request) -> Response:
        try:
            body = parse_json(await read(request))
            wanted = parse_request(body, language_models(repository))
        except CompletionError as exc:
            return Response(dumps(exc.body()), exc.status, media_type="application/json")
        served = repository.get(wanted.model).resolve()
        request.scope["zoo"].update(model=served.model, version=served.version)
        generator = generator_of(served)
        if wanted.stream:  # a sync iterator: Starlette runs it in its thread pool, chunk by chunk
            return StreamingResponse(stream_events(generator, wanted), media_type="text/event-stream",
                                     headers={"cache-control": "no-cache"})
        return Response(dumps(await asyncio.to_thread(complete, generator, wanted)),
                        media_type="application/json")

    return completions
