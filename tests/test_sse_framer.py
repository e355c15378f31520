"""The stream client's SSE parser (:class:`SSEFramer`) against a line-by-line reading of the SSE
rules, on the chunk shapes servers and the tests send, split at every byte; charsets and
compressed bodies through the client."""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import re

import httpx
import pytest

from deepprune.servers.loadgen import Shape, encode_stream
from deepprune.sources.openai_client import EndpointConfig, SSEFramer, StreamClient, StreamEnd, TokenChunk
from fake_openai import chat_chunk


def reference(body: bytes) -> list[bytes]:
    """The data of each dispatched event, read the slow, obvious way (WHATWG "Parsing an event
    stream", as httpx-sse reads it; events without a data line produce nothing)."""
    text = body.decode("utf-8", "surrogateescape")
    lines = re.split(r"\r\n|\r|\n", text)
    lines.pop()  # the part after the last line end: an unterminated line, discarded
    out: list[bytes] = []
    data: list[str] | None = None
    for line in lines:
        if line == "":
            if data is not None:
                out.append("\n".join(data).encode("utf-8", "surrogateescape"))
            data = None
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data = (data or []) + [value]
    return out  # an event not ended by a blank line is discarded


def _dechunk(body: bytes) -> tuple[bytes, list[int]]:
    """An HTTP/1.1 chunked body -> its payload and the payload offsets where chunks end."""
    out, ends, i = b"", [], 0
    while True:
        j = body.index(b"\r\n", i)
        size = int(body[i:j], 16)
        if size == 0:
            return out, ends
        out += body[j + 2:j + 2 + size]
        ends.append(len(out))
        i = j + 2 + size + 2


def _frame(pieces: list[bytes]) -> list[bytes]:
    f = SSEFramer()
    out: list[bytes] = []
    for p in pieces:
        out += f.feed(p)
    return out + f.close()


HAND = [
    b'data: {"a": 1}\n\n',
    b'data: {"a": 1}\r\n\r\ndata: [DONE]\r\n\r\n',
    b'data: one\rdata: two\r\rdata:three\n\n',
    b": keep-alive\n\nevent: ping\n\nid: 3\n\nretry: 10\n\ndata\n\ndata:\ndata:\n\n",
    b"event: msg\nid: 7\ndata: x\ndata:  y\nfoo: bar\ndatax: no\n\n",
    b"data: a\n\ndata: unterminated",
    b"data: a\n\ndata: b\n",
    b"data: a\n\ndata: b\r",
    b"data: a\n\r",
    b"data: a\r\n\r",
    "data: {\"t\": \"a\u2028b\x85c\"}\n\n".encode(),
    b"\n\n\ndata: x\n\n\n\n",
    b"data: caf\xc3\xa9 \xff\n\n",
]


def _loadgen_bodies() -> list[tuple[bytes, list[int]]]:
    bodies = []
    for api in ("chat", "completions"):
        for flavor in ("vllm", "llamacpp"):
            for top in (0, 3):
                for tpc in (1, 2):
                    raw, _ = encode_stream(Shape(api, flavor, top), 5, tokens_per_chunk=tpc)  # type: ignore[arg-type]
                    bodies.append(_dechunk(raw))
    return bodies


@pytest.mark.parametrize("body", HAND)
def test_framer_equals_the_rules_at_every_split(body: bytes) -> None:
    want = reference(body)
    assert _frame([body]) == want
    for i in range(len(body) + 1):
        assert _frame([body[:i], body[i:]]) == want, i
    assert _frame([body[i:i + 1] for i in range(len(body))]) == want


def test_framer_on_the_generators_and_servers_chunk_shapes() -> None:
    rng = random.Random(7)
    for body, ends in _loadgen_bodies():
        want = reference(body)
        assert want and want[-1] == b"[DONE]"
        # as the server sends it: one network read per HTTP chunk, then several chunks per read
        starts = [0, *ends[:-1]]
        assert _frame([body[a:b] for a, b in zip(starts, ends, strict=True)]) == want
        for _ in range(20):
            cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(1, 12))))
            assert _frame([body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]) == want
        crlf = body.replace(b"\n", b"\r\n")
        assert _frame([crlf[i:i + 7] for i in range(0, len(crlf), 7)]) == want


def _client_items(response: httpx.Response) -> list[TokenChunk | StreamEnd]:
    async def go() -> list[TokenChunk | StreamEnd]:
        cfg = EndpointConfig(base_url="http://fake/v1", model="m", top_logprobs=0, retries=0)
        async with StreamClient(cfg, transport=httpx.MockTransport(lambda req: response)) as c:
            return [item async for item in c.stream("q", seed=1)]
    return asyncio.run(go())


def _events(*tokens: str) -> str:
    return "".join(f"data: {json.dumps(chat_chunk([t], logprobs=False, finish='stop' if i == len(tokens) - 1 else None), ensure_ascii=False)}\n\n"
                   for i, t in enumerate(tokens)) + "data: [DONE]\n\n"


def test_a_body_in_another_charset_is_decoded_by_its_charset() -> None:
    body = _events("café", "€").encode("utf-16-le")
    items = _client_items(httpx.Response(200, headers={"content-type": "text/event-stream; charset=utf-16-le"},
                                         content=body))
    assert [i.text for i in items if isinstance(i, TokenChunk)] == ["café", "€"]
    latin = _events("é").encode("latin-1")
    items = _client_items(httpx.Response(200, headers={"content-type": "text/event-stream; charset=latin-1"},
                                         content=latin))
    assert [i.text for i in items if isinstance(i, TokenChunk)] == ["é"]


def test_a_compressed_body_is_decompressed() -> None:
    body = gzip.compress(_events("a", "b").encode())
    items = _client_items(httpx.Response(200, headers={"content-type": "text/event-stream",
                                                       "content-encoding": "gzip"}, content=body))
    assert [i.text for i in items if isinstance(i, TokenChunk)] == ["a", "b"]
    assert isinstance(items[-1], StreamEnd)


def test_invalid_utf8_is_replaced_as_text_decoding_does() -> None:
    body = _events("ok").encode().replace(b'"ok"', b'"o\xffk"')
    items = _client_items(httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body))
    assert [i.text for i in items if isinstance(i, TokenChunk)] == ["o\ufffdk"]
