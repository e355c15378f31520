"""Issue 14, hostile inputs on the live side: failed problems and resume (item 7), secrets (item
10), long traces in replay (item 11), the replay server's malformed requests, timeouts and
``top_logprobs`` cap (item 13). Each test failed before its fix."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from deepprune.replayserver import ReplayServer, ServerConfig
from deepprune.synthetic import synthetic_traceset
from deepprune.types import AnswerKind, FinishReason, Problem, Trace, TraceSet

TS = synthetic_traceset(3, 8, seed=11, mean_tokens=30, with_confs=True)


# ----------------------------------------------------------------------------- item 13: replay server
async def _raw(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send ``data`` on a raw connection; what the server answered before closing (or ``wait`` s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), wait)
    except TimeoutError:
        return b"<no answer, connection still open>"
    finally:
        writer.close()


def _serve_raw(data: bytes, caplog: pytest.LogCaptureFixture, **cfg: Any) -> bytes:
    async def main() -> bytes:
        async with ReplayServer(TS, ServerConfig(rate=0, **cfg)) as srv:
            return await _raw(srv.port, data)
    with caplog.at_level(logging.DEBUG):
        return asyncio.run(main())


@pytest.mark.parametrize("head, body", [
    (b"Content-Length: -5\r\n", b""),
    (b"Content-Length: +5\r\n", b"{}   "),
    (b"Content-Length: 4\r\n", b"\xff\xfe{}"),
])
def test_replay_server_bad_length_or_body_is_a_400(head: bytes, body: bytes,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           b"Content-Type: application/json\r\n" + head)
    answer = _serve_raw(req + b"\r\n" + body, caplog)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]


def test_replay_server_times_out_idle_and_half_sent_connections(caplog: pytest.LogCaptureFixture) -> None:
    assert ServerConfig().idle_timeout_s > 0 and ServerConfig().request_timeout_s > 0
    # idle: a connection that sends nothing is closed without an answer
    assert _serve_raw(b"", caplog, idle_timeout_s=0.3, request_timeout_s=0.3) == b""
    # half-sent head: 408 and closed
    answer = _serve_raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n", caplog,
                        idle_timeout_s=0.3, request_timeout_s=0.3)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    # half-sent body
    answer = _serve_raw(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"a\"", caplog,
                        idle_timeout_s=0.3, request_timeout_s=0.3)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    with pytest.raises(ValueError, match="idle_timeout_s"):
        ServerConfig(idle_timeout_s=0)
    with pytest.raises(ValueError, match="request_timeout_s"):
        ServerConfig(request_timeout_s=float("nan"))


@pytest.mark.parametrize("chat", [True, False])
def test_replay_server_caps_top_logprobs_at_20(chat: bool) -> None:
    import httpx

    p = TS.problems[0]

    async def main() -> list[httpx.Response]:
        async with ReplayServer(TS, ServerConfig(rate=0)) as srv, \
                httpx.AsyncClient(base_url=srv.base_url + "/", timeout=10) as c:
            out = []
            for k in (20, 21, 150_000):
                if chat:
                    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": p.question}],
                                            "logprobs": True, "top_logprobs": k, "max_tokens": 2}
                    out.append(await c.post("chat/completions", json=body))
                else:
                    out.append(await c.post("completions", json={"model": "m", "prompt": p.question,
                                                                 "logprobs": k, "max_tokens": 2}))
            return out

    ok, over, huge = asyncio.run(main())
    assert ok.status_code == 200
    for r in (over, huge):
        assert r.status_code == 400 and "at most 20" in r.json()["error"]["message"]
