"""Server-side micro-batching: concurrent requests share one model call.

Each request's rows go into a queue; one worker thread takes what arrived within `window_ms`
(up to `max_batch` rows), runs the model once on the stacked rows and hands every request its
own slice of the result.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np


class MicroBatcher:
    """Batch `run(list of arrays) -> array` calls from many threads into few."""

    def __init__(self, run: Callable[[list[np.ndarray]], Any], max_batch: int = 64,
                 window_ms: float = 5.0):
        self.run, self.max_batch, self.window = run, max_batch, window_ms / 1000.0
        self.requests: queue.Queue[tuple[list[np.ndarray], Future] | None] = queue.Queue()
        self.calls = 0  # model calls made (a burst of requests makes fewer calls than requests)
        self.worker = threading.Thread(target=self._loop, name="zoo-batcher", daemon=True)
        self.worker.start()

    def submit(self, inputs: list[np.ndarray]) -> Any:
        """The model's outputs for `inputs` (an array, or a dict of arrays by output name), computed
        together with other waiting requests."""
        future: Future = Future()
        self.requests.put((inputs, future))
        return future.result()

    def close(self) -> None:
        self.requests.put(None)
        self.worker.join(timeout=5)

    def _collect(self, first: tuple[list[np.ndarray], Future]) -> list[tuple[list[np.ndarray], Future]]:
        batch, rows = [first], len(first[0][0])
        shape = [x.shape[1:] for x in first[0]]
        while rows < self.max_batch:
            try:
                item = self.requests.get(timeout=self.window)
            except queue.Empty:
                break
            if item is None or [x.shape[1:] for x in item[0]] != shape:
                self.requests.put(item)  # a stop signal or another shape: next round
                break
            batch.append(item)
            rows += len(item[0][0])
        return batch

    def _loop(self) -> None:
        while (first := self.requests.get()) is not None:
            batch = self._collect(first)
            try:
                columns = zip(*(inputs for inputs, _ in batch), strict=True)
                stacked = [np.concatenate(parts) for parts in columns]
                outputs = self.run(stacked)
                self.calls += 1
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                for _, future in batch:
                    future.set_exception(exc)
                continue
            start = 0
            for inputs, future in batch:
                n = len(inputs[0])
                part = slice(start, start + n)
                future.set_result({k: v[part] for k, v in outputs.items()} if isinstance(outputs, dict)
                                  else outputs[part])
                start += n
