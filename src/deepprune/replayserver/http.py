"""HTTP/1.1 connections for the replay server: framing by ``h11``, I/O and timeouts on asyncio streams.

``h11`` (the sans-I/O HTTP/1.1 library under httpx) parses requests and frames responses
(Content-Length or chunked bodies, keep-alive, pipelining, HTTP/1.0 peers); this module adds what
a server around it needs:

* an **idle timeout** (a connection that starts no request for ``idle_timeout_s`` is closed) and a
  **request timeout** (head and body must arrive within ``request_timeout_s`` of the first byte,
  else ``408``: half-sent requests, slowloris);
* a **body limit** (``413``) and ``400`` for whatever ``h11`` finds malformed (a bad
  ``Content-Length``, a missing ``Host`` on HTTP/1.1, a broken head); a head over 64 KiB is ``431``;
* **disconnect watching** while a response streams (the client sends nothing meanwhile; an end of
  file means it went away, so generation can stop at once); bytes of a pipelined next request
  read meanwhile are kept for it;
* :meth:`HTTPConnection.abort` for the faults that drop a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import h11

__all__ = ["MAX_BODY", "MAX_HEAD", "BadRequest", "HTTPConnection", "Request", "error_body"]

MAX_HEAD = 64 * 1024
MAX_BODY = 32 * 1024 * 1024
_READ = 64 * 1024


class BadRequest(Exception):
    """A request the server answers with an HTTP error ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(status: int, message: str) -> dict[str, Any]:
    """OpenAI's error object for ``status``."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 429:
        kind = "rate_limit_error"
    return {"error": {"message": message, "type": kind, "code": status}}


@dataclass
class Request:
    method: str
    path: str
    """The target without its query string."""
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b"Status"


class HTTPConnection:
    """One client connection (see the module docstring)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 idle_timeout_s: float = 60.0, request_timeout_s: float = 30.0) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_timeout_s = idle_timeout_s
        self.request_timeout_s = request_timeout_s
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self._watch: asyncio.Future[bytes] | None = None
        self.gone = False

    # --- reading
    async def _read(self, deadline: float | None) -> None:
        """Feed the next bytes from the socket to h11 (b"" at end of file)."""
        if deadline is None:
            data = await self.reader.read(_READ)
        else:
            async with asyncio.timeout_at(deadline):
                data = await self.reader.read(_READ)
        self.h11.receive_data(data)

    async def read_request(self) -> Request | None:
        """The next request; None when the client closed the connection or stayed idle for
        ``idle_timeout_s``. Raises :class:`BadRequest` for a malformed, oversized or late request."""
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        head: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint if exc.error_status_hint >= 400 else 400
                raise BadRequest(status, f"malformed request: {exc}") from exc
            if event is h11.NEED_DATA:
                if deadline is None and head is None and not self.h11.trailing_data[0]:
                    try:
                        async with asyncio.timeout(self.idle_timeout_s):
                            await self._read(None)
                    except TimeoutError:
                        return None
                    deadline = loop.time() + self.request_timeout_s
                    continue
                if deadline is None:
                    deadline = loop.time() + self.request_timeout_s
                try:
                    await self._read(deadline)
                except TimeoutError as exc:
                    part = "head" if head is None else "body"
                    raise BadRequest(408, f"request {part} not complete within {self.request_timeout_s:g} s") from exc
                continue
            if isinstance(event, h11.ConnectionClosed):
                return None
            if isinstance(event, h11.Request):
                head = event
                length = dict(event.headers).get(b"content-length")
                if length is not None and int(length) > MAX_BODY:
                    raise BadRequest(413, f"request body over {MAX_BODY} bytes")
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    raise BadRequest(413, f"request body over {MAX_BODY} bytes")
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                target = head.target.decode("latin-1")
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
                return Request(head.method.decode("latin-1").upper(), target.split("?", 1)[0], headers,
                               bytes(body))

    def next_cycle(self) -> bool:
        """After a response: ready for the next request on this connection (keep-alive)?"""
        if self.gone or self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
            return False
        self.h11.start_next_cycle()
        return True

    # --- disconnect watching (the client sends nothing while a response streams)
    def start_watch(self) -> None:
        self._watch = asyncio.ensure_future(self.reader.read(_READ))

    def _take(self, w: asyncio.Future[bytes]) -> bool:
        """Consume a finished watch read; True when it saw the client go away."""
        data = b"" if w.cancelled() or w.exception() is not None else w.result()
        if data:  # the client sent the start of its next request: keep it for later
            self.h11.receive_data(data)
            return False
        self.gone = True
        return True

    async def wait_gone(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: just check); True when the client went away."""
        if self.gone:
            return True
        w = self._watch
        if w is None:
            if timeout:
                await asyncio.sleep(timeout)
            return False
        if timeout is None or timeout <= 0:
            if not w.done():
                await asyncio.sleep(0)
        else:
            await asyncio.wait({w}, timeout=timeout)
        if w.done() and not self._take(w):
            self._watch = asyncio.ensure_future(self.reader.read(_READ))
        return self.gone

    async def stop_watch(self) -> None:
        w, self._watch = self._watch, None
        if w is None:
            return
        if w.done():
            if not w.cancelled():
                self._take(w)
            return
        w.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await w

    # --- writing
    async def _send(self, *events: h11.Event) -> None:
        if self.gone or self.writer.is_closing():
            raise ConnectionResetError("client went away")
        for event in events:
            data = self.h11.send(event)
            if data:
                self.writer.write(data)
        await self.writer.drain()

    async def send(self, status: int, body: bytes, content_type: str, *, close: bool = False,
                   headers: Mapping[str, str] | None = None) -> None:
        """A whole response; ``close`` ends the connection after it."""
        hdrs = {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})}
        if close:
            hdrs["Connection"] = "close"
        await self._send(h11.Response(status_code=status, headers=list(hdrs.items()), reason=_reason(status)),
                         h11.Data(data=body), h11.EndOfMessage())

    async def send_json(self, status: int, obj: Any, *, close: bool = False,
                        headers: Mapping[str, str] | None = None) -> None:
        await self.send(status, json.dumps(obj).encode(), "application/json", close=close, headers=headers)

    async def send_error(self, exc: BadRequest) -> None:
        """Answer a :class:`BadRequest` and close (when the connection can still answer)."""
        if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            await self.send_json(exc.status, error_body(exc.status, exc.message), close=True)

    async def start_stream(self, headers: Mapping[str, str]) -> None:
        """A 200 ``text/event-stream`` response whose body follows in :meth:`chunk` calls."""
        hdrs = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **headers}
        await self._send(h11.Response(status_code=200, headers=list(hdrs.items()), reason=b"OK"))

    async def chunk(self, data: bytes) -> None:
        await self._send(h11.Data(data=data))

    async def end_stream(self) -> None:
        await self._send(h11.EndOfMessage())

    def abort(self) -> None:
        """Drop the connection at once (a reset, no end of response)."""
        self.gone = True
        self.writer.transport.abort()
