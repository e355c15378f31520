"""ReplaySource + Runner: token accounting (stop at t charges t), lock-step arrival, resume, halt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pytest

from deepprune.core.errors import StrategyError
from deepprune.core.types import AnswerKind, Problem, Trace, TraceSet
from deepprune.engine.runner import run_problem, run_sync
from deepprune.sources.replay import ReplaySource, ordering
from deepprune.strategies.base import (
    Action,
    Decision,
    Event,
    Halt,
    Launch,
    Resume,
    RunContext,
    Stop,
    Strategy,
    TraceFinished,
    TraceProgress,
)
from deepprune.strategies.cons import ConsensusStrategy


def _ts(lengths: Sequence[int], answers: Sequence[str | None] | None = None) -> TraceSet:
    answers = answers or ["1"] * len(lengths)
    p = Problem("p", "q", "1", AnswerKind.INTEGER)
    traces = tuple(Trace("p", i, "x" * n, n, a) for i, (n, a) in enumerate(zip(lengths, answers, strict=True)))
    return TraceSet((p,), {"p": traces}, {}, "t")


class StopAt(Strategy):
    """Launch all, stop trace 0 after ``t`` tokens, optionally resume it when idle."""

    name = "stop-at"

    def __init__(self, t: int, resume: bool = False) -> None:
        self.t, self.resume, self.resumed = t, resume, False
        self.events: list[Event] = []
        self.stopped = False

    def start(self, ctx: RunContext) -> Sequence[Action]:
        return [Launch(ctx.budget)]

    def watch(self, trace_id: int) -> int | None:
        return self.t if trace_id == 0 and not self.stopped else None

    def on_event(self, event: Event) -> Sequence[Action]:
        self.events.append(event)
        if isinstance(event, TraceProgress) and event.trace_id == 0 and not self.stopped:
            assert event.n_tokens == self.t
            self.stopped = True
            return [Stop(0)]
        return ()

    def on_idle(self) -> Sequence[Action]:
        if self.resume and not self.resumed:
            self.resumed = True
            return [Resume(0)]
        return ()

    def result(self) -> Decision:
        return Decision(None)


def _run(strategy: Strategy, ts: TraceSet, budget: int = 100, seed: int | None = None):
    import asyncio

    src = ReplaySource(ts, ordering_seed=seed)
    return asyncio.run(run_problem(lambda: strategy, src, ts.problems[0], budget=budget))


@pytest.mark.parametrize("t", [1, 7, 50, 99])
def test_stop_at_t_charges_exactly_t(t: int) -> None:
    ts = _ts([100, 30, 60])
    res = _run(StopAt(t), ts)
    assert res.tokens == t + 30 + 60
    assert res.traces_stopped == 1 and res.traces_finished == 2


def test_resume_continues_from_stop_point() -> None:
    s = StopAt(40, resume=True)
    res = _run(s, _ts([100, 30]))
    assert res.tokens == 130  # the 40 tokens before the stop are not charged twice
    assert res.traces_finished == 2 and res.traces_stopped == 0
    finished = [e for e in s.events if isinstance(e, TraceFinished)]
    assert [e.trace_id for e in finished] == [1, 0]


def test_lock_step_arrival_order_and_ties() -> None:
    class Record(ConsensusStrategy):
        order: ClassVar[list[int]] = []

        def on_event(self, event: Event) -> Sequence[Action]:
            if isinstance(event, TraceFinished):
                Record.order.append(event.trace_id)
            return super().on_event(event)

    Record.order = []
    _run(Record(), _ts([50, 10, 30, 10]))
    assert Record.order == [1, 3, 2, 0]  # by length, ties by launch order


def test_halt_charges_running_traces_up_to_now() -> None:
    class HaltAfterFirst(ConsensusStrategy):
        def on_event(self, event: Event) -> Sequence[Action]:
            super().on_event(event)
            return [Halt()] if isinstance(event, TraceFinished) else ()

    res = _run(HaltAfterFirst(), _ts([100, 20, 70]))
    assert res.tokens == 20 * 3
    assert res.traces_finished == 1 and res.traces_stopped == 2


def test_budget_clipped_to_capacity_and_k() -> None:
    res = _run(ConsensusStrategy(), _ts([5, 5, 5, 5]), budget=2)
    assert res.traces_launched == 2 and res.tokens == 10
    res = _run(ConsensusStrategy(), _ts([5, 5]), budget=10)
    assert res.traces_launched == 2


def test_progress_event_text_and_confs() -> None:
    p = Problem("p", "q", "1")
    tr = Trace("p", 0, "abcdef", 3, "1", tokens=("ab", "cd", "ef"), confs=(1.0, 2.0, 3.0))
    ts = TraceSet((p,), {"p": (tr,)}, {}, "t")
    s = StopAt(2)
    _run(s, ts)
    (ev,) = s.events
    assert isinstance(ev, TraceProgress)
    assert ev.text == "abcd" and ev.new_confs == (1.0, 2.0)


def test_stop_of_unlaunched_trace_is_an_error() -> None:
    class Bad(ConsensusStrategy):
        def start(self, ctx: RunContext) -> Sequence[Action]:
            return [Launch(1), Stop(5)]

    with pytest.raises(StrategyError, match="never launched"):
        _run(Bad(), _ts([5, 5]))


def test_orderings_are_seeded_permutations() -> None:
    assert ordering(5, 0, None) == [0, 1, 2, 3, 4]
    a = ordering(8, 3, 1)
    assert sorted(a) == list(range(8)) and a == ordering(8, 3, 1)
    assert a != ordering(8, 3, 2) or a != ordering(8, 4, 1)


def test_cons_tokens_are_the_sum_of_all_traces() -> None:
    ts = _ts([11, 22, 33], ["1", "2", "2"])
    (res,) = run_sync(ConsensusStrategy, ReplaySource(ts), ts.problems, budget=3)
    assert res.tokens == 66 and res.answer == "2" and res.correct is False
