"""Dynamic batching on the event loop: concurrent requests share one model call, behind a bounded queue.

`submit(inputs)` queues a request's arrays (signature order) and awaits its slice of the outputs.
Worker tasks take what is queued (waiting up to `window_ms` for a batch of `max_batch` rows), stack
requests of equal per-example shapes, and run the model in a thread. A full queue is refused at once
(429 with `Retry-After`), a request waiting longer than `timeout_s` gets 504, and a closed batcher
(its version unloaded) answers 503. `max_batch=1` turns batching off: each request runs alone.
A model whose calls take under `inline_ms` on average runs on the event loop itself: for a small
model a hand-off to a thread (and the GIL waits that come with it) costs more than the call. A batch
of more than `INLINE_BYTES` of inputs (large images, long texts) always runs in the thread, stacking
included, whatever the average: its time is not the average's.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor

import numpy as np

from zoo.serving.codec import ApiError

INLINE_BYTES = 256 * 1024  # inputs of a batch the event loop may run itself
Run = Callable[[list[np.ndarray]], dict[str, np.ndarray]]


def _key(inputs: list[np.ndarray]) -> tuple:
    return tuple((x.shape[1:], x.dtype.str) for x in inputs)


class DynamicBatcher:
    """Batch `run(list of arrays) -> {output: array}` calls from many requests into few."""

    def __init__(self, run: Run, executor: Executor | None = None, max_batch: int = 64,
                 window_ms: float = 0.0, max_queue: int = 256, timeout_s: float = 10.0, workers: int = 1,
                 on_batch: Callable[[int, float], None] | None = None, inline_ms: float = 1.0):
        self.run, self.executor = run, executor
        self.max_batch, self.window, self.max_queue = max(1, max_batch), window_ms / 1000.0, max_queue
        self.timeout, self.workers_wanted, self.on_batch = timeout_s, max(1, workers), on_batch
        self.queue: deque[tuple[list[np.ndarray], asyncio.Future, tuple]] = deque()
        self.rows = 0  # rows waiting in the queue
        self.calls = 0  # model calls made (a burst of requests makes fewer calls than requests)
        self.closed = False
        self.busy = 0  # batches being run
        self.inline_s = inline_ms / 1000.0
        self.recent_s = 0.0  # moving average of a model call's time
        self.tasks: list[asyncio.Task] = []
        self.ready: asyncio.Event | None = None
        self.full: asyncio.Event | None = None

    @property
    def depth(self) -> int:
        return len(self.queue)

    def _start(self) -> None:
        self.ready, self.full = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._work()) for _ in range(self.workers_wanted)]

    async def submit(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        """The outputs for `inputs`, computed together with other waiting requests."""
        if self.closed:
            raise ApiError(503, "this model version is unloading: retry, the request will go to the "
                           "version now served", {"Retry-After": "1"})
        if len(self.queue) >= self.max_queue:
            raise ApiError(429, f"the model's queue is full ({self.max_queue} requests waiting): "
                           "retry after a pause or send fewer, larger requests", {"Retry-After": "1"})
        if not self.tasks:
            self._start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        item = (inputs, future, _key(inputs))
        self.queue.append(item)
        self.rows += len(inputs[0])
        self.ready.set()
        if self.rows >= self.max_batch:
            self.full.set()
        timer = loop.call_later(self.timeout, self._expire, item)
        try:
            return await future
        finally:
            timer.cancel()

    def _expire(self, item: tuple[list[np.ndarray], asyncio.Future, tuple]) -> None:
        """A request past its timeout: answered 504, and out of the queue if it is still there."""
        if item[1].done():
            return
        for i, waiting in enumerate(self.queue):
            if waiting is item:  # its place goes to the next request
                del self.queue[i]
                self.rows -= len(item[0][0])
                break
        item[1].set_exception(ApiError(504, f"no answer within the request timeout of {self.timeout:g} s: "
                                       "the server is overloaded, retry later", {"Retry-After": "1"}))

    def _take(self) -> list[tuple[list[np.ndarray], asyncio.Future, tuple]]:
        """The oldest live request and those after it of the same shapes, up to `max_batch` rows; a
        model run in threads shares what is queued among its workers, so they all compute."""
        limit = self.max_batch
        if self.recent_s >= self.inline_s and self.workers_wanted > 1:
            limit = min(limit, max(1, -(-self.rows // self.workers_wanted)))
        batch, rows, key, skipped = [], 0, None, []
        while self.queue and rows < limit:
            item = self.queue.popleft()
            self.rows -= len(item[0][0])
            if item[1].done():  # timed out while waiting
                continue
            if key is not None and (item[2] != key or rows + len(item[0][0]) > limit):
                skipped.append(item)
                continue
            key = item[2]
            batch.append(item)
            rows += len(item[0][0])
        for item in reversed(skipped):
            self.queue.appendleft(item)
            self.rows += len(item[0][0])
        return batch

    def _timed(self, parts: list[list[np.ndarray]]) -> tuple[dict[str, np.ndarray], float]:
        """The model's outputs on the requests' inputs stacked, and the seconds the call took (without
        any thread hand-off)."""
        inputs = ([np.concatenate(arrays) for arrays in zip(*parts, strict=True)] if len(parts) > 1
                  else parts[0])
        started = time.perf_counter()
        outputs = self.run(inputs)
        return outputs, time.perf_counter() - started

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self.queue:
                self.ready.clear()
                await self.ready.wait()
            if self.window > 0 and self.rows < self.max_batch:
                self.full.clear()
                try:
                    async with asyncio.timeout(self.window):
                        await self.full.wait()
                except TimeoutError:
                    pass
            batch = self._take()
            if not batch:
                continue
            started = time.perf_counter()
            self.busy += 1
            try:
                parts = [b[0] for b in batch]
                small = sum(x.nbytes for inputs in parts for x in inputs) <= INLINE_BYTES
                if small and self.recent_s < self.inline_s:  # cheaper than a thread hand-off (and GIL waits)
                    outputs, model_s = self._timed(parts)
                else:
                    outputs, model_s = await loop.run_in_executor(self.executor, self._timed, parts)
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            finally:
                self.busy -= 1
            self.calls += 1
            elapsed = time.perf_counter() - started
            self.recent_s = 0.8 * self.recent_s + 0.2 * model_s
            if self.on_batch is not None:
                self.on_batch(sum(len(inputs[0]) for inputs in parts), elapsed)
            start = 0
            for inputs, future, _ in batch:
                n = len(inputs[0])
                if not future.done():
                    future.set_result({k: v[start:start + n] for k, v in outputs.items()})
                start += n

    async def close(self, drain_s: float = 10.0) -> None:
        """Refuse new requests, let queued ones finish (up to `drain_s`), then stop the workers."""
        self.closed = True
        deadline = time.monotonic() + drain_s
        while (self.queue or self.busy) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
