"""The OpenAI-compatible replay server: protocol, pacing, cancellation, faults."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepprune.core.errors import ConfigError
from deepprune.core.types import AnswerKind, FinishReason, Problem, Trace, TraceSet
from deepprune.formats.tracefile import FORMAT, write_traces
from deepprune.servers.replay import (
    Assign,
    Fault,
    FaultKind,
    ReplayServer,
    ServerConfig,
    synth_top_logprobs,
    token_pieces,
)


def make_traceset(n_problems: int = 2, k: int = 4, n_tokens: int = 40, *, confs: bool = True,
                  logprobs: bool = True, tokens: bool = True) -> TraceSet:
    """Problems ``q0..``; trace j of problem i has ``n_tokens + 5 * j`` tokens ``"t{j}_{pos} "``."""
    problems = []
    traces: dict[str, tuple[Trace, ...]] = {}
    for i in range(n_problems):
        pid = f"p{i}"
        problems.append(Problem(pid, f"What is {i} + {i}?", str(2 * i), AnswerKind.INTEGER, "test"))
        out = []
        for j in range(k):
            n = n_tokens + 5 * j
            toks = [f"t{j}_{t} " for t in range(n - 1)] + [f"\\boxed{{{2 * i + j % 2}}}"]
            out.append(Trace(
                pid, j, "".join(toks), n, str(2 * i + j % 2), FinishReason.STOP, seed=100 + j,
                tokens=tuple(toks) if tokens else None,
                logprobs=tuple(-0.01 * (t % 7) for t in range(n)) if logprobs else None,
                confs=tuple(1.0 + 0.1 * (t % 5) for t in range(n)) if confs else None))
        traces[pid] = tuple(out)
    return TraceSet(tuple(problems), traces, {"format": FORMAT, "model": "test-model"}, name="t")


TS = make_traceset()


def serve(ts: TraceSet, fn: Callable[[ReplayServer, httpx.AsyncClient], Awaitable[Any]], **cfg: Any) -> Any:
    async def main() -> Any:
        async with ReplayServer(ts, ServerConfig(**{"rate": 0, **cfg})) as srv, \
                httpx.AsyncClient(base_url=srv.base_url + "/", timeout=10) as client:
            return await fn(srv, client)
    return asyncio.run(main())


def chat_body(question: str, **kw: Any) -> dict[str, Any]:
    return {"model": "m", "stream": True, "messages": [{"role": "system", "content": "Reason."},
                                                        {"role": "user", "content": question}], **kw}


async def events(resp: httpx.Response) -> AsyncIterator[dict[str, Any] | str]:
    async for line in resp.aiter_lines():
        if line.startswith("data: "):
            data = line[len("data: "):]
            yield data if data == "[DONE]" else json.loads(data)


async def collect_stream(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[Any]:
    async with client.stream("POST", path, json=body) as resp:
        assert resp.status_code == 200, await resp.aread()
        return [e async for e in events(resp)]


# ----------------------------------------------------------------------------- pure helpers
def test_token_pieces_match_text_at() -> None:
    tr = Trace("p", 0, "The answer is \\boxed{42}, since 6 * 7 = 42.", 11, "42")
    pieces = token_pieces(tr)
    assert len(pieces) == 11
    assert "".join(pieces) == tr.text
    for i in range(12):
        assert "".join(pieces[:i]) == tr.text_at(i)


def test_token_pieces_use_recorded_tokens() -> None:
    tr = TS.traces_of("p0")[0]
    assert token_pieces(tr) == tr.tokens


@pytest.mark.parametrize("lp,conf,k", [(-0.1, 0.5, 20), (-0.001, 3.0, 5), (-9.0, 0.2, 20), (None, 1.5, 20),
                                       (-0.3, 0.7, 1)])
def test_synth_top_logprobs_mean_is_conf(lp: float | None, conf: float, k: int) -> None:
    alts = synth_top_logprobs("x", lp, conf, k)
    assert len(alts) == k
    assert alts[0][0] == "x"
    assert all(v <= 0 for _, v in alts)
    assert -sum(v for _, v in alts) / k == pytest.approx(conf, rel=1e-12)
    if lp is not None and k > 1 and -k * conf - lp <= 0:
        assert alts[0][1] == lp


def test_fault_parse() -> None:
    assert Fault.parse("refuse") == Fault(FaultKind.REFUSE)
    assert Fault.parse("status:429@2") == Fault(FaultKind.STATUS, status=429, times=2)
    assert Fault.parse("drop:10") == Fault(FaultKind.DROP, after=10)
    assert Fault.parse("stall:5:1.5@1") == Fault(FaultKind.STALL, after=5, seconds=1.5, times=1)
    assert Fault.parse("malformed:3").after == 3
    assert Fault.parse("nologprobs").kind is FaultKind.NO_LOGPROBS
    for bad in ("explode", "status:abc", "drop:1:2", "status:200", "drop:3@0"):
        with pytest.raises(ConfigError):
            Fault.parse(bad)


# ----------------------------------------------------------------------------- protocol
def test_chat_stream_reproduces_trace_and_confidence() -> None:
    trace = TS.traces_of("p1")[2]

    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        evs = await collect_stream(c, "chat/completions", chat_body(
            "What is 1 + 1?", seed=102, logprobs=True, top_logprobs=20, stream_options={"include_usage": True}))
        assert evs[-1] == "[DONE]"
        chunks = [e for e in evs[:-1] if isinstance(e, dict)]
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        token_chunks = [e for e in chunks if e["choices"] and e["choices"][0]["delta"].get("content")]
        assert len(token_chunks) == trace.n_tokens
        assert "".join(e["choices"][0]["delta"]["content"] for e in token_chunks) == trace.text
        assert trace.confs is not None and trace.logprobs is not None
        for i, e in enumerate(token_chunks):
            (entry,) = e["choices"][0]["logprobs"]["content"]
            assert entry["logprob"] == pytest.approx(trace.logprobs[i])
            assert len(entry["top_logprobs"]) == 20
            mean = sum(t["logprob"] for t in entry["top_logprobs"]) / 20
            assert -mean == pytest.approx(trace.confs[i], rel=1e-9)
        assert [e["choices"][0]["finish_reason"] for e in chunks if e["choices"]][-1] == "stop"
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["completion_tokens"] == trace.n_tokens
        s = srv.stats()
        assert (s.requests, s.streams_completed, s.tokens_served) == (1, 1, trace.n_tokens)
        assert s.records[0].trace_index == 2 and s.records[0].problem_id == "p1"

    serve(TS, fn)


def test_completions_stream_with_logprobs() -> None:
    trace = TS.traces_of("p0")[1]

    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        evs = await collect_stream(c, "completions", {"prompt": "Q: What is 0 + 0?\nA:", "stream": True,
                                                      "seed": 101, "logprobs": 5})
        chunks = [e for e in evs if isinstance(e, dict)]
        toks = [e for e in chunks if e["choices"][0]["text"]]
        assert "".join(e["choices"][0]["text"] for e in toks) == trace.text
        assert trace.confs is not None
        for i, e in enumerate(toks):
            lp = e["choices"][0]["logprobs"]
            assert lp["tokens"] == [trace.tokens[i]] if trace.tokens else True
            top = lp["top_logprobs"][0]
            assert len(top) == 5
            assert -sum(top.values()) / 5 == pytest.approx(trace.confs[i], rel=1e-9)
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
        assert chunks[-1]["usage"]["completion_tokens"] == trace.n_tokens  # llama.cpp style: in the last chunk

    serve(TS, fn)


def test_non_streaming_and_max_tokens() -> None:
    trace = TS.traces_of("p0")[3]

    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        body = chat_body("What is 0 + 0?", seed=103, max_tokens=7, stream=False)
        r = await c.post("chat/completions", json=body)
        out = r.json()
        assert out["choices"][0]["message"]["content"] == trace.text_at(7)
        assert out["choices"][0]["finish_reason"] == "length"
        assert out["usage"]["completion_tokens"] == 7
        evs = await collect_stream(c, "chat/completions", {**body, "stream": True})
        fin = [e for e in evs if isinstance(e, dict) and e["choices"][0]["finish_reason"]]
        assert fin[0]["choices"][0]["finish_reason"] == "length"
        assert fin[0]["usage"]["completion_tokens"] == 7

    serve(TS, fn)


def test_traces_without_logprobs_are_served_without() -> None:
    ts = make_traceset(1, 2, confs=False, logprobs=False, tokens=False)

    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        evs = await collect_stream(c, "chat/completions", chat_body("What is 0 + 0?", logprobs=True,
                                                                    top_logprobs=20))
        toks = [e for e in evs if isinstance(e, dict) and e["choices"][0]["delta"].get("content")]
        assert toks and all(e["choices"][0]["logprobs"] is None for e in toks)
        assert "".join(e["choices"][0]["delta"]["content"] for e in toks) == ts.traces_of("p0")[0].text

    serve(ts, fn)


def test_problem_matching() -> None:
    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        async def problem_of(body: dict[str, Any], path: str = "chat/completions") -> str:
            async with c.stream("POST", path, json=body) as resp:
                if resp.status_code != 200:
                    return f"HTTP {resp.status_code}: {(await resp.aread()).decode()}"
                return resp.headers["x-deepprune-problem"]

        assert await problem_of(chat_body("What is 1 + 1?")) == "p1"
        assert await problem_of(chat_body("Solve this. What is 1 + 1? Think.")) == "p1"  # contained
        assert await problem_of(chat_body("anything", problem_id="p0")) == "p0"
        assert await problem_of(chat_body("anything", metadata={"problem_id": "p1"})) == "p1"
        assert await problem_of({"prompt": ["What is 0 + 0?"], "stream": True}, "completions") == "p0"
        miss = await problem_of(chat_body("What is 7 + 7?"))
        assert miss.startswith("HTTP 404") and "problem_id" in miss
        assert (await problem_of(chat_body("x", problem_id="nope"))).startswith("HTTP 404")
        assert srv.stats().errors == 2

    serve(TS, fn)


def test_trace_assignment_by_seed_and_round_robin() -> None:
    async def picks(srv: ReplayServer, c: httpx.AsyncClient, bodies: list[dict[str, Any]]) -> list[int]:
        out = []
        for b in bodies:
            async with c.stream("POST", "chat/completions", json=b) as resp:
                out.append(int(resp.headers["x-deepprune-trace"]))
        return out

    q = "What is 0 + 0?"
    seeded = [chat_body(q, seed=s) for s in (7, 1, 102, 5, 7, 103, 9)]
    plain = [chat_body(q) for _ in range(6)]

    async def auto(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        # 102 / 103 are recorded seeds (trace j has seed 100 + j): those traces. Other seeds get the
        # next trace no seed holds yet, and keep it (7 twice -> the same trace); wrap when all are taken
        assert await picks(srv, c, seeded) == [0, 1, 2, 3, 0, 3, 1]
        assert await picks(srv, c, plain) == [0, 1, 2, 3, 0, 1]

    async def rr(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        assert await picks(srv, c, seeded) == [0, 1, 2, 3, 0, 1, 2]

    serve(TS, auto)
    serve(TS, rr, assign=Assign.ROUND_ROBIN)

    unseeded = make_traceset(1, 4)
    unseeded = TraceSet(unseeded.problems, {"p0": tuple(dataclasses.replace(t, seed=None)
                                                       for t in unseeded.traces_of("p0"))}, unseeded.header)

    async def first_come(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        assert await picks(srv, c, [chat_body(q, seed=s) for s in (50, 40, 50, 30, 20, 10, 40)]) == \
            [0, 1, 0, 2, 3, 0, 1]

    serve(unseeded, first_come)


def test_deepprune_trace_seeds_map_to_trace_index() -> None:
    from deepprune.engine.collect import trace_seed

    ts = make_traceset(2, 4)
    ts = TraceSet(ts.problems, {pid: tuple(dataclasses.replace(t, seed=None) for t in tr)
                                for pid, tr in ts.traces.items()}, ts.header)

    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        for k in (3, 0, 2):
            async with c.stream("POST", "chat/completions",
                                json=chat_body("What is 1 + 1?", seed=trace_seed(7, "p1", k))) as resp:
                assert int(resp.headers["x-deepprune-trace"]) == k

    serve(ts, fn, seed_base=7)


def test_continuation_of_a_stopped_trace() -> None:
    trace = TS.traces_of("p0")[2]
    assert trace.tokens is not None
    prefill = "".join(trace.tokens[:12])

    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        body = chat_body("What is 0 + 0?", seed=12345, max_tokens=20)
        body["messages"].append({"role": "assistant", "content": prefill})
        evs = await collect_stream(c, "chat/completions", body)
        text = "".join(e["choices"][0]["delta"].get("content", "") for e in evs if isinstance(e, dict) and e["choices"])
        assert text == "".join(trace.tokens[12:32])
        rec = srv.stats().records[-1]
        assert (rec.trace_index, rec.offset, rec.sent_tokens) == (2, 12, 20)
        # plain completions: the prompt is the question followed by the text so far
        r = await c.post("completions", json={"prompt": "What is 0 + 0?" + prefill, "seed": 999})
        assert r.json()["choices"][0]["text"] == trace.text[len(prefill):]
        # a prefill that is no trace's prefix is an ordinary request
        body["messages"][-1]["content"] = "Something else"
        evs = await collect_stream(c, "chat/completions", body)
        assert srv.stats().records[-1].offset == 0

    serve(TS, fn)


def test_misc_endpoints_and_errors() -> None:
    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        assert (await c.get(srv.base_url.removesuffix("/v1") + "/health")).json() == {"status": "ok"}
        assert (await c.get("health")).json() == {"status": "ok"}  # also under /v1
        models = (await c.get("models")).json()
        assert models["data"][0]["id"] == "test-model"
        assert (await c.get("/nothing")).status_code == 404
        assert (await c.get("chat/completions")).status_code == 405
        r = await c.post("chat/completions", json=chat_body("What is 0 + 0?", n=4))
        assert r.status_code == 400 and "n must be 1" in r.json()["error"]["message"]
        r = await c.post("chat/completions", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400
        await collect_stream(c, "chat/completions", chat_body("What is 0 + 0?"))
        metrics = (await c.get("/metrics")).text
        assert "deepprune_replay_tokens_served_total 40" in metrics
        assert (await c.post("/stats/reset")).status_code == 200
        assert (await c.get("stats")).json()["tokens_served"] == 0

    serve(TS, fn)


def test_in_thread_with_sync_client() -> None:
    with ReplayServer(TS, ServerConfig(rate=0)).in_thread() as srv, httpx.Client(base_url=srv.base_url + "/") as c:
        r = c.post("chat/completions", json=chat_body("What is 1 + 1?", stream=False, seed=100))
        assert r.json()["choices"][0]["message"]["content"] == TS.traces_of("p1")[0].text
        # keep-alive: a second request on the same connection
        r = c.post("chat/completions", json=chat_body("What is 1 + 1?", stream=False, seed=101))
        assert r.json()["choices"][0]["message"]["content"] == TS.traces_of("p1")[1].text
    assert srv.stats().streams_completed == 2


# ----------------------------------------------------------------------------- pacing and cancellation
def test_streams_are_paced_per_stream() -> None:
    ts = make_traceset(1, 4, n_tokens=60)  # 60, 65, 70, 75 tokens

    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(collect_stream(c, "chat/completions", chat_body("What is 0 + 0?", seed=100 + j))
                               for j in range(4)))
        return time.perf_counter() - t0

    wall = serve(ts, fn, rate=100.0)
    # the longest stream (75 tokens at 100/s) cannot take less than 0.74 s; the four run side by side
    # (one after the other they would take 2.7 s)
    assert wall >= 0.74
    assert wall < 2.0


def test_closing_the_stream_stops_generation() -> None:
    ts = make_traceset(1, 1, n_tokens=400)

    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        async with c.stream("POST", "chat/completions", json=chat_body("What is 0 + 0?")) as resp:
            n = 0
            async for e in events(resp):
                if isinstance(e, dict) and e["choices"][0]["delta"].get("content"):
                    n += 1
                if n == 10:
                    break
        for _ in range(100):  # the server notices at once; give its loop a moment
            if srv.stats().streams_cancelled:
                break
            await asyncio.sleep(0.01)
        s = srv.stats()
        assert s.streams_cancelled == 1 and s.streams_completed == 0 and s.active_streams == 0
        assert 10 <= s.tokens_served <= 60  # the client closes right after its 10th token (200 tok/s)
        assert s.tokens_cancelled == 400 - s.tokens_served
        assert s.records[0].outcome == "cancelled"

    serve(ts, fn, rate=200.0)


# ----------------------------------------------------------------------------- faults
def test_fault_status_then_recovery() -> None:
    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        r = await c.post("chat/completions", json=chat_body("What is 0 + 0?"))
        assert r.status_code == 503 and r.headers["retry-after"] == "0"
        assert "injected" in r.json()["error"]["message"]
        r = await c.post("chat/completions", json=chat_body("What is 0 + 0?"))
        assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
        evs = await collect_stream(c, "chat/completions", chat_body("What is 0 + 0?"))
        assert evs[-1] == "[DONE]"
        s = srv.stats()
        assert (s.streams_faulted, s.errors, s.streams_completed) == (2, 2, 1)

    serve(TS, fn, faults=(Fault.parse("status:503@1"), Fault.parse("status:429@1")))


def test_fault_refuse_and_drop() -> None:
    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.post("chat/completions", json=chat_body("What is 0 + 0?"))
        got = 0
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            async with c.stream("POST", "chat/completions", json=chat_body("What is 0 + 0?")) as resp:
                async for e in events(resp):
                    if isinstance(e, dict) and e["choices"][0]["delta"].get("content"):
                        got += 1
        assert got == 5
        assert [r.outcome for r in srv.stats().records] == ["fault:refuse", "fault:drop"]

    serve(TS, fn, faults=(Fault.parse("refuse@1"), Fault.parse("drop:5@1")))


def test_fault_stall_malformed_and_nologprobs_per_request() -> None:
    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        body = chat_body("What is 0 + 0?", logprobs=True, top_logprobs=3)
        # stall: a gap of >= 0.3 s after the 3rd token
        times = []
        async with c.stream("POST", "chat/completions", json=body, headers={"X-Deepprune-Fault": "stall:3:0.3"}) as r:
            async for e in events(r):
                if isinstance(e, dict) and e["choices"] and e["choices"][0]["delta"].get("content"):
                    times.append(time.perf_counter())
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert max(gaps) >= 0.28 and gaps.index(max(gaps)) == 2
        # malformed: one data line that is not JSON after 2 tokens
        async with c.stream("POST", "chat/completions", json=body, headers={"X-Deepprune-Fault": "malformed:2"}) as r:
            lines = [ln async for ln in r.aiter_lines() if ln.startswith("data: ")]
        bad = []
        for ln in lines:
            try:
                json.loads(ln[6:]) if ln != "data: [DONE]" else None
            except json.JSONDecodeError:
                bad.append(ln)
        assert len(bad) == 1 and lines.index(bad[0]) == 3  # role chunk, 2 tokens, then the bad one
        # nologprobs (server-wide, for one request of problem p0)
        srv.add_fault(Fault(FaultKind.NO_LOGPROBS, times=1, problem_id="p0"))
        evs = await collect_stream(c, "chat/completions", body)
        toks = [e for e in evs if isinstance(e, dict) and e["choices"] and e["choices"][0]["delta"].get("content")]
        assert all(e["choices"][0]["logprobs"] is None for e in toks)
        r2 = await c.post("chat/completions", json=body, headers={"X-Deepprune-Fault": "bogus"})
        assert r2.status_code == 400
        outcomes = [r.outcome for r in srv.stats().records]
        assert outcomes[:3] == ["fault:stall", "fault:malformed", "fault:nologprobs"]

    serve(TS, fn)


def test_fault_stall_client_timeout_cancels() -> None:
    ts = make_traceset(1, 1, n_tokens=100)

    async def fn(srv: ReplayServer, c: httpx.AsyncClient) -> None:
        with pytest.raises(httpx.ReadTimeout):
            async with c.stream("POST", "chat/completions", json=chat_body("What is 0 + 0?"),
                                timeout=httpx.Timeout(5, read=0.3)) as r:
                async for _ in r.aiter_lines():
                    pass
        for _ in range(100):
            if srv.stats().active_streams == 0:
                break
            await asyncio.sleep(0.02)
        s = srv.stats()
        assert s.active_streams == 0 and s.tokens_served == 4 and s.records[0].outcome == "fault:stall"

    serve(ts, fn, faults=(Fault.parse("stall:4:30"),))


# ----------------------------------------------------------------------------- the CLI
def test_cli_replay_server_serves_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_traces(TS, path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "deepprune", "replay-server", str(path), "--port", "0",
                             "--rate", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line + (proc.stderr.read() if proc.stderr else "")
        base = line.split()[-1]
        r = httpx.post(base + "/chat/completions", json=chat_body("What is 1 + 1?", stream=False, seed=101))
        assert r.json()["choices"][0]["message"]["content"] == TS.traces_of("p1")[1].text
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "1 streams completed" in err
