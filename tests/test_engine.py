"""The engine: run_each (TaskGroup: a failing problem cancels and closes its siblings), replay, aggregate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from deepprune.core import Event, StrategySpec, TraceFinished
from deepprune.core.errors import ClientError
from deepprune.core.types import Problem, TraceSet
from deepprune.engine import aggregate, replay, replay_orderings, run_each
from deepprune.engine.bench import bench
from deepprune.engine.runner import run
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.strategies.cons import ConsensusStrategy
from deepprune.strategies.registry import build


@pytest.fixture(scope="module")
def synth() -> TraceSet:
    return synthetic_traceset(n_problems=5, k=8, seed=5, mean_tokens=80)


def test_run_each_keeps_order_and_bounds_concurrency() -> None:
    running = 0
    peak = 0

    async def one(x: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (5 - x))
        running -= 1
        return x * x

    assert asyncio.run(run_each(range(5), one, concurrency=2)) == [0, 1, 4, 9, 16]  # type: ignore[arg-type]
    assert peak == 2
    assert asyncio.run(run_each([3], one, concurrency=4)) == [9]


def test_run_each_cancels_siblings_and_raises_the_error_itself() -> None:
    cancelled: list[int] = []

    async def one(x: int) -> int:
        if x == 1:
            await asyncio.sleep(0.01)
            raise ClientError("problem 1 broke")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    with pytest.raises(ClientError, match="problem 1 broke"):
        asyncio.run(run_each([0, 1, 2, 3], one, concurrency=4))
    assert sorted(cancelled) == [0, 2, 3]  # the running ones were cancelled, none ran on


class _Session:
    """A session whose traces never finish unless the problem is the failing one."""

    def __init__(self, problem: Problem, log: dict[str, str]) -> None:
        self.problem = problem
        self.log = log
        self.capacity: int | None = 2
        self.has_confidence = False

    def set_watch(self, watch: object) -> None:
        pass

    async def launch(self, trace_id: int) -> None:
        pass

    async def stop(self, trace_id: int) -> None:
        pass

    async def resume(self, trace_id: int) -> None:
        pass

    async def next_event(self) -> Event | None:
        if self.problem.id == "bad":
            await asyncio.sleep(0.01)
            raise ClientError("the server went away")
        await asyncio.sleep(30)  # a stream that would take long
        return TraceFinished(0, 1, "x", "1")

    def generated(self, trace_id: int) -> int:
        return 0

    def running(self) -> list[int]:
        return []


class _Source:
    def __init__(self) -> None:
        self.log: dict[str, str] = {}

    @asynccontextmanager
    async def session(self, problem: Problem, *, seed: int = 0) -> AsyncIterator[_Session]:
        self.log[problem.id] = "open"
        try:
            yield _Session(problem, self.log)
        finally:
            self.log[problem.id] = "closed"


def test_a_failing_problem_cancels_and_closes_the_sessions_of_the_others() -> None:
    src = _Source()
    problems = [Problem("slow-1", "q"), Problem("bad", "q"), Problem("slow-2", "q"), Problem("later", "q")]

    async def main() -> None:
        await asyncio.wait_for(run(ConsensusStrategy, src, problems, budget=2, concurrency=3), timeout=5)

    with pytest.raises(ClientError, match="went away"):
        asyncio.run(main())
    assert src.log == {"slow-1": "closed", "bad": "closed", "slow-2": "closed"}  # "later" never started


def test_replay_is_the_runner_over_a_replay_source(synth: TraceSet) -> None:
    factory = build("cons")
    a = asyncio.run(replay(synth, factory, ordering_seed=3, seed=3))
    b = asyncio.run(replay(synth, factory_for=lambda p: factory, ordering_seed=3, seed=3))
    assert [(x.answer, x.tokens) for x in a] == [(x.answer, x.tokens) for x in b]
    assert len(a) == len(synth.problems)
    with pytest.raises(TypeError):
        asyncio.run(replay(synth))


def test_aggregate_makes_the_bench_row(synth: TraceSet) -> None:
    spec = StrategySpec.parse("oracle:prefix=tokens:8")
    runs = asyncio.run(replay_orderings(synth, build(spec), orderings=3, seed=0))
    cons = asyncio.run(replay_orderings(synth, build("cons"), orderings=3, seed=0))
    plain = aggregate(cons, traceset=synth, strategy="cons")
    cons_tokens, cons_steps = plain.tokens, plain.steps_per_problem
    assert plain.latency is None and cons_steps is not None and cons_steps > 0
    cons_row = aggregate(cons, traceset=synth, strategy="cons", cons_tokens=cons_tokens, cons_steps=cons_steps)
    row = aggregate(runs, traceset=synth, strategy=spec.label, params=dict(spec.params), cons_tokens=cons_tokens,
                    cons_steps=cons_steps)
    assert cons_row.reduction == 0.0 and row.reduction is not None and row.reduction > 0
    assert cons_row.latency == 1.0 and row.latency is not None and 0 < row.latency <= 1.0
    # cons@K waits for its longest trace: its steps are the longest recorded trace of each problem
    longest = [max(t.n_tokens for t in synth.traces_of(p.id)) for p in synth.problems]
    assert cons_steps == pytest.approx(sum(longest) / len(longest))
    assert bench([synth], ["cons", spec], orderings=3) == [cons_row, row]


def test_bench_uses_one_event_loop(synth: TraceSet, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = asyncio.run

    def counting(main: object, **kw: object) -> object:
        calls.append(main)
        return real(main, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio, "run", counting)
    bench([synth], ["cons", "esc"], orderings=3)
    assert len(calls) == 1

