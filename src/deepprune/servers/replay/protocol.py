"""The replay server's connections on aiohttp: its low-level server, plus what a test server needs.

aiohttp (``aiohttp.web.Server``, its C HTTP parser) parses requests and frames responses
(Content-Length or chunked bodies, keep-alive, pipelining, HTTP/1.0 peers). This module adds, per
connection (:class:`ReplayProtocol`, aiohttp's ``RequestHandler`` with hooks):

* an **idle timeout** (a connection that starts no request for ``idle_timeout_s``, a new one or
  between keep-alive requests, is closed without an answer) and a **request timeout** (a request
  whose head has not arrived ``request_timeout_s`` after its first byte gets ``408`` and is
  closed; the body's deadline is :attr:`ReplayProtocol.deadline`, enforced where it is read);
* malformed requests answered with OpenAI's JSON error object (``400``; ``431`` for a request
  line or header line over 64 KiB), logged at debug level without a traceback (a client's
  mistake, not the server's);
* :attr:`ReplayProtocol.lost`, a future done when the client goes away, so that a stream stops
  generating at once (:mod:`~deepprune.servers.replay.exchange`);
* responses whose status line says ``HTTP/1.1`` also to HTTP/1.0 peers (RFC 9112 section 2.3;
  aiohttp echoes the request's version), still close-delimited for them.

The 408 for a request that never arrived whole is written on the raw transport: aiohttp has no
request object for it yet.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from deepprune.servers.replay.errors import error_body

__all__ = ["MAX_BODY", "MAX_HEAD", "ReplayProtocol", "json_response", "response"]

MAX_HEAD = 64 * 1024
"""The longest request line or header line (longer: 431)."""
MAX_BODY = 32 * 1024 * 1024
"""The largest request body (larger: 413)."""

log = logging.getLogger("deepprune.servers.replay")


class _Http11:
    """Mixin: the status line says HTTP/1.1 whatever the request's version (body framing and
    keep-alive still follow the request: close-delimited for HTTP/1.0)."""

    async def _write_headers(self) -> None:
        writer = self._payload_writer  # type: ignore[attr-defined]
        original = writer.write_headers

        async def write_headers(status_line: str, headers: Any) -> None:
            await original("HTTP/1.1 " + status_line.split(" ", 1)[1], headers)

        setattr(writer, "write_headers", write_headers)  # noqa: B010 - shadows the method on this writer only
        try:
            await super()._write_headers()  # type: ignore[misc]
        finally:
            delattr(writer, "write_headers")


class StreamResponse(_Http11, web.StreamResponse):
    """A streamed response (SSE) with an HTTP/1.1 status line."""


class Response(_Http11, web.Response):
    """A whole response with an HTTP/1.1 status line."""


def response(status: int, body: bytes, content_type: str, *, headers: Mapping[str, str] | None = None,
             close: bool = False) -> Response:
    """A whole response; ``close`` ends the connection after it."""
    resp = Response(status=status, body=body, headers={"Content-Type": content_type, **(headers or {})})
    if close:
        resp.force_close()
    return resp


def json_response(status: int, obj: Any, *, headers: Mapping[str, str] | None = None,
                  close: bool = False) -> Response:
    return response(status, json.dumps(obj).encode(), "application/json", headers=headers, close=close)


class ReplayProtocol(RequestHandler):
    """aiohttp's per-connection protocol with the timeouts and error answers of the module docstring.

    The request handler calls :meth:`request_started` when a request reaches it and
    :meth:`request_done` when its answer is complete.
    """

    def __init__(self, manager: web.Server, *, loop: asyncio.AbstractEventLoop, idle_timeout_s: float,
                 request_timeout_s: float, **kwargs: Any) -> None:
        # access_log=None: no access log (as web.run_app(access_log=None); typed as a Logger)
        super().__init__(manager, loop=loop, max_line_size=MAX_HEAD, max_field_size=MAX_HEAD,
                         logger=log, access_log=None, **kwargs)  # type: ignore[arg-type]
        self.loop = loop
        self.idle_timeout_s = idle_timeout_s
        self.request_timeout_s = request_timeout_s
        self.deadline: float | None = None
        """When the request being received must be complete (None: no request under way)."""
        self.lost: asyncio.Future[None] = loop.create_future()
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None

    # --- timers
    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(delay, callback)

    def _idle(self) -> None:
        self._timer = None
        if not self._busy and self.deadline is None:
            self.force_close()

    def _late(self) -> None:
        self._timer = None
        transport = self.transport
        if self._busy or transport is None:
            return
        body = json.dumps(error_body(408, f"request head not complete within {self.request_timeout_s:g} s")).encode()
        transport.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        self.force_close()

    # --- the connection's events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm(self.idle_timeout_s, self._idle)

    def data_received(self, data: bytes) -> None:
        if not self._busy and self.deadline is None:  # the first byte of a request
            self.deadline = self.loop.time() + self.request_timeout_s
            self._arm(self.request_timeout_s, self._late)
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.lost.done():
            self.lost.set_result(None)

    def request_started(self) -> float:
        """A request reached the handler: its head is in. Its body's deadline."""
        self._busy = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.deadline is None:  # pipelined: arrived while the previous one was answered
            self.deadline = self.loop.time() + self.request_timeout_s
        return self.deadline

    def request_done(self) -> None:
        """The answer is complete: the connection is idle until the next request's first byte."""
        self._busy = False
        self.deadline = None
        if self.transport is not None:
            self._arm(self.idle_timeout_s, self._idle)

    # --- requests aiohttp could not parse
    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp's: too late for an answer
            raise ConnectionError("response already started, cannot send an error")
        if isinstance(exc, HttpProcessingError):
            status = 431 if isinstance(exc, LineTooLong) else (exc.code if exc.code >= 400 else 400)
            text = f"malformed request: {exc.message or exc}"
            log.debug("replay server: %s", text)
        else:
            self.log_exception("replay server: error handling a request", exc_info=exc)
            text = message or "internal server error"
        return json_response(status, error_body(status, text), close=True)
