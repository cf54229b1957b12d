"""OpenAI's `POST /v1/completions` and `POST /v1/chat/completions` on the ASGI server, for language-model
bundles. `zoo.serving.completions` and `zoo.serving.chat` validate requests and shape answers;
`zoo.serving.decoding` decodes the completions of concurrent requests together. This module routes,
waits and streams: a streaming client that goes away, or a plain one that disconnects while waiting,
frees its rows at the next step; every completion has a deadline (`generation_timeout_s`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from zoo.serving.codec import ApiError, dumps, parse_json
from zoo.serving.metrics import ServerMetrics
from zoo.serving.options import ServeOptions
from zoo.serving.repository import ModelRepository, ServedVersion

SSE_HEADERS = {"cache-control": "no-cache"}


def language_models(repository: ModelRepository) -> list[str]:
    """Names of the served models whose newest version is a causal LM (`export.json` says so)."""
    from zoo.runtime.generate import CAUSAL_LM

    names = []
    for name, entry in repository.models.items():
        try:
            served = entry.resolve()
        except ApiError:
            continue
        if served.bundle.export.outputs.get("kind") == CAUSAL_LM:
            names.append(name)
    return names


def generator_of(served: ServedVersion) -> Any:
    """The TF-free decoding loop of a served version, made once."""
    from zoo.runtime.generate import BundleGenerator

    if getattr(served, "generator", None) is None:
        served.generator = BundleGenerator(served.bundle)
    return served.generator


def error_response(exc: Any) -> Response:
    return Response(dumps(exc.body()), exc.status, media_type="application/json")


class GenerationService:
    """The completion routes of one app, and a decoding batcher per served language-model version."""

    def __init__(self, repository: ModelRepository, options: ServeOptions, metrics: ServerMetrics,
                 read: Callable[[Request], Awaitable[bytes]]):
        self.repository, self.options, self.metrics, self.read = repository, options, metrics, read
        self.batchers: list[Any] = []
        self.stop_at: float | None = None

    def batcher(self, served: ServedVersion) -> Any:
        from zoo.serving.decoding import DecodeBatcher

        if getattr(served, "decode_batcher", None) is None:
            labels = (served.model, str(served.version))
            rows = self.metrics.decode_rows.labels(*labels)
            served.decode_batcher = DecodeBatcher(
                generator_of(served), self.options.max_decode_batch, self.options.max_decode_waiting,
                on_step=rows.set, on_done=lambda slot: self.observe(labels, slot))
            self.batchers.append(served.decode_batcher)
            if self.stop_at is not None:
                served.decode_batcher.stop_by(self.stop_at)
        return served.decode_batcher

    def observe(self, labels: tuple[str, str], slot: Any) -> None:
        m = self.metrics
        m.generated_tokens.labels(*labels).inc(slot.generation.completion_tokens)
        if slot.first_token_s is not None:
            m.time_to_first_token.labels(*labels).observe(slot.first_token_s)
        if slot.tokens_per_s is not None:
            m.tokens_per_second.labels(*labels).observe(slot.tokens_per_s)

    def stop_by(self, deadline: float) -> None:
        """Shutdown has begun: completions still decoding at `deadline` end with a 503 in their stream."""
        self.stop_at = deadline
        for batcher in self.batchers:
            batcher.stop_by(deadline)

    def close(self, timeout_s: float | None = None) -> None:
        for batcher in self.batchers:
            batcher.close(min(5.0, self.options.drain_timeout_s) if timeout_s is None else timeout_s)

    async def _served(self, request: Request, parse: Callable[[Any, list[str], Any], Any]) -> tuple[Any, Any]:
        """The validated request and the served version it names (a CompletionError if bad)."""
        body = parse_json(await self.read(request))
        names = language_models(self.repository)
        model = body.get("model") if isinstance(body, dict) else None
        served = generator = None
        if model in names:
            served = self.repository.get(model).resolve()
            request.scope["zoo"].update(model=served.model, version=served.version)
            generator = generator_of(served)
        return parse(body, names, generator), served

    def _start(self, served: ServedVersion, prompts: list[str], options: Any) -> tuple[Any, list[Any]]:
        batcher = self.batcher(served)
        deadline = time.monotonic() + self.options.generation_timeout_s
        generations = [batcher.generator.start(p, options) for p in prompts]
        slots = []
        try:
            for generation in generations:
                slots.append(batcher.submit(generation, deadline))
        except ApiError:
            for slot in slots:
                batcher.cancel(slot)
            raise
        return batcher, slots

    def _note(self, request: Request, slots: list[Any]) -> None:
        """Generation figures for the access log."""
        first = [s.first_token_s for s in slots if s.first_token_s is not None]
        rates = [s.tokens_per_s for s in slots if s.tokens_per_s is not None]
        request.scope["zoo"].update(
            completion_tokens=sum(s.generation.completion_tokens for s in slots),
            ttft_ms=round(min(first) * 1000, 1) if first else None,
            tokens_per_s=round(sum(rates) / len(rates), 1) if rates else None)

    async def _collect(self, request: Request, batcher: Any, slots: list[Any]) -> list[str]:
        """Every slot's whole text; a client that disconnects meanwhile cancels them."""
        async def text(slot: Any) -> str:
            return "".join([piece async for piece in slot.pieces()])

        task = asyncio.gather(*(text(s) for s in slots))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=0.5)
                if done:
                    return task.result()
                if await request.is_disconnected():
                    raise ApiError(499, "the client went away")
        finally:
            if not task.done():
                task.cancel()
                for slot in slots:
                    batcher.cancel(slot)
            self._note(request, slots)

    def completions(self) -> Callable[[Request], Awaitable[Response]]:
        from zoo.serving.completions import TEXT, CompletionError, parse_request, sse, sse_with_text

        def parse(body: Any, names: list[str], generator: Any) -> Any:
            return parse_request(body, names, generator.context if generator else None)

        async def handle(request: Request) -> Response:
            try:
                wanted, served = await self._served(request, parse)
            except CompletionError as exc:
                return error_response(exc)
            batcher, slots = self._start(served, wanted.prompts, wanted.options)
            head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
                    "created": int(time.time()), "model": wanted.model}

            def usage() -> dict[str, int]:
                p = sum(s.generation.prompt_tokens for s in slots)
                c = sum(s.generation.completion_tokens for s in slots)
                return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

            def choice(index: int, text: str, finish: str | None) -> dict[str, Any]:
                return {"text": text, "index": index, "logprobs": None, "finish_reason": finish}

            if not wanted.stream:
                texts = await self._collect(request, batcher, slots)
                choices = [choice(i, text, slot.generation.finish_reason)
                           for i, (text, slot) in enumerate(zip(texts, slots, strict=True))]
                return Response(dumps({**head, "choices": choices, "usage": usage()}),
                                media_type="application/json")

            async def events() -> AsyncIterator[bytes]:
                try:
                    for index, slot in enumerate(slots):
                        event = sse_with_text({**head, "choices": [choice(index, TEXT, None)]})
                        async for piece in slot.pieces():
                            yield event(piece)
                        yield sse({**head, "choices": [choice(index, "", slot.generation.finish_reason)]})
                    if wanted.include_usage:
                        yield sse({**head, "choices": [], "usage": usage()})
                    yield sse("[DONE]")
                except ApiError as exc:  # the server is shutting down: say so in the stream
                    yield sse({"error": {"message": str(exc), "type": "server_error", "code": exc.status}})
                finally:
                    for slot in slots:
                        batcher.cancel(slot)
                    self._note(request, slots)

            return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)

        return handle

    def chat_completions(self) -> Callable[[Request], Awaitable[Response]]:
        from zoo.serving.chat import chat_answer, chat_chunk, chat_id, parse_chat
        from zoo.serving.completions import TEXT, CompletionError, sse, sse_with_text

        def parse(body: Any, names: list[str], generator: Any) -> Any:
            template = generator.bundle.export.outputs.get("chat_template") if generator else None
            return parse_chat(body, names, generator.context if generator else None, template)

        async def handle(request: Request) -> Response:
            try:
                wanted, served = await self._served(request, parse)
            except CompletionError as exc:
                return error_response(exc)
            batcher, slots = self._start(served, [wanted.prompt], wanted.options)
            slot = slots[0]

            def usage() -> dict[str, int]:
                p, c = slot.generation.prompt_tokens, slot.generation.completion_tokens
                return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

            if not wanted.stream:
                (text,) = await self._collect(request, batcher, slots)
                answer = chat_answer(wanted, text, slot.generation.finish_reason, usage())
                return Response(dumps(answer), media_type="application/json")
            ident, created = chat_id()
            head = {"id": ident, "created": created, "model": wanted.model}

            async def events() -> AsyncIterator[bytes]:
                try:
                    yield sse(chat_chunk(head, {"role": "assistant", "content": ""}, None))
                    event = sse_with_text(chat_chunk(head, {"content": TEXT}, None))
                    async for piece in slot.pieces():
                        yield event(piece)
                    yield sse(chat_chunk(head, {}, slot.generation.finish_reason))
                    if wanted.include_usage:
                        yield sse({**head, "object": "chat.completion.chunk", "choices": [],
                                   "usage": usage()})
                    yield sse("[DONE]")
                except ApiError as exc:  # the server is shutting down: say so in the stream
                    yield sse({"error": {"message": str(exc), "type": "server_error", "code": exc.status}})
                finally:
                    batcher.cancel(slot)
                    self._note(request, slots)

            return StreamingResponse(events(), media_type="text/event-stream", headers=SSE_HEADERS)

        return handle
