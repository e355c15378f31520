"""Many endpoints: the routing rule, spreading over two replay servers, and one of them dying mid-run."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from deepprune.cli import main
from deepprune.core.errors import ClientError, ConfigError, RequestTimeout, ServerError, StreamError
from deepprune.engine.liverun import LiveRow, ResultsFile, RunSettings, run_live
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.formats.tracefile import write_traces
from deepprune.servers.replay import Fault, ReplayServer, ServerConfig
from deepprune.servers.replay.stats import RequestRecord
from deepprune.sources.live import LiveSource
from deepprune.sources.openai_client import EndpointConfig
from deepprune.sources.pool import EndpointPool, PoolConfig, is_endpoint_failure

TS = synthetic_traceset(4, 8, seed=11, mean_tokens=30, with_confs=True)


def _cfg(url: str, **kw: object) -> EndpointConfig:
    base: dict[str, object] = {"max_tokens": 4096, "max_concurrency": 2, "retries": 1, "backoff_s": 0.01,
                               "stall_timeout_s": 5.0, "top_logprobs": 0}
    return EndpointConfig(url, "m", **{**base, **kw})  # type: ignore[arg-type]


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


# ---------------------------------------------------------------------------------- the rule
def test_routing_rule_fewest_open_ties_by_order_limits_and_health() -> None:
    clock = _Clock()
    pool = EndpointPool([_cfg("http://a/v1"), _cfg("http://b/v1"), _cfg("http://c/v1", max_concurrency=1)],
                        PoolConfig(cooldown_s=10), clock=clock)
    a, b, c = pool.endpoints
    assert pool.capacity == 5
    assert pool.choose() == 0                      # all idle: the first listed
    a.open = 1
    assert pool.choose() == 1                      # fewest open
    b.open = 1
    assert pool.choose() == 2
    c.open = 1                                     # c is full (limit 1)
    assert pool.choose() == 0                      # a and b tie at 1: order
    assert pool.choose(exclude={0}) == 1
    a.open = b.open = 2
    assert pool.choose() is None                   # everything full: wait
    a.open = b.open = c.open = 0
    pool.mark_down(0, "refused")
    assert not pool.healthy(0) and pool.choose() == 1   # down: left out while others are healthy
    b.open, c.open = 2, 1
    assert pool.choose() is None                   # healthy ones full: wait for them, not the down one
    pool.mark_down(1, "refused")
    pool.mark_down(2, "refused")
    assert pool.choose() == 0                      # nothing healthy: try the down ones anyway
    clock.t += 10
    assert pool.healthy(0) and pool.healthy(1)     # cooldown over
    pool.mark_down(0, "again")
    pool.mark_up(0)                                # a token arrived: healthy at once
    assert pool.healthy(0) and pool.endpoints[0].failures == 2


def test_acquire_waits_first_come_first_served_and_release_hands_on() -> None:
    async def main() -> None:
        pool = EndpointPool([_cfg("http://a/v1", max_concurrency=1), _cfg("http://b/v1", max_concurrency=1)])
        assert await pool.acquire() == 0 and await pool.acquire() == 1
        order: list[tuple[str, int]] = []

        async def take(name: str) -> None:
            i = await pool.acquire()
            order.append((name, i))

        waiters = [asyncio.create_task(take(n)) for n in "xyz"]
        await asyncio.sleep(0)
        assert order == []
        pool.release(1)
        await asyncio.sleep(0)
        assert order == [("x", 1)]
        pool.release(0)
        await asyncio.sleep(0)
        assert order == [("x", 1), ("y", 0)]
        waiters[2].cancel()                       # a cancelled waiter takes nothing
        await asyncio.gather(waiters[2], return_exceptions=True)
        pool.release(0)
        await asyncio.gather(*waiters[:2])
        assert [e.open for e in pool.endpoints] == [0, 1] and [e.routed for e in pool.endpoints] == [2, 2]
        with pytest.raises(ConfigError):
            await pool.acquire(exclude={0, 1})
    asyncio.run(main())


def test_which_failures_blame_the_endpoint() -> None:
    assert is_endpoint_failure(ClientError("cannot connect"))
    assert is_endpoint_failure(RequestTimeout("no first token"))
    assert is_endpoint_failure(ServerError(503, "busy")) and is_endpoint_failure(ServerError(429, "slow down"))
    assert not is_endpoint_failure(ServerError(400, "bad request"))
    assert not is_endpoint_failure(StreamError("no logprobs"))
    with pytest.raises(ConfigError):
        EndpointPool([_cfg("http://a/v1"), EndpointConfig("http://b/v1", "other")])
    with pytest.raises(ConfigError):
        EndpointPool([])


# ---------------------------------------------------------------------------------- two servers
def _served(*servers: ReplayServer) -> list[tuple[str | None, int | None, int, int]]:
    """Every token a server streamed, per trace segment: (problem, trace, offset, tokens sent).

    A client may read a stream's last byte before the server's handler has returned and recorded
    it: wait (at most 5 s) until no stream is active, which means every record is in."""
    deadline = time.monotonic() + 5.0
    while any(s.stats().active_streams for s in servers) and time.monotonic() < deadline:
        time.sleep(0.01)
    recs: list[RequestRecord] = [r for s in servers for r in s.stats().records]
    return sorted((r.problem_id, r.trace_index, r.offset, r.sent_tokens) for r in recs if r.sent_tokens)


def _run(urls: list[str], out: Path) -> list[LiveRow]:
    settings = RunSettings("cons", budget=8, seed=0, model="m")

    async def go() -> list[LiveRow]:
        async with LiveSource([_cfg(u) for u in urls]) as src:
            with ResultsFile(out, settings) as results:
                rows = await run_live(list(TS.problems), src, settings, results=results)
            pool = src.pool
            assert pool is not None and all(e.open == 0 for e in pool.endpoints)
        return rows
    return asyncio.run(go())


def _key(rows: list[LiveRow]) -> list[tuple[str, str | None, int, int, int]]:
    return [(r.problem_id, r.result.answer, r.result.tokens, r.result.traces_finished, r.result.traces_failed)
            for r in rows]


def _problems_in(out: Path) -> list[str]:
    lines = out.read_text().splitlines()
    return [json.loads(x)["problem_id"] for x in lines[1:]]


def test_two_servers_spread_and_one_dying_mid_run_loses_nothing(tmp_path: Path) -> None:
    # the reference: one server
    with ReplayServer(TS, ServerConfig(rate=0)).in_thread() as one:
        single = _run([one.base_url], tmp_path / "single.jsonl")
        single_served = _served(one)
    assert all(r.result.traces_failed == 0 for r in single)

    # (a) two servers: traces spread over both, same answers and tokens
    with ReplayServer(TS, ServerConfig(rate=0)).in_thread() as a, \
            ReplayServer(TS, ServerConfig(rate=0)).in_thread() as b:
        rows = _run([a.base_url, b.base_url], tmp_path / "two.jsonl")
        assert a.stats().requests > 0 and b.stats().requests > 0
        assert _key(rows) == _key(single)
        assert _served(a, b) == single_served           # every trace served once, in full
    assert sorted(_problems_in(tmp_path / "two.jsonl")) == sorted(p.id for p in TS.problems)

    # (b) the second server is killed after the first problem: the rest runs on the first
    async def killed_run() -> tuple[list[LiveRow], list[tuple[str | None, int | None, int, int]], int, int]:
        async with ReplayServer(TS, ServerConfig(rate=0)) as a, ReplayServer(TS, ServerConfig(rate=0)) as b:
            settings = RunSettings("cons", budget=8, seed=0, model="m")
            killed: list[asyncio.Task[None]] = []

            def on_row(row: LiveRow) -> None:
                if not killed:
                    killed.append(asyncio.get_running_loop().create_task(b.aclose()))

            async with LiveSource([_cfg(a.base_url), _cfg(b.base_url)]) as src:
                with ResultsFile(tmp_path / "killed.jsonl", settings) as results:
                    rows = await run_live(list(TS.problems), src, settings, results=results, on_row=on_row)
                pool = src.pool
                assert pool is not None
                failures = pool.endpoints[1].failures
            await asyncio.gather(*killed)
            for _ in range(500):  # the servers run on this loop: let their handlers record (see _served)
                if not any(s.stats().active_streams for s in (a, b)):
                    break
                await asyncio.sleep(0.01)
            return rows, _served(a, b), failures, b.stats().requests
    rows, served, failures, b_requests = asyncio.run(killed_run())
    assert failures >= 1 and b_requests > 0            # B served problem 1, then refused and was marked down
    assert _key(rows) == _key(single)                  # same answers and per-problem tokens, no failed trace
    assert served == single_served                     # per trace: the same tokens, none streamed twice
    assert _problems_in(tmp_path / "killed.jsonl") == [p.id for p in TS.problems]  # each exactly once


def test_run_cli_repeated_base_url_with_a_refusing_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traces = tmp_path / "traces.jsonl"
    write_traces(TS, traces)
    out = tmp_path / "r.jsonl"
    with ReplayServer(TS, ServerConfig(rate=0)).in_thread() as a, \
            ReplayServer(TS, ServerConfig(rate=0)).in_thread() as b:
        for p in TS.problems[1:]:  # b works for the first problem, then refuses every connection
            b.add_fault(Fault(kind="refuse", problem_id=p.id))  # type: ignore[arg-type]
        args = ["run", "--base-url", a.base_url, "--base-url", b.base_url, "--model", "m", "--problems",
                str(traces), "--n", "8", "--concurrency", "2", "--retries", "1", "--max-tokens", "4096",
                "--top-logprobs", "0", "--out", str(out), "--json", "-"]
        assert main(args) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["settings"]["base_urls"] == [a.base_url, b.base_url]
        assert report["problems"] == 4 and report["problems_failed"] == 0
        assert report["tokens"] == sum(t.n_tokens for p in TS.problems for t in TS.traces_of(p.id))
        assert report["tokens"] == a.stats().tokens_served + b.stats().tokens_served
        assert a.stats().requests > 0 and b.stats().streams_completed > 0
    assert sorted(_problems_in(out)) == sorted(p.id for p in TS.problems)


def test_collect_repeated_base_url(tmp_path: Path) -> None:
    traces = tmp_path / "bench.jsonl"
    traces.write_text("".join(json.dumps({"id": p.id, "question": p.question, "answer": p.gold}) + "\n"
                              for p in TS.problems))
    out = tmp_path / "c.jsonl"
    with ReplayServer(TS, ServerConfig(rate=0)).in_thread() as a, \
            ReplayServer(TS, ServerConfig(rate=0)).in_thread() as b:
        b.add_fault("refuse")  # b refuses every connection: its samples go to a
        code = main(["collect", "--base-url", a.base_url, "--base-url", b.base_url, "--model", "m",
                     "--problems", str(traces), "--n", "4", "--concurrency", "2", "--retries", "0",
                     "--max-tokens", "4096", "--top-logprobs", "0", "--out", str(out), "--no-progress"])
        assert code == 0
        assert b.stats().requests > 0 and b.stats().streams_completed == 0
        assert a.stats().streams_completed == 16
    rows = [json.loads(x) for x in out.read_text().splitlines()[1:]]
    keys = [(r["problem_id"], r["index"]) for r in rows if "index" in r]
    assert len(keys) == len(set(keys)) == 16  # every (problem, index) exactly once
