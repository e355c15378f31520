"""A strategy whose event handling blocks (a model judge) runs off the event loop: while it works,
the other problems' streams keep flowing (issue 10, lever 5)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from deepprune.engine.runner import run
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.judges.base import Judge, Pair
from deepprune.judges.lexical import LexicalJudge
from deepprune.servers.replay import ReplayServer, ServerConfig
from deepprune.sources.live import LiveSource
from deepprune.sources.openai_client import EndpointConfig
from deepprune.strategies.base import Action, Decision, Event, Launch, RunContext, Strategy, TraceFinished
from deepprune.strategies.deepprune import DeepPruneStrategy

TS = synthetic_traceset(2, 4, seed=3, mean_tokens=40)
SLEEP = 0.6


class _Probe(Strategy):
    """All traces finish; on problem 0's first event it works for SLEEP seconds (like a judge)."""

    name = "probe"

    def __init__(self, log: list[tuple[str, str, float, float]], blocking: bool) -> None:
        self.log = log
        self.blocking = blocking
        self.pid = ""
        self.slept = False

    def start(self, ctx: RunContext) -> Sequence[Action]:
        self.pid = ctx.problem.id
        return [Launch(ctx.budget)]

    def on_event(self, event: Event) -> Sequence[Action]:
        t0 = time.monotonic()
        if self.pid == TS.problems[0].id and not self.slept:
            self.slept = True
            time.sleep(SLEEP)
            self.log.append((self.pid, "work", t0, time.monotonic()))
        elif isinstance(event, TraceFinished):
            self.log.append((self.pid, "event", t0, t0))
        return ()

    def result(self) -> Decision:
        return Decision(None)


def _events_during_work(blocking: bool) -> int:
    log: list[tuple[str, str, float, float]] = []

    async def main() -> None:
        cfg = ServerConfig(rate=100)  # tokens per second per stream: streams take ~0.4 s
        async with ReplayServer(TS, cfg) as srv, LiveSource(
                EndpointConfig(srv.base_url, "replay", max_tokens=4096, max_concurrency=16,
                               top_logprobs=0)) as src:
            await run(lambda: _Probe(log, blocking), src, list(TS.problems), budget=4, concurrency=2)

    asyncio.run(main())
    (work,) = [(a, b) for pid, kind, a, b in log if kind == "work"]
    other = [a for pid, kind, a, _ in log if kind == "event" and pid == TS.problems[1].id]
    assert len(other) == 4
    return sum(work[0] < a < work[1] for a in other)


def test_blocking_strategy_does_not_stall_the_other_problems() -> None:
    assert _events_during_work(blocking=True) > 0


def test_a_non_blocking_strategy_would_stall_them() -> None:
    """The control: the same work on the event loop lets nothing through while it runs."""
    assert _events_during_work(blocking=False) == 0


class _Model(Judge):
    blocking = True

    def predict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        return np.zeros(len(pairs))


@pytest.mark.parametrize(("judge", "blocking"), [(LexicalJudge(), False), (_Model(), True)])
def test_deepprune_is_blocking_exactly_when_its_judge_is(judge: Judge, blocking: bool) -> None:
    assert DeepPruneStrategy(judge).blocking is blocking


def test_model_judges_declare_themselves_blocking() -> None:
    from deepprune.judges.deepprune4b import DeepPruneJudge4B
    from deepprune.judges.learned import MiniLMJudge
    from deepprune.judges.trained import TrainedJudge
    from deepprune.judges.zero_shot import ZeroShotJudge

    assert all(j.blocking for j in (DeepPruneJudge4B, MiniLMJudge, TrainedJudge, ZeroShotJudge))
