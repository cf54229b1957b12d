"""Continuous batching of text generation (vLLM's and TGI's scheme, on one CPU thread per model):
the completions of concurrent requests decode together, one token per row per step, and requests join
and leave the running batch between steps.

`submit(generation, deadline)` queues a `zoo.runtime.generate.Generation` and returns its `Slot`,
whose `pieces()` the request's handler iterates (text, as the rows' tokens settle). A worker thread
admits waiting slots up to `max_batch` rows (a newcomer's prompt is prefilled alone), then runs one
batched step of the bundle's key/value-cache decoder (or, for a bundle without one, each row's
prefix through the uncached graph). Beyond `max_waiting` queued slots a submission is refused with
429; a cancelled slot (its client went away) or one past its deadline leaves at the next step;
`stop_by(t)` (shutdown has begun) refuses new slots and ends running ones at `t` with a 503 the stream
reports, so every response ends before the server's drain timeout; `close()` ends every slot and the thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from zoo.serving.codec import ApiError

log = logging.getLogger("zoo.serve")
END = object()


class Slot:
    """One completion in the batcher: its generation, and the pieces handed to the request."""

    def __init__(self, generation: Any, loop: asyncio.AbstractEventLoop, deadline: float,
                 outbox: list[tuple[Slot, Any]]):
        self.generation, self.loop, self.deadline = generation, loop, deadline
        self.outbox = outbox  # the batcher's: handed over once a step (`deliver`)
        self.events: asyncio.Queue = asyncio.Queue()
        self.cancelled = self.timed_out = False
        self.submitted = time.monotonic()
        self.first_token_s: float | None = None
        self.finished_s: float | None = None
        self.pending: int | None = None  # the last token, not yet in the row's cache

    def push(self, item: Any) -> None:
        """Queue `item` for the request (it reaches it at the next `deliver`)."""
        self.outbox.append((self, item))

    def finish(self, error: BaseException | None = None) -> None:
        self.finished_s = time.monotonic()
        self.push(error if error is not None else END)

    async def pieces(self) -> AsyncIterator[str]:
        """Text pieces until the completion ends (an ApiError if the server closed it). Pieces that
        queued up while the client's previous one was being sent go out as one (fewer events when
        the event loop is behind the decoder: one per step per client, not one per token)."""
        while True:
            items = [await self.events.get()]
            while isinstance(items[-1], str) and not self.events.empty():
                items.append(self.events.get_nowait())
            text = "".join(item for item in items if isinstance(item, str))
            if text:
                yield text
            if items[-1] is END:
                return
            if isinstance(items[-1], BaseException):
                raise items[-1]

    @property
    def tokens_per_s(self) -> float | None:
        """Completion tokens per second after the first one."""
        n = self.generation.completion_tokens
        if self.first_token_s is None or self.finished_s is None or n < 2:
            return None
        decoding = self.finished_s - self.submitted - self.first_token_s
        return (n - 1) / decoding if decoding > 0 else None


def deliver(outbox: list[tuple[Slot, Any]]) -> None:
    """Hand the queued items to their requests: one wake-up of each event loop per decoding step,
    not one per token (8 rows woke the loop 8 times a step)."""
    by_loop: dict[Any, list[tuple[Slot, Any]]] = {}
    for slot, item in outbox:
        by_loop.setdefault(slot.loop, []).append((slot, item))
    outbox.clear()
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_put_all, items)
        except RuntimeError:  # the event loop is gone (shutdown)
            for slot, _ in items:
                slot.cancelled = True


def _put_all(items: list[tuple[Slot, Any]]) -> None:
    for slot, item in items:
        slot.events.put_nowait(item)


class DecodeBatcher:
    """Decode the generations of one served model together."""

    def __init__(self, generator: Any, max_batch: int = 16, max_waiting: int = 64,
                 on_step: Callable[[int], None] | None = None, on_done: Callable[[Slot], None] | None = None):
        self.generator, self.max_batch, self.max_waiting = generator, max(1, max_batch), max_waiting
        self.on_step, self.on_done = on_step, on_done
        self.cached = getattr(generator, "cached", None) or _cache_of(generator)
        self.lock = threading.Condition()
        self.waiting: deque[Slot] = deque()
        self.running: list[Slot] = []
        self.closed = False
        self.stop_at = float("inf")  # shutdown: slots still decoding then end with a 503
        self.thread: threading.Thread | None = None
        self.peak_rows = 0  # the most rows one step decoded
        self.batch = CacheBatch()
        self.outbox: list[tuple[Slot, Any]] = []  # what the decode thread hands over each step

    @property
    def rows(self) -> int:
        return len(self.running)

    def submit(self, generation: Any, deadline: float) -> Slot:
        """Queue a generation (call from the event loop); 429 when too many wait, 503 once closed."""
        slot = Slot(generation, asyncio.get_running_loop(), deadline, self.outbox)
        with self.lock:
            if self.closed or self.stop_at < float("inf"):
                raise ApiError(503, "the server is shutting down: retry on another replica",
                               {"Retry-After": "1"})
            free_rows = max(0, self.max_batch - len(self.running))
            if len(self.waiting) >= self.max_waiting + free_rows:
                raise ApiError(429, f"this model is decoding {len(self.running)} completions and "
                               f"{len(self.waiting)} wait (the limits are {self.max_batch} and "
                               f"{self.max_waiting}): retry after a pause", {"Retry-After": "1"})
            self.waiting.append(slot)
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="zoo-decode", daemon=True)
                self.thread.start()
            self.lock.notify()
        return slot

    def cancel(self, slot: Slot) -> None:
        """The client went away: the slot leaves at the next step."""
        slot.cancelled = True

    def stop_by(self, deadline: float) -> None:
        """Shutdown has begun: refuse new slots, and end those still decoding at `deadline` (monotonic)."""
        with self.lock:
            self.stop_at = min(self.stop_at, deadline)
            self.lock.notify()

    def close(self, timeout_s: float = 5.0) -> None:
        """End every slot (503 to those still decoding) and stop the thread."""
        with self.lock:
            self.closed = True
            self.lock.notify()
        if self.thread is not None:
            self.thread.join(timeout_s)

    def _loop(self) -> None:
        try:
            while True:
                with self.lock:
                    while not (self.closed or self.waiting or self.running):
                        self.lock.wait()
                    if self.closed or time.monotonic() >= self.stop_at:
                        break
                    room = self.max_batch - len(self.running)
                    newcomers = [self.waiting.popleft() for _ in range(min(room, len(self.waiting)))]
                for slot in newcomers:
                    if self._live(slot):
                        self._prefill(slot)
                if newcomers:
                    deliver(self.outbox)  # first tokens go out before the next step
                self.running = [s for s in self.running if self._live(s)]
                if self.running:
                    self._step()
                if not self.running:
                    self.batch = CacheBatch()  # let the last batch's cache go
                deliver(self.outbox)
                if self.on_step is not None:
                    self.on_step(len(self.running))
        except Exception as exc:  # noqa: BLE001 - a failing model call ends its requests, not the server
            log.exception("decoding failed")
            failure = ApiError(500, f"decoding failed: {type(exc).__name__}: {exc}")
            self._end_all(failure)
            raise
        self._end_all(ApiError(503, "the server is shutting down: the completion was cut short"))

    def _end_all(self, error: ApiError) -> None:
        with self.lock:
            self.closed = True
            slots, self.running = [*self.running, *self.waiting], []
            self.waiting.clear()
        for slot in slots:
            slot.finish(error)
        deliver(self.outbox)

    def _live(self, slot: Slot) -> bool:
        """Whether the slot stays; a cancelled or expired one is ended here."""
        if slot.cancelled:
            self._done(slot)
            return False
        if time.monotonic() > slot.deadline:
            slot.timed_out = True
            slot.generation.finish_reason = "length"
            piece = slot.generation.text_piece(final=True)
            if piece:
                slot.push(piece)
            self._done(slot)
            return False
        return True

    def _done(self, slot: Slot) -> None:
        slot.generation.past = None
        slot.finish()
        if self.on_done is not None:
            self.on_done(slot)

    def _prefill(self, slot: Slot) -> None:
        generation = slot.generation
        if generation.done:  # no room for a new token
            self._done(slot)
            return
        if self.cached is not None:
            logits, generation.past = self.cached.prefill(generation.ids)
        else:
            logits = self.generator.logits(generation.ids)
        if self._advance(slot, logits):
            self.running.append(slot)

    def _step(self) -> None:
        rows = self.running
        self.peak_rows = max(self.peak_rows, len(rows))
        if self.cached is not None:
            self.batch.sync(rows)
            logits = self.batch.step(self.cached, [s.pending for s in rows])
        else:
            logits = np.stack([self.generator.logits(s.generation.ids + s.generation.new_ids) for s in rows])
        self.running = [s for s, row in zip(rows, logits, strict=True) if self._advance(s, row)]

    def _advance(self, slot: Slot, logits: np.ndarray) -> bool:
        """Take the row's next token; hand on the settled text; whether the row decodes on."""
        generation = slot.generation
        slot.pending = generation.accept(logits)
        if slot.first_token_s is None:
            slot.first_token_s = time.monotonic() - slot.submitted
        piece = generation.text_piece(final=generation.done)
        if piece:
            slot.push(piece)
        if generation.done:
            self._done(slot)
            return False
        return True


class CacheBatch:
    """The running rows' key/value caches as one `KVCache`, kept from step to step while the rows stay
    the same (each step writes its new keys/values into the buffer's room, nothing is copied); rebuilt
    (each row copied once) when rows join or leave."""

    def __init__(self) -> None:
        self.slots: list[Slot] = []
        self.cache: Any = None

    def sync(self, slots: list[Slot]) -> None:
        """Make the batch hold exactly `slots`, in order (newcomers bring their prefilled caches)."""
        if [id(s) for s in slots] == [id(s) for s in self.slots]:
            return
        from zoo.runtime.kv_cache import KVCache

        kept = {id(s): b for b, s in enumerate(self.slots)}
        rows = [(self.cache, kept[id(s)]) if id(s) in kept else (s.generation.past, 0) for s in slots]
        self.cache = KVCache.join(rows)
        for slot in slots:
            slot.generation.past = None
        self.slots = list(slots)

    def step(self, decoder: Any, tokens: list[int]) -> np.ndarray:
        """One new token per row: the logits; each row's cache grows by one slot."""
        return decoder.step(tokens, self.cache)


def _cache_of(generator: Any) -> Any:
    """The bundle's cached decoder even where export chose uncached single-stream decoding: batched
    rows share each step's weight reads only through the cache."""
    from pathlib import Path

    from zoo.runtime.kv_cache import CachedDecoder, is_current

    spec = generator.bundle.export.outputs.get("cache")
    if not is_current(spec):
        return None
    return CachedDecoder(Path(generator.bundle.path), spec, getattr(generator.bundle, "trusted", False))
