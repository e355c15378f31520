"""Integration with the real local llama.cpp server (slow; builds the server once if it can).

Skipped, with the reason, when the server cannot be found or built (no cmake/compiler, no PyPI).
Set ``DEEPPRUNE_NO_BUILD=1`` to only use an existing build (``deepprune local-server --prepare``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from deepprune.core.errors import LocalServerError
from deepprune.core.types import AnswerKind, Problem
from deepprune.engine.runner import run_problem
from deepprune.formats.tracefile import read_traces
from deepprune.servers.local import MODEL_NAME, LocalServer, LocalServerConfig
from deepprune.sources.live import LiveSource
from deepprune.sources.openai_client import EndpointConfig
from deepprune.strategies.base import (
    Action,
    Decision,
    Event,
    Launch,
    RunContext,
    Stop,
    Strategy,
    TraceFinished,
)
from deepprune.strategies.cons import ConsensusStrategy

pytestmark = [pytest.mark.slow, pytest.mark.server]

QUESTION = Problem("add", "What is 17 + 25? Answer briefly.", "42", AnswerKind.INTEGER)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    cfg = LocalServerConfig(parallel=4, build=os.environ.get("DEEPPRUNE_NO_BUILD") != "1")
    srv = LocalServer(cfg)
    try:
        srv.start()
    except LocalServerError as exc:
        pytest.skip(f"the local llama.cpp server is not available: {exc}")
    try:
        yield srv
    finally:
        srv.stop()


def _endpoint(srv: LocalServer, **kw: object) -> EndpointConfig:
    base: dict[str, object] = {"base_url": srv.base_url, "model": MODEL_NAME, "max_tokens": 64,
                               "top_logprobs": 20, "max_concurrency": 4, "stall_timeout_s": 120.0}
    base.update(kw)
    return EndpointConfig(**base)  # type: ignore[arg-type]


def _predicted(srv: LocalServer) -> float:
    return srv.metrics()["llamacpp:tokens_predicted_total"]


def test_cons_through_live_source_matches_the_servers_token_count(server: LocalServer) -> None:
    before = _predicted(server)
    res = asyncio.run(run_problem(ConsensusStrategy, LiveSource(_endpoint(server)), QUESTION, budget=4, seed=1))
    assert res.traces_launched == 4 and res.traces_finished == 4 and res.traces_stopped == 0
    assert res.tokens > 0
    assert _predicted(server) - before == res.tokens  # we count exactly what the server generated


class _StopEarly(Strategy):
    """Launch 2 long traces; stop trace 0 at its first progress event; let trace 1 run to its end."""

    name = "stop-early"

    def __init__(self) -> None:
        self.stopped_at = -1
        self.finished: list[int] = []

    def start(self, ctx: RunContext) -> Sequence[Action]:
        return [Launch(2)]

    def watch(self, trace_id: int) -> int | None:
        return 4 if trace_id == 0 and self.stopped_at < 0 else None

    def on_event(self, event: Event) -> Sequence[Action]:
        if event.trace_id == 0 and self.stopped_at < 0 and not isinstance(event, TraceFinished):
            self.stopped_at = event.n_tokens
            return [Stop(0)]
        if isinstance(event, TraceFinished):
            self.finished.append(event.trace_id)
        return ()

    def result(self) -> Decision:
        return Decision(None)


def test_stopping_a_trace_closes_its_stream_and_the_server_stops_generating_it(server: LocalServer) -> None:
    log_before = server.log_path.read_text(errors="replace") if server.log_path else ""
    before = _predicted(server)
    strat = _StopEarly()
    prob = Problem("count", "Count from 1 to 200, one number per line.", None)
    res = asyncio.run(run_problem(lambda: strat, LiveSource(_endpoint(server, max_tokens=160)), prob, budget=2))
    assert strat.stopped_at >= 4 and strat.finished == [1]
    assert res.traces_stopped == 1
    # server-side evidence 1: its generated-token counter grew by what we were charged, not by the
    # 160 tokens trace 0 would have produced (a few tokens may be in flight when the stream closes)
    delta = _predicted(server) - before
    assert res.tokens <= delta <= res.tokens + 8
    assert delta < 160 + 60
    # evidence 2: its log shows the cancelled task, and no slot is busy afterwards
    time.sleep(0.5)
    new_log = (server.log_path.read_text(errors="replace") if server.log_path else "")[len(log_before):]
    assert "cancel task" in new_log
    assert not any(s.get("is_processing") for s in server.slots())


def _collect_cmd(out: Path, problems: Path) -> list[str]:
    return [sys.executable, "-m", "deepprune", "collect", "--base-url", "", "--model", MODEL_NAME,
            "--problems", str(problems), "--limit", "2", "--n", "3", "--max-tokens", "40",
            "--concurrency", "2", "--no-progress", "--out", str(out)]


def test_collect_resumes_after_kill_9_without_loss_or_duplicate(server: LocalServer, tmp_path: Path) -> None:
    problems = tmp_path / "gsm8k_test.jsonl"
    problems.write_text("".join(json.dumps({"question": q, "answer": f"... #### {a}"}) + "\n" for q, a in
                                [("What is 3 + 4?", 7), ("What is 10 - 6?", 4)]))
    out = tmp_path / "traces.jsonl"
    cmd = _collect_cmd(out, problems)
    cmd[cmd.index("--base-url") + 1] = server.base_url
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    n_before = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists():
            n_before = sum('"type": "trace"' in line for line in out.read_text().splitlines())
            if n_before >= 1:
                break
        time.sleep(0.2)
    assert proc.poll() is None, "collect finished before it could be killed; make the run longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_lines = out.read_text().splitlines()
    kept = [line for line in killed_lines if '"type": "trace"' in line and line.endswith("}")]
    assert 1 <= len(kept) < 6
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"{6 - len(kept)} " in done.stderr or "already there" in done.stderr
    ts = read_traces(out)
    keys = [(t.problem_id, t.index) for p in ts.problems for t in ts.traces_of(p.id)]
    assert sorted(keys) == sorted((p.id, i) for p in ts.problems for i in range(3))  # no loss, no duplicate
    text = out.read_text()
    assert all(line in text for line in kept)  # finished traces from before the kill are kept as they were
    assert all(t.confs is not None and len(t.confs) == t.n_tokens for p in ts.problems for t in ts.traces_of(p.id))


def test_deepprune_run_cons_counts_what_the_server_generated(server: LocalServer) -> None:
    before = _predicted(server)
    cmd = [sys.executable, "-m", "deepprune", "run", "--base-url", server.base_url, "--model", MODEL_NAME,
           "--strategy", "cons", "--question", "What is 17 + 25?", "--gold", "42", "--kind", "integer",
           "--n", "3", "--max-tokens", "48", "--json", "-"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["problems"] == 1 and out["traces_stopped"] == 0 and out["traces_failed"] == 0
    assert out["tokens"] > 0 and _predicted(server) - before == out["tokens"]


def test_deepprune_default_with_recovery_live_accounts_every_token(server: LocalServer, tmp_path: Path) -> None:
    """The default deepprune (prune at the prefix, resume pruned traces while the vote is contested)
    against the real server: resumed traces are continuation requests, and the tokens the run
    reports (strategy + cons@K baseline) are what the server generated, up to the few tokens in
    flight when a pruned stream closes — nothing charged twice, nothing lost."""
    problems = tmp_path / "p.jsonl"
    problems.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in (
        ("What is 17 + 25? Think step by step, then give the answer in \\boxed{}.", "42"),
        ("Tom has 3 boxes of 12 eggs and breaks 5. How many eggs are left? Answer in \\boxed{}.", "31"))))
    before = _predicted(server)
    cmd = [sys.executable, "-m", "deepprune", "run", "--base-url", server.base_url, "--model", MODEL_NAME,
           "--strategy", "deepprune:prefix=tokens:16", "--compare", "cons", "--problems", str(problems),
           "--n", "6", "--max-tokens", "160", "--json", "-"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["problems"] == 2 and out["traces_failed"] == 0
    delta = _predicted(server) - before
    charged = out["tokens"] + out["baseline_tokens"]
    # as in the stop test above: a closed stream may have a few tokens in flight on the server
    # (at most 2 problems x 6 pruned streams); resumed traces are not charged twice
    assert charged <= delta <= charged + 8 * 12
    assert out["tokens"] < out["baseline_tokens"]


def _flushed_predicted(srv: LocalServer) -> float:
    """The server's generated-token counter with every slot's count flushed: llama.cpp adds a
    slot's generated tokens to ``tokens_predicted_total`` only when the slot is reset for its next
    task, so one 1-token request per slot, all at once, flushes what the slots generated before
    (their own token is flushed by the next call: +1 per slot)."""
    import httpx

    async def one(client: httpx.AsyncClient, i: int) -> None:
        await client.post(f"{srv.base_url}/completions", json={"model": MODEL_NAME, "prompt": f"flush {i}:",
                                                               "max_tokens": 1, "temperature": 0.0})

    async def all_slots() -> None:
        async with httpx.AsyncClient(timeout=120) as client:
            await asyncio.gather(*(one(client, i) for i in range(srv.config.parallel)))

    asyncio.run(all_slots())
    return _predicted(srv)


def test_probes_against_the_real_server_are_answered_and_charged(server: LocalServer, tmp_path: Path) -> None:
    """Answer probes live: ``deepprune:probe=on`` probes each trace at its prefix through the real
    server (a continuation of the partial text with the "final answer" cue, greedy) and the
    tokens it reports are what the server generated (traces and probes), up to the few tokens in
    flight when a stream closes; then ``deepprune probe`` records probes into a trace file."""
    problems = tmp_path / "p.jsonl"
    problems.write_text(json.dumps({"question": "What is 17 + 25? Think step by step, then give the answer "
                                                "in \\boxed{}.", "answer": "42"}) + "\n")
    before = _flushed_predicted(server)
    cmd = [sys.executable, "-m", "deepprune", "run", "--base-url", server.base_url, "--model", MODEL_NAME,
           "--strategy", "deepprune:prefix=tokens:16,probe=on", "--problems", str(problems),
           "--n", "4", "--max-tokens", "128", "--json", "-"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["problems"] == 1 and out["traces_failed"] == 0
    delta = _flushed_predicted(server) - before - server.config.parallel  # the flush's own tokens
    # a closed stream (a stopped trace, a probe once its box closed) may have a few tokens in flight
    assert out["tokens"] <= delta <= out["tokens"] + 8 * 12
    assert out["tokens"] < 4 * 128
    # record probes into a trace file: two traces collected here, probed at 16 tokens
    traces = tmp_path / "t.jsonl"
    col = [sys.executable, "-m", "deepprune", "collect", "--base-url", server.base_url, "--model", MODEL_NAME,
           "--problems", str(problems), "--n", "2", "--max-tokens", "64", "--out", str(traces), "--no-progress"]
    assert subprocess.run(col, capture_output=True, text=True, timeout=900).returncode == 0
    probed = tmp_path / "probed.jsonl"
    pr = [sys.executable, "-m", "deepprune", "probe", str(traces), "--at", "tokens:16", "--out", str(probed),
          "--base-url", server.base_url, "--model", MODEL_NAME, "--no-progress"]
    done = subprocess.run(pr, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    ts = read_traces(probed)
    got = [t for p in ts.problems for t in ts.traces_of(p.id)]
    assert len(got) == 2 and ts.header["probe"]["model"] == MODEL_NAME
    for t in got:
        if t.n_tokens > 16:
            (p,) = t.probes
            assert p.at == 16 and 1 <= p.n_tokens <= 24 and (p.logprob is None or p.logprob <= 0)
