"""The core protocol: the replay-only answer peek is explicit, errors say n/a or bug, names re-export."""

from __future__ import annotations

import asyncio

import pytest

import deepprune.core as core
from deepprune.core import FunctionPeek, RunContext, StrategySpec, take, trace_seed
from deepprune.core.errors import ConfigError, NotApplicable, ProtocolError, StrategyError
from deepprune.core.types import Problem, Trace, TraceSet
from deepprune.engine.runner import run_problem
from deepprune.sources.base import HasAnswerPeek
from deepprune.sources.live import LiveSession
from deepprune.sources.replay import RecordedAnswers, ReplaySession, ReplaySource
from deepprune.strategies.oracle import OracleStrategy

PROBLEM = Problem("p", "q", "1")


def _ts() -> TraceSet:
    traces = tuple(Trace("p", i, f"t{i} \\boxed{{{a}}}", 5, a) for i, a in enumerate(["1", "2", "1"]))
    return TraceSet((PROBLEM,), {"p": traces}, {}, "t")


def test_the_peek_is_asked_for_by_name_and_refused_without_replay() -> None:
    ctx = RunContext(PROBLEM, budget=2)
    assert ctx.answer_peek is None and ctx.peek_answer is None
    with pytest.raises(NotApplicable, match=r"the oracle strategy .* only runs on replayed traces"):
        ctx.require_answer_peek("the oracle strategy")
    with pytest.raises(NotApplicable):
        OracleStrategy().start(ctx)


def test_the_older_peek_answer_keyword_still_builds_a_context() -> None:
    ctx = RunContext(PROBLEM, budget=2, peek_answer=lambda i: str(i))
    assert isinstance(ctx.answer_peek, FunctionPeek)
    assert ctx.require_answer_peek("x").answer(1) == "1"
    assert ctx.peek_answer is not None and ctx.peek_answer(0) == "0"
    with pytest.raises(TypeError):
        RunContext(PROBLEM, 2, answer_peek=FunctionPeek(str), peek_answer=str)


def test_only_the_replay_session_offers_the_peek() -> None:
    replay = ReplaySession(list(_ts().traces_of("p")))
    assert isinstance(replay, HasAnswerPeek) and isinstance(replay.answer_peek, RecordedAnswers)
    assert [replay.answer_peek.answer(i) for i in range(3)] == ["1", "2", "1"]
    with pytest.raises(ProtocolError, match="never launched"):
        replay.answer_peek.answer(3)
    assert not hasattr(LiveSession, "peek_answer") and not hasattr(LiveSession, "answer_peek")
    assert not hasattr(ReplaySession, "peek_answer")


def test_the_runner_passes_the_replay_peek_to_the_strategy() -> None:
    res = asyncio.run(run_problem(lambda: OracleStrategy(prefix="tokens:2"), ReplaySource(_ts()), PROBLEM, budget=3))
    assert res.answer == "1" and res.traces_stopped == 1


def test_not_applicable_and_protocol_error_are_both_strategy_errors() -> None:
    assert issubclass(NotApplicable, StrategyError) and issubclass(ProtocolError, StrategyError)
    assert not issubclass(NotApplicable, ProtocolError) and not issubclass(ProtocolError, NotApplicable)


def test_moved_names_are_the_same_objects_where_they_used_to_be() -> None:
    import deepprune.engine.collect as collect
    import deepprune.strategies.base as base
    import deepprune.strategies.registry as registry

    assert collect.trace_seed is trace_seed
    assert registry.StrategySpec is StrategySpec and registry.take is take
    for name in ("Action", "Decision", "Event", "Halt", "Launch", "Resume", "RunContext", "Stop", "Strategy",
                 "TraceFailed", "TraceFinished", "TraceProgress"):
        assert getattr(base, name) is getattr(core, name)


def test_spec_and_take() -> None:
    spec = StrategySpec.parse(" deepprune : judge=lexical , tau=0.5 ")
    assert spec.label == "deepprune:judge=lexical,tau=0.5"
    assert spec.with_param("tau", "0.2").params == (("judge", "lexical"), ("tau", "0.2"))
    with pytest.raises(ConfigError, match="key=value"):
        StrategySpec.parse("cons:oops")
    params = {"k": "x"}
    with pytest.raises(ConfigError, match="k must be convertible by int, got 'x'"):
        take(params, "k", int, 0)
    assert take({}, "k", int, 7) == 7
