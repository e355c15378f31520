"""An in-process fake OpenAI-compatible streaming server for tests (``httpx.MockTransport``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["FakeServer", "chat_chunk"]


def chat_chunk(tokens: Sequence[str], *, logprobs: bool = True, finish: str | None = None,
                top: int = 3) -> dict[str, Any]:
    ch: dict[str, Any] = {"index": 0, "delta": {"content": "".join(tokens)}, "finish_reason": finish}
    if logprobs:
        ch["logprobs"] = {"content": [
            {"token": t, "logprob": -0.5, "top_logprobs": [{"token": t, "logprob": -0.5 * (j + 1)}
                                                           for j in range(top)]}
            for t in tokens]}
    return {"choices": [ch]}


class _Body(httpx.AsyncByteStream):
    """An SSE body that may pause, break off or stall, and records when the client closes it."""

    def __init__(self, lines: list[str | float | Exception], log: FakeServer, rid: int) -> None:
        self.lines = lines
        self.log = log
        self.rid = rid

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for item in self.lines:
            if isinstance(item, float):
                await asyncio.sleep(item)
                continue
            if isinstance(item, Exception):
                raise item
            self.log.sent[self.rid] += 1
            yield item.encode()

    async def aclose(self) -> None:
        self.log.closed.add(self.rid)


@dataclass
class FakeServer:
    """Answers chat completions: ``n_tokens`` tokens, the last ones ``\\boxed{<answer_for(seed)>}``."""

    answer_for: Callable[[int], str] = lambda seed: "42"
    n_tokens: int = 6
    delay_s: float = 0.0
    statuses: list[int] = field(default_factory=list)
    """HTTP statuses to answer with before succeeding (consumed one per request)."""
    logprobs: bool = True
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[httpx.Headers] = field(default_factory=list)
    sent: dict[int, int] = field(default_factory=dict)
    closed: set[int] = field(default_factory=set)
    script: Callable[[dict[str, Any]], list[str | float | Exception]] | None = None

    def tokens(self, body: dict[str, Any]) -> list[str]:
        ans = self.answer_for(int(body["seed"]))
        toks = [f"w{i} " for i in range(max(0, self.n_tokens - 3))] + ["\\boxed{", ans, "}"]
        return toks[: int(body["max_tokens"])]

    def lines(self, body: dict[str, Any]) -> list[str | float | Exception]:
        if self.script is not None:
            return self.script(body)
        out: list[str | float | Exception] = []
        toks = self.tokens(body)
        for t in toks:
            if self.delay_s:
                out.append(self.delay_s)
            out.append(f"data: {json.dumps(chat_chunk([t], logprobs=self.logprobs))}\n\n")
        finish = "length" if len(toks) >= int(body["max_tokens"]) and toks[-1] != "}" else "stop"
        out.append(f"data: {json.dumps(chat_chunk([], logprobs=False, finish=finish))}\n\n")
        out.append(f"data: {json.dumps({'choices': [], 'usage': {'completion_tokens': len(toks)}})}\n\n")
        out.append("data: [DONE]\n\n")
        return out

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        rid = len(self.bodies)
        self.bodies.append(body)
        self.headers.append(request.headers)
        self.sent[rid] = 0
        if self.statuses:
            status = self.statuses.pop(0)
            return httpx.Response(status, json={"error": {"message": f"status {status}"}})
        return httpx.Response(200, headers={"content-type": "text/event-stream"},
                              stream=_Body(self.lines(body), self, rid))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)
