"""One request and its answer on the replay server's aiohttp connections.

:class:`Exchange` reads a request's body under its deadline and size limit, sends whole or
streamed (SSE) answers, and tells whether the client went away, waiting for that while a stream
paces its tokens (so a client's close stops generation at once). :meth:`Exchange.abort` drops the
connection for the faults that do so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from deepprune.servers.replay.errors import BadRequest, error_body
from deepprune.servers.replay.protocol import (
    MAX_BODY,
    ReplayProtocol,
    StreamResponse,
    json_response,
    response,
)

__all__ = ["Exchange"]


class Exchange:
    """``request`` (on a :class:`ReplayProtocol` connection) and its answer."""

    def __init__(self, request: web.BaseRequest) -> None:
        protocol = request.protocol
        assert isinstance(protocol, ReplayProtocol)
        self.request = request
        self.protocol = protocol
        self.deadline = protocol.request_started()
        self.response: web.StreamResponse | None = None
        self._aborted = False

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive."""
        return self.request.headers

    async def body(self) -> bytes:
        """The whole body; :class:`BadRequest` 413 when over :data:`MAX_BODY`, 408 when it is not in by
        the request's deadline, 400 when malformed."""
        req = self.request
        length = req.content_length
        if length is not None and length > MAX_BODY:
            raise BadRequest(413, f"request body over {MAX_BODY} bytes")
        try:
            async with asyncio.timeout_at(self.deadline):
                return await req.read()
        except TimeoutError as exc:
            raise BadRequest(408, f"request body not complete within {self.protocol.request_timeout_s:g} s") from exc
        except web.HTTPRequestEntityTooLarge as exc:
            raise BadRequest(413, f"request body over {MAX_BODY} bytes") from exc
        except HttpProcessingError as exc:
            raise BadRequest(400, f"malformed request body: {exc.message or exc}") from exc

    # --- the client
    @property
    def gone(self) -> bool:
        return self._aborted or self.protocol.lost.done()

    async def wait_gone(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: just yield to the loop once); True when the client
        went away."""
        if self.gone:
            return True
        if timeout is None or timeout <= 0:
            await asyncio.sleep(0)
        else:
            await asyncio.wait((self.protocol.lost,), timeout=timeout)
        return self.gone

    def abort(self) -> None:
        """Drop the connection at once (a reset, no end of response)."""
        self._aborted = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    # --- answers
    async def send_response(self, resp: web.StreamResponse) -> None:
        if self.gone:
            raise ConnectionResetError("client went away")
        self.response = resp
        await resp.prepare(self.request)
        await resp.write_eof()

    async def send(self, status: int, body: bytes, content_type: str, *, close: bool = False,
                   headers: Mapping[str, str] | None = None) -> None:
        """A whole response; ``close`` ends the connection after it."""
        await self.send_response(response(status, body, content_type, headers=headers, close=close))

    async def send_json(self, status: int, obj: Any, *, close: bool = False,
                        headers: Mapping[str, str] | None = None) -> None:
        await self.send_response(json_response(status, obj, headers=headers, close=close))

    async def send_error(self, exc: BadRequest, *, close: bool = False) -> None:
        await self.send_json(exc.status, error_body(exc.status, exc.message), close=close)

    async def start_stream(self, headers: Mapping[str, str]) -> None:
        """A 200 ``text/event-stream`` response whose body follows in :meth:`chunk` calls."""
        if self.gone:
            raise ConnectionResetError("client went away")
        resp = StreamResponse(status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                                   **headers})
        self.response = resp
        await resp.prepare(self.request)

    async def chunk(self, data: bytes) -> None:
        if self.gone:
            raise ConnectionResetError("client went away")
        assert self.response is not None
        await self.response.write(data)

    async def end_stream(self) -> None:
        assert self.response is not None
        await self.response.write_eof()
