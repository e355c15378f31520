"""One live-stream accumulator: ``collect`` and a live run count the same stream identically."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest

from deepprune.core import Action, Event, TraceFinished
from deepprune.core.types import FinishReason, Problem, Trace
from deepprune.engine.collect import _sample
from deepprune.engine.runner import run_problem
from deepprune.sources.accumulate import StreamAccumulator
from deepprune.sources.live import LiveSource
from deepprune.sources.openai_client import EndpointConfig, StreamClient, StreamEnd, TokenChunk
from deepprune.strategies.cons import ConsensusStrategy
from fake_openai import FakeServer, chat_chunk

PROBLEM = Problem("p", "What is 6 * 7?", "42")


def _sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def _stream(chunks: Sequence[Sequence[str]], *, logprobs: bool, usage: int | None) -> list[str | float | Exception]:
    out: list[str | float | Exception] = [_sse(chat_chunk(list(c), logprobs=logprobs)) for c in chunks]
    out.append(_sse(chat_chunk([], logprobs=False, finish="stop")))
    if usage is not None:
        out.append(_sse({"choices": [], "usage": {"completion_tokens": usage}}))
    out.append("data: [DONE]\n\n")
    return out


ANSWER = [["The "], ["answer "], ["is "], ["\\boxed{"], ["42"], ["}"]]
CASES = {
    # name: (chunks, logprobs requested and sent, usage.completion_tokens, expected count)
    "logprobs, one token per chunk": (ANSWER, True, 6, 6),
    "logprobs, two tokens in a chunk (counted per token)": ([["The ", "answer "], *ANSWER[2:]], True, 6, 6),
    "logprobs: the server's count is not used": (ANSWER, True, 9, 6),
    "no logprobs: the server's larger count": ([["The answer "], ["is "], ["\\boxed{42}"]], False, 6, 6),
    "no logprobs, no usage: one per chunk": (ANSWER, False, None, 6),
    "no logprobs: a smaller server count never lowers it": (ANSWER, False, 4, 6),
    "nothing streamed: the server's count": ([], True, 1, 1),
}


class _Recorder(ConsensusStrategy):
    def __init__(self) -> None:
        super().__init__()
        self.finished: list[TraceFinished] = []

    def on_event(self, event: Event) -> Sequence[Action]:
        if isinstance(event, TraceFinished):
            self.finished.append(event)
        return super().on_event(event)


@pytest.mark.parametrize("case", list(CASES))
def test_collect_and_a_live_run_count_the_same_stream_identically(case: str) -> None:
    chunks, logprobs, usage, expected = CASES[case]
    server = FakeServer(script=lambda body: _stream(chunks, logprobs=logprobs, usage=usage))
    cfg = EndpointConfig(base_url="http://fake/v1", model="fake", max_tokens=50, top_logprobs=3 if logprobs else 0,
                         backoff_s=0.001)

    async def collected() -> Trace:
        async with StreamClient(cfg, transport=server.transport()) as client:
            return await _sample(client, PROBLEM, 0, 1, lambda n: None)

    trace = asyncio.run(collected())
    rec = _Recorder()
    res = asyncio.run(run_problem(lambda: rec, LiveSource(cfg, transport=server.transport()), PROBLEM, budget=1))
    (fin,) = rec.finished
    assert trace.n_tokens == fin.n_tokens == res.tokens == expected
    assert trace.text == fin.text == "".join("".join(c) for c in chunks)
    assert trace.answer == fin.answer
    if logprobs and chunks:  # exact per-token data: recorded by collect, delivered live
        assert trace.confs is not None and trace.confs == fin.confs
    else:
        assert trace.confs is None and fin.confs is None


def test_the_rule_per_stream_of_a_resumed_trace() -> None:
    acc = StreamAccumulator()
    acc.add(TokenChunk("ab", ("ab",)))
    acc.add(TokenChunk("c", ("c",)))
    assert acc.n_tokens == 2  # stopped here: charged what was received
    acc.new_stream()
    acc.add(TokenChunk("d", ("d",)))
    acc.end(StreamEnd(FinishReason.STOP, completion_tokens=3))  # this stream's own count
    assert acc.n_tokens == 2 + 3 and acc.text == "abcd" and not acc.has_token_data
    exact = StreamAccumulator()
    exact.add(TokenChunk("x", ("x",), (-0.1,), (1.0,)))
    exact.end(StreamEnd(FinishReason.STOP, completion_tokens=5))
    assert exact.n_tokens == 1 and exact.has_token_data and exact.confs == [1.0]
