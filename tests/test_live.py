"""SSE parsing, the streaming client and LiveSource against an in-process fake server (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

from deepprune.core.errors import ClientError, RequestTimeout, ServerError, StreamError
from deepprune.core.types import AnswerKind, FinishReason, Problem
from deepprune.engine.runner import run_problem
from deepprune.sources.live import LiveSource
from deepprune.sources.openai_client import (
    EndpointConfig,
    StreamClient,
    StreamEnd,
    TokenChunk,
    confidence,
    parse_chunk,
)
from deepprune.strategies.base import (
    Action,
    Decision,
    Event,
    Launch,
    Resume,
    RunContext,
    Stop,
    Strategy,
    TraceFailed,
    TraceFinished,
    TraceProgress,
)
from deepprune.strategies.cons import ConsensusStrategy
from fake_openai import FakeServer, chat_chunk

URL = "http://fake.test/v1"
PROBLEM = Problem("p1", "What is 6*7?", "42", AnswerKind.INTEGER)


# ------------------------------------------------------------------------------------ chunks
def test_parse_chunk_chat_with_top_logprobs_gives_deepconf_confidence() -> None:
    chunk, fin, used = parse_chunk(chat_chunk(["4", "2"]), chat=True, want_logprobs=True)
    assert chunk is not None and chunk.tokens == ("4", "2") and chunk.text == "42"
    assert chunk.logprobs == (-0.5, -0.5)
    assert chunk.confs == pytest.approx((1.0, 1.0))  # -(1/3) * (-0.5 - 1.0 - 1.5)
    assert fin is None and used is None
    assert confidence([-1.0, -3.0]) == 2.0


def test_parse_chunk_classic_completions_and_usage() -> None:
    payload = {"choices": [{"text": "ab", "finish_reason": "length",
                            "logprobs": {"tokens": ["a", "b"], "token_logprobs": [-0.1, -0.2],
                                         "top_logprobs": [{"a": -0.1, "x": -2.1}, {"b": -0.2, "y": -4.2}]}}],
               "usage": {"completion_tokens": 2}}
    chunk, fin, used = parse_chunk(payload, chat=False, want_logprobs=True)
    assert chunk is not None and chunk.tokens == ("a", "b") and chunk.confs == pytest.approx((1.1, 2.2))
    assert fin is FinishReason.LENGTH and used == 2


def test_parse_chunk_errors_are_typed() -> None:
    with pytest.raises(StreamError, match="without logprobs"):
        parse_chunk(chat_chunk(["x"], logprobs=False), chat=True, want_logprobs=True)
    with pytest.raises(StreamError, match="boom"):
        parse_chunk({"error": {"message": "boom"}}, chat=True, want_logprobs=False)
    with pytest.raises(StreamError, match="malformed"):
        parse_chunk({"choices": "nope"}, chat=True, want_logprobs=False)
    chunk, _, _ = parse_chunk(chat_chunk(["x"], logprobs=False), chat=True, want_logprobs=False)
    assert chunk is not None and chunk.tokens == ("x",) and chunk.confs is None


def _cfg(**kw: Any) -> EndpointConfig:
    base = {"base_url": URL, "model": "fake", "max_tokens": 50, "top_logprobs": 3, "backoff_s": 0.001,
            "max_concurrency": 4}
    base.update(kw)
    return EndpointConfig(**base)


async def _stream_all(cfg: EndpointConfig, server: FakeServer, **kw: Any) -> list[TokenChunk | StreamEnd]:
    async with StreamClient(cfg, transport=server.transport()) as c:
        return [item async for item in c.stream("q", seed=1, **kw)]


# ------------------------------------------------------------------------------------ SSE framing
def _sse_script(*parts: str) -> FakeServer:
    return FakeServer(script=lambda body: list(parts))


def test_sse_multiline_data_comments_crlf_and_data_less_events() -> None:
    """Read by the SSE framer: ``data:`` lines joined by newlines, comments and named events without data
    skipped, CRLF line ends, ``[DONE]`` ends the stream."""
    first = json.dumps(chat_chunk(["a"]))
    head, tail = first[: len(first) // 2], first[len(first) // 2:]
    server = _sse_script(": keep-alive\r\n\r\n", "event: ping\r\n\r\n",
                         f"event: msg\r\nid: 7\r\ndata: {head}\r\ndata:{tail}\r\n\r\n",
                         f"data: {json.dumps(chat_chunk(['b'], finish='stop'))}\n\n", "retry: 10\n\n",
                         "data: [DONE]\n\n")
    items = asyncio.run(_stream_all(_cfg(), server))
    assert [i.text for i in items if isinstance(i, TokenChunk)] == ["a", "b"]
    assert items[-1] == StreamEnd(FinishReason.STOP, None)


def test_sse_event_split_across_network_chunks() -> None:
    line = f"data: {json.dumps(chat_chunk(['xy'], finish='stop'))}\n\ndata: [DONE]\n\n"
    server = _sse_script(*[line[i:i + 7] for i in range(0, len(line), 7)])
    items = asyncio.run(_stream_all(_cfg(), server))
    assert [i.text for i in items if isinstance(i, TokenChunk)] == ["xy"]


def test_sse_unterminated_last_event_is_discarded_and_the_drop_reported() -> None:
    server = _sse_script(f"data: {json.dumps(chat_chunk(['a']))}\n\n",
                         f"data: {json.dumps(chat_chunk(['b'], finish='stop'))}")
    with pytest.raises(StreamError, match="without a finish reason"):
        asyncio.run(_stream_all(_cfg(), server))


def test_a_200_answer_that_is_not_an_event_stream_is_a_stream_error() -> None:
    transport = httpx.MockTransport(lambda req: httpx.Response(200, json={"choices": []}))

    async def main() -> None:
        async with StreamClient(_cfg(retries=0), transport=transport) as c:
            [_ async for _ in c.stream("q", seed=1)]

    with pytest.raises(StreamError, match=r"without an event stream.*application/json"):
        asyncio.run(main())


# ------------------------------------------------------------------------------------ client
def test_stream_yields_tokens_then_end_and_sends_one_n1_request_with_seed() -> None:
    server = FakeServer(n_tokens=5)
    items = asyncio.run(_stream_all(_cfg(), server))
    chunks = [i for i in items if isinstance(i, TokenChunk)]
    assert "".join(c.text for c in chunks) == "w0 w1 \\boxed{42}"
    assert sum(c.n for c in chunks) == 5
    assert items[-1] == StreamEnd(FinishReason.STOP, 5)
    (body,) = server.bodies
    assert body["n"] == 1 and body["seed"] == 1 and body["stream"] is True
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def test_completions_endpoint_sends_plain_prompt() -> None:
    def script(body: dict[str, Any]) -> list[str | float | Exception]:
        assert body["prompt"] == "q" and "messages" not in body and body["logprobs"] == 3
        return ['data: {"choices": [{"text": "x", "finish_reason": "stop", "logprobs": {"tokens": ["x"], '
                '"token_logprobs": [-0.1], "top_logprobs": [{"x": -0.1}]}}]}\n\n', "data: [DONE]\n\n"]
    items = asyncio.run(_stream_all(_cfg(chat=False), FakeServer(script=script)))
    assert items[0] == TokenChunk("x", ("x",), (-0.1,), (pytest.approx(0.1),))  # type: ignore[arg-type]


def test_retries_5xx_and_429_before_the_first_token() -> None:
    server = FakeServer(statuses=[503, 429])
    items = asyncio.run(_stream_all(_cfg(retries=3), server))
    assert isinstance(items[-1], StreamEnd) and len(server.bodies) == 3


def test_gives_up_after_retries_with_server_error() -> None:
    server = FakeServer(statuses=[500, 500, 500])
    with pytest.raises(ServerError, match="HTTP 500: status 500"):
        asyncio.run(_stream_all(_cfg(retries=2), server))
    assert len(server.bodies) == 3


def test_client_errors_are_not_retried() -> None:
    server = FakeServer(statuses=[400])
    with pytest.raises(ServerError) as exc_info:
        asyncio.run(_stream_all(_cfg(retries=3), server))
    assert exc_info.value.status == 400 and len(server.bodies) == 1


def test_connect_error_is_retried_then_typed() -> None:
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("connection refused", request=request)

    async def go() -> None:
        async with StreamClient(_cfg(retries=2), transport=httpx.MockTransport(refuse)) as c:
            async for _ in c.stream("q", seed=1):
                pass

    with pytest.raises(ClientError, match=r"connection refused.*after 3 attempt"):
        asyncio.run(go())
    assert len(calls) == 3


def test_broken_stream_after_first_token_is_a_stream_error_not_retried() -> None:
    def script(body: dict[str, Any]) -> list[str | float | Exception]:
        return [f"data: {json.dumps(chat_chunk(['a']))}\n\n", httpx.ReadError("reset by peer")]
    server = FakeServer(script=script)
    with pytest.raises(StreamError, match="broke off"):
        asyncio.run(_stream_all(_cfg(retries=3), server))
    assert len(server.bodies) == 1


def test_stream_ending_without_done_or_finish_is_a_stream_error() -> None:
    server = FakeServer(script=lambda b: [f"data: {json.dumps(chat_chunk(['a']))}\n\n"])
    with pytest.raises(StreamError, match="ended without a finish reason"):
        asyncio.run(_stream_all(_cfg(), server))


def test_malformed_chunk_is_a_stream_error() -> None:
    server = FakeServer(script=lambda b: ["data: {not json\n\n"])
    with pytest.raises(StreamError, match="not JSON"):
        asyncio.run(_stream_all(_cfg(), server))


def test_stalled_stream_is_a_request_timeout() -> None:
    def script(body: dict[str, Any]) -> list[str | float | Exception]:
        return [f"data: {json.dumps(chat_chunk(['a']))}\n\n", ": keep-alive\n\n", 5.0, "data: [DONE]\n\n"]
    server = FakeServer(script=script)
    with pytest.raises(RequestTimeout, match=r"stalled: no token for 0\.2 s"):
        asyncio.run(_stream_all(_cfg(stall_timeout_s=0.2), server))
    assert server.closed == {0}


def test_api_key_is_sent_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-env")
    server = FakeServer()
    asyncio.run(_stream_all(_cfg(), server))
    assert server.headers[0]["authorization"] == "Bearer sk-secret-env"
    cfg = _cfg(api_key="sk-secret-flag")
    assert "sk-secret" not in repr(cfg) and "sk-secret" not in repr(StreamClient(cfg))
    assert "sk-secret" not in json.dumps(cfg.sampling())
    server = FakeServer(statuses=[401])
    with pytest.raises(ServerError) as exc_info:
        asyncio.run(_stream_all(cfg, server))
    assert server.headers[0]["authorization"] == "Bearer sk-secret-flag"
    assert "sk-secret" not in str(exc_info.value)


# ------------------------------------------------------------------------------------ LiveSource
def test_cons_runs_unchanged_on_live_source() -> None:
    answers = {0: "42", 1: "42", 2: "41"}
    server = FakeServer(answer_for=lambda seed: answers[seed % 3], n_tokens=7)
    src = LiveSource(_cfg(max_concurrency=2), transport=server.transport())
    res = asyncio.run(run_problem(ConsensusStrategy, src, PROBLEM, budget=6, seed=3))
    assert res.traces_launched == 6 and res.traces_finished == 6 and res.traces_stopped == 0
    assert res.tokens == 6 * 7
    assert res.steps is None and res.wall_s > 0  # live: measured time, no replay clock
    seeds = [b["seed"] for b in server.bodies]
    assert len(set(seeds)) == 6  # one request per trace, each with its own seed
    expected = [answers[s % 3] for s in seeds]
    assert res.answer == max(set(expected), key=expected.count)
    assert res.correct == (res.answer == "42")


class _StopFirstAfter(Strategy):
    """Launches 2 traces, asks to hear about trace 0 after ``after`` tokens, stops it then,
    optionally resumes it once trace 1 finished."""

    name = "stopper"

    def __init__(self, after: int = 3, resume: bool = False) -> None:
        self.after = after
        self.resume = resume
        self.events: list[Event] = []
        self.ctx: RunContext | None = None

    def start(self, ctx: RunContext) -> Sequence[Action]:
        self.ctx = ctx
        return [Launch(2)]

    def watch(self, trace_id: int) -> int | None:
        return self.after if trace_id == 0 else None

    def on_event(self, event: Event) -> Sequence[Action]:
        self.events.append(event)
        if isinstance(event, TraceProgress) and event.trace_id == 0 and not any(
                isinstance(e, TraceFinished) for e in self.events):
            return [Stop(0)]
        if isinstance(event, TraceFinished) and event.trace_id == 1 and self.resume:
            return [Resume(0)]
        return ()

    def result(self) -> Decision:
        fin = [e for e in self.events if isinstance(e, TraceFinished)]
        return Decision(fin[0].answer if fin else None)


def test_stop_closes_the_stream_and_charges_tokens_received() -> None:
    server = FakeServer(n_tokens=40, delay_s=0.01)
    strat = _StopFirstAfter(after=3)
    src = LiveSource(_cfg(), transport=server.transport())
    res = asyncio.run(run_problem(lambda: strat, src, PROBLEM, budget=2))
    progress = [e for e in strat.events if isinstance(e, TraceProgress)]
    assert len(progress) == 1 and progress[0].trace_id == 0 and progress[0].n_tokens >= 3
    assert progress[0].new_confs is not None and len(progress[0].new_confs) == progress[0].n_tokens
    rid0 = next(i for i, b in enumerate(server.bodies) if b["seed"] == server.bodies[0]["seed"])
    assert rid0 in server.closed  # the stopped trace's HTTP stream was closed
    assert server.sent[rid0] < 40  # ... long before the server had sent everything
    assert res.traces_stopped == 1 and res.traces_finished == 1
    # charged what it had received when stopped (tokens may arrive between the event and the stop)
    assert 40 + progress[0].n_tokens <= res.tokens < 80
    assert strat.ctx is not None and strat.ctx.has_confidence and strat.ctx.peek_answer is None


def test_progress_is_only_delivered_when_watched_but_every_token_counts() -> None:
    server = FakeServer(n_tokens=30)
    strat = _StopFirstAfter(after=10**6)  # never wants progress of trace 0 before its end
    src = LiveSource(_cfg(), transport=server.transport())
    res = asyncio.run(run_problem(lambda: strat, src, PROBLEM, budget=2))
    assert not any(isinstance(e, TraceProgress) for e in strat.events)
    assert res.tokens == 60 and res.traces_finished == 2
    fins = [e for e in strat.events if isinstance(e, TraceFinished)]
    assert all(e.confs is not None and len(e.confs) == 30 for e in fins)
    assert {e.answer for e in fins} == {"42"}


def test_resume_continues_the_stopped_text_with_a_new_request() -> None:
    server = FakeServer(n_tokens=12, delay_s=0.005)
    strat = _StopFirstAfter(after=2, resume=True)
    src = LiveSource(_cfg(max_tokens=12), transport=server.transport())
    res = asyncio.run(run_problem(lambda: strat, src, PROBLEM, budget=2))
    assert len(server.bodies) == 3
    third = server.bodies[2]
    assert third["messages"][-1]["role"] == "assistant" and third["messages"][-1]["content"]
    assert third["continue_final_message"] is True and third["add_generation_prompt"] is False
    stopped_at = next(e.n_tokens for e in strat.events if isinstance(e, TraceProgress))
    assert third["max_tokens"] == 12 - stopped_at  # the budget left, nothing charged twice
    fin0 = next(e for e in strat.events if isinstance(e, TraceFinished) and e.trace_id == 0)
    assert fin0.n_tokens == 12 and res.tokens == 24 and res.traces_finished == 2


def test_failed_trace_becomes_trace_failed_with_its_tokens() -> None:
    def script(body: dict[str, Any]) -> list[str | float | Exception]:
        if body["seed"] == bad_seed[0]:
            return [f"data: {json.dumps(chat_chunk(['a', 'b']))}\n\n", httpx.RemoteProtocolError("eof")]
        return FakeServer(n_tokens=4).lines(body)
    bad_seed: list[int] = []
    from deepprune.engine.collect import trace_seed
    bad_seed.append(trace_seed(0, PROBLEM.id, 1))
    server = FakeServer(script=script)
    strat = _StopFirstAfter(after=10**6)
    src = LiveSource(_cfg(), transport=server.transport())
    res = asyncio.run(run_problem(lambda: strat, src, PROBLEM, budget=2))
    failed = [e for e in strat.events if isinstance(e, TraceFailed)]
    assert len(failed) == 1 and failed[0].trace_id == 1 and failed[0].n_tokens == 2
    assert "broke off" in failed[0].error
    assert res.tokens == 4 + 2 and res.info.get("traces_failed") == 1


def test_concurrency_is_bounded_across_traces() -> None:
    open_now = [0]
    peak = [0]

    class _Counting(FakeServer):
        async def __call__(self, request: httpx.Request) -> httpx.Response:
            open_now[0] += 1
            peak[0] = max(peak[0], open_now[0])
            resp = await super().__call__(request)
            original = resp.stream

            class _Wrapped(httpx.AsyncByteStream):
                async def __aiter__(self) -> AsyncIterator[bytes]:
                    async for b in original:  # type: ignore[union-attr]
                        yield b

                async def aclose(self) -> None:
                    open_now[0] -= 1

            return httpx.Response(200, headers=resp.headers, stream=_Wrapped())

    server = _Counting(n_tokens=5, delay_s=0.002)
    src = LiveSource(_cfg(max_concurrency=3), transport=server.transport())
    res = asyncio.run(run_problem(ConsensusStrategy, src, PROBLEM, budget=8))
    assert res.traces_finished == 8 and peak[0] == 3


def test_an_unexpected_error_fails_the_trace_instead_of_hanging() -> None:
    def script(body: dict[str, Any]) -> list[str | float | Exception]:
        return [f"data: {json.dumps(chat_chunk(['a']))}\n\n", RuntimeError("bug in a transport")]
    strat = _StopFirstAfter(after=10**6)
    src = LiveSource(_cfg(), transport=FakeServer(script=script).transport())
    res = asyncio.run(asyncio.wait_for(run_problem(lambda: strat, src, PROBLEM, budget=2), 10))
    failed = [e for e in strat.events if isinstance(e, TraceFailed)]
    assert len(failed) == 2 and all("bug in a transport" in e.error for e in failed)
    assert res.tokens == 2
