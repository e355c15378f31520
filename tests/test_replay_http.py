"""The replay server's HTTP/1.1 framing on raw sockets: keep-alive, pipelining, chunked bodies both
ways, HTTP/1.0 peers, and the errors for malformed or oversized requests."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from deepprune.formats.synthetic import synthetic_traceset
from deepprune.servers.replay import ReplayServer, ServerConfig

TS = synthetic_traceset(2, 4, seed=3, mean_tokens=12, with_confs=True)
Q = TS.problems[0].question


def _body(**kw: Any) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": Q}], "max_tokens": 5, **kw}).encode()


def _post(body: bytes, *, extra: bytes = b"", version: bytes = b"1.1") -> bytes:
    return (b"POST /v1/chat/completions HTTP/" + version + b"\r\nHost: x\r\nContent-Type: application/json\r\n"
            + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body)


async def _exchange(data: bytes, *, read_until_close: bool = True, **cfg: Any) -> bytes:
    async with ReplayServer(TS, ServerConfig(rate=0, **cfg)) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(data)
        await writer.drain()
        try:
            return await asyncio.wait_for(reader.read(), 5.0)
        finally:
            writer.close()


def _dechunk(raw: bytes) -> bytes:
    """Decode a chunked body strictly (sizes in hex, CRLF after each chunk, a 0 chunk at the end)."""
    out, pos = b"", 0
    while True:
        end = raw.index(b"\r\n", pos)
        size = int(raw[pos:end], 16)
        chunk = raw[end + 2:end + 2 + size]
        assert len(chunk) == size and raw[end + 2 + size:end + 4 + size] == b"\r\n"
        pos = end + 4 + size
        if size == 0:
            return out
        out += chunk


def test_keep_alive_and_pipelined_requests_on_one_connection() -> None:
    """Three requests written at once (the last one closes): three answers in order, then close."""
    data = (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + _post(_body())
            + b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = asyncio.run(_exchange(data))
    heads = re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)
    assert heads == [b"200", b"200", b"200"]
    assert raw.index(b'"status": "ok"') < raw.index(b"chat.completion") < raw.index(b'"object": "list"')
    assert raw.count(b"Connection: close") == 1


def test_streamed_response_is_chunked_and_decodes_to_sse_events() -> None:
    raw = asyncio.run(_exchange(_post(_body(stream=True), extra=b"Connection: close\r\n")))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Transfer-Encoding: chunked" in head
    assert b"Content-Type: text/event-stream" in head and b"X-Deepprune-Problem: " in head
    events = [e for e in _dechunk(body).split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]"
    tokens = [json.loads(e[6:])["choices"][0]["delta"].get("content") for e in events[1:-2]]
    assert len(tokens) == 5 and all(tokens)


def test_http10_peer_gets_a_close_delimited_stream() -> None:
    raw = asyncio.run(_exchange(_post(_body(stream=True), version=b"1.0")))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"chunked" not in head
    assert body.endswith(b"data: [DONE]\n\n")


def test_chunked_request_body_is_accepted() -> None:
    body = _body()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 10]), body[i:i + 10]) for i in range(0, len(body), 10))
    data = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n")
    raw = asyncio.run(_exchange(data))
    assert raw.startswith(b"HTTP/1.1 200 ") and b"chat.completion" in raw


def test_malformed_and_oversized_requests() -> None:
    # HTTP/1.1 without Host (RFC 9112 section 3.2): 400
    raw = asyncio.run(_exchange(b"GET /health HTTP/1.1\r\n\r\n"))
    assert raw.startswith(b"HTTP/1.1 400 ") and b"Host" in raw
    # a garbage request line: 400
    raw = asyncio.run(_exchange(b"NOT HTTP AT ALL\r\n\r\n"))
    assert raw.startswith(b"HTTP/1.1 400 ")
    # a head over 64 KiB (still incomplete at 64 KiB): 431
    raw = asyncio.run(_exchange(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000))
    assert raw.startswith(b"HTTP/1.1 431 ")
    # a body over the limit is refused from its Content-Length, before it is read
    raw = asyncio.run(_exchange(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: 999999999\r\n\r\n"))
    assert raw.startswith(b"HTTP/1.1 413 ")
    # every error names itself in OpenAI's error object
    assert json.loads(raw.partition(b"\r\n\r\n")[2])["error"]["code"] == 413


def test_a_stream_the_client_closes_is_cancelled_and_counted() -> None:
    async def main() -> tuple[int, int]:
        async with ReplayServer(TS, ServerConfig(rate=200)) as srv:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(_post(_body(stream=True, max_tokens=None)))
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
            await reader.readuntil(b'"content": ')  # the first token
            writer.close()
            for _ in range(200):
                await asyncio.sleep(0.01)
                s = srv.stats()
                if s.streams_cancelled:
                    return s.streams_cancelled, s.tokens_cancelled
            return 0, 0

    cancelled, saved = asyncio.run(main())
    assert cancelled == 1 and saved > 0
