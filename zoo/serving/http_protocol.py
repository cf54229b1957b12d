"""uvicorn's httptools protocol with the bounds it lacks: a header-read timeout and a header size cap.

uvicorn times out idle keep-alive connections but not a client that opens a connection and sends
its request line and headers slowly or never (slowloris): `--timeout-request-start` is still open
upstream (encode/uvicorn issue 157). This subclass, the one place `zoo` uses uvicorn internals, arms
a timer (not reset by trickled bytes) when a connection opens or a new request begins and answers
408 and closes if the headers are not complete in time; headers over `max_header_bytes` get 431.
Its errors are JSON like the app's. The hostile-input tests in `tests/test_serving.py` fail if
uvicorn renames the hooks used here.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Reads `config.zoo_header_timeout_s` and `config.zoo_max_header_bytes` from the uvicorn config."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.header_timeout = float(getattr(self.config, "zoo_header_timeout_s", 5.0))
        self.max_header_bytes = int(getattr(self.config, "zoo_max_header_bytes", 64 * 1024))
        self.header_timer: asyncio.TimerHandle | None = None
        self.header_bytes = 0
        self.headers_too_large = False

    def _arm(self) -> None:
        if self.header_timer is None:
            self.header_bytes = 0
            self.header_timer = self.loop.call_later(self.header_timeout, self._headers_timed_out)

    def _disarm(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _reply(self, status: int, message: str) -> None:
        if self.transport.is_closing():
            return
        body = json.dumps({"error": message}).encode()
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                             b"connection: close\r\n\r\n" % (status, REASONS[status], len(body)) + body)
        self.transport.close()

    def _headers_timed_out(self) -> None:
        self.header_timer = None
        self._reply(408, f"the request headers did not arrive within {self.header_timeout:g} s")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self._arm()  # a new request begins
        super().data_received(data)

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self.header_bytes += size
        if self.header_bytes > self.max_header_bytes:
            self.headers_too_large = True
            raise ValueError("headers too large")  # httptools stops parsing; data_received answers

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self.headers_too_large:
            self._reply(431, f"the request line and headers exceed {self.max_header_bytes} bytes")
        else:
            self._reply(400, f"invalid HTTP request: {msg}")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
