"""The Runner: the only place where a strategy meets I/O.

It opens a session on a :class:`~deepprune.sources.base.TraceSource`, feeds the strategy its
events, carries out its actions (launch / stop / resume / halt), and turns the session's token
accounting and the strategy's decision into a :class:`~deepprune.core.types.ProblemResult`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Required, TypedDict, Unpack

from deepprune.core.answers import answers_equal
from deepprune.core.errors import DeepPruneError, NotApplicable, ProtocolError
from deepprune.core.events import (
    Action,
    Halt,
    Launch,
    Probe,
    Resume,
    Stop,
    TraceFailed,
    TraceFinished,
    TraceProbed,
)
from deepprune.core.protocol import RunContext, StrategyFactory
from deepprune.core.types import Problem, ProblemResult
from deepprune.engine.tasks import blocking, run_each
from deepprune.sources.base import CanProbe, HasAnswerPeek, HasClock, ProblemSession, TraceSource

__all__ = ["OnResult", "RunOptions", "run", "run_many", "run_problem", "run_sync"]

log = logging.getLogger(__name__)


async def run_problem(
    factory: StrategyFactory,
    source: TraceSource,
    problem: Problem,
    *,
    budget: int,
    seed: int = 0,
) -> ProblemResult:
    """Run one fresh strategy on one problem and account for every generated token.

    ``budget`` is K, the most traces the strategy may launch (clipped to the source's capacity).
    """
    strategy = factory()
    t0 = time.perf_counter()
    async with source.session(problem, seed=seed) as session:
        cap = session.capacity
        k = budget if cap is None else min(budget, cap)
        ctx = RunContext(
            problem=problem,
            budget=k,
            seed=seed,
            has_confidence=session.has_confidence,
            answer_peek=session.answer_peek if isinstance(session, HasAnswerPeek) else None,
            can_probe=isinstance(session, CanProbe) and session.can_probe,
        )
        session.set_watch(strategy.watch)
        driver = _Driver(session, k)
        await driver.apply(strategy.start(ctx))
        while not driver.halted:
            event = await session.next_event()
            if event is None:
                before = driver.changes
                await driver.apply(strategy.on_idle())
                if driver.changes == before:
                    break
                continue
            if isinstance(event, TraceFinished):
                driver.finished.add(event.trace_id)
            elif isinstance(event, TraceFailed):
                driver.failed.add(event.trace_id)
                driver.failures.append(event.error)
            elif isinstance(event, TraceProbed):
                driver.probes += 1
                driver.probe_tokens += event.n_tokens
                driver.probe_prompt_tokens += event.prompt_tokens or 0
            if strategy.blocking:  # e.g. a model judge: keep the loop reading the other streams
                actions = await asyncio.to_thread(strategy.on_event, event)
            else:
                actions = strategy.on_event(event)
            await driver.apply(actions)
        if driver.halted:
            for tid in session.running():
                await session.stop(tid)
        decision = strategy.result()
        steps = session.tick if isinstance(session, HasClock) else None
        tokens = sum(session.generated(tid) for tid in range(driver.launched))
        correct = None
        if problem.gold is not None:
            correct = answers_equal(problem.gold, decision.answer, problem.kind)
        stopped = driver.launched - len(driver.finished) - len(driver.failed)
        info = dict(decision.info)
        if driver.failed:
            info["traces_failed"] = len(driver.failed)  # the older spelling of the typed field
        if driver.probes:
            # answer probes: their generated tokens are in ``tokens``; what they read is apart
            info.update(probe_calls=driver.probes, probe_tokens=driver.probe_tokens,
                        probe_prompt_tokens=driver.probe_prompt_tokens)
        return ProblemResult(
            problem_id=problem.id,
            strategy=getattr(strategy, "name", type(strategy).__name__),
            answer=decision.answer,
            correct=correct,
            tokens=tokens,
            traces_launched=driver.launched,
            traces_finished=len(driver.finished),
            traces_stopped=stopped,
            judge_calls=decision.judge_calls,
            judge_tokens=decision.judge_tokens,
            wall_s=time.perf_counter() - t0,
            info=info,
            traces_failed=len(driver.failed),
            failures=tuple(dict.fromkeys(driver.failures)),
            steps=steps,
        )


class _Driver:
    """Carries out actions on a session; enforces the budget."""

    def __init__(self, session: ProblemSession, budget: int) -> None:
        self.session = session
        self.budget = budget
        self.launched = 0
        self.halted = False
        self.changes = 0
        self.finished: set[int] = set()
        self.failed: set[int] = set()
        self.stopped: set[int] = set()
        self.failures: list[str] = []
        self.probes = 0
        self.probe_tokens = 0
        self.probe_prompt_tokens = 0

    async def apply(self, actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, Launch):
                n = min(action.count, self.budget - self.launched)
                if action.count > n:
                    log.debug("launch of %d clipped to the budget (%d left)", action.count, n)
                for _ in range(max(0, n)):
                    await self.session.launch(self.launched)
                    self.launched += 1
                    self.changes += 1
            elif isinstance(action, Stop):
                if action.trace_id >= self.launched:
                    raise ProtocolError(f"Stop({action.trace_id}): trace was never launched")
                if action.trace_id not in self.finished:
                    await self.session.stop(action.trace_id)
                    self.stopped.add(action.trace_id)
            elif isinstance(action, Resume):
                if action.trace_id in self.stopped and action.trace_id not in self.finished:
                    await self.session.resume(action.trace_id)
                    self.stopped.discard(action.trace_id)
                    self.changes += 1
            elif isinstance(action, Probe):
                if action.trace_id >= self.launched:
                    raise ProtocolError(f"Probe({action.trace_id}): trace was never launched")
                if not (isinstance(self.session, CanProbe) and self.session.can_probe):
                    raise ProtocolError(f"Probe({action.trace_id}): this source cannot probe "
                                        "(check RunContext.can_probe before asking)")
                await self.session.probe(action.trace_id)
                self.changes += 1
            elif isinstance(action, Halt):
                self.halted = True
                return
            else:  # pragma: no cover - typing guards this
                raise ProtocolError(f"unknown action {action!r}")


OnResult = Callable[[ProblemResult], Awaitable[None] | None]
"""Called with each problem's result as it completes (may be a coroutine function)."""


async def run_many(
    factory_for: Callable[[Problem], StrategyFactory],
    source: TraceSource,
    problems: Sequence[Problem],
    *,
    budget: int,
    seed: int = 0,
    concurrency: int = 1,
    raise_on_error: bool = True,
    on_result: OnResult | None = None,
) -> list[ProblemResult]:
    """:func:`run` with a strategy factory chosen per problem (``factory_for(problem)``), e.g. a
    judge cross-validated by problem."""

    async def one(p: Problem) -> ProblemResult:
        try:
            res = await run_problem(factory_for(p), source, p, budget=budget, seed=seed)
        except NotApplicable:
            raise  # about the data, not this problem: the caller decides (bench: an n/a row)
        except DeepPruneError as exc:
            if raise_on_error:
                raise
            log.warning("problem %s failed: %s", p.id, exc)
            res = ProblemResult(p.id, "?", None, None if p.gold is None else False, 0, 0, 0, 0,
                                info={"error": str(exc)}, error=str(exc))
        if on_result is not None:
            maybe = on_result(res)
            if maybe is not None:
                await maybe
        return res

    return await run_each(problems, one, concurrency=concurrency)


class RunOptions(TypedDict, total=False):
    """The keyword options of :func:`run` and :func:`run_sync`: those of :func:`run_many`, with the
    same defaults (``budget`` is required)."""

    budget: Required[int]
    seed: int
    concurrency: int
    raise_on_error: bool
    on_result: OnResult | None


async def run(
    factory: StrategyFactory,
    source: TraceSource,
    problems: Sequence[Problem],
    **options: Unpack[RunOptions],
) -> list[ProblemResult]:
    """Run a strategy on many problems (``concurrency`` at a time), in problem order.

    Options (:class:`RunOptions`): ``budget`` (K), ``seed`` (0), ``concurrency`` (1),
    ``raise_on_error`` (True), ``on_result`` (None).
    With ``raise_on_error=False`` a problem that fails with a deepprune error is logged and
    reported as a result with ``answer=None`` and ``error`` set instead of aborting;
    :class:`~deepprune.core.errors.NotApplicable` (the strategy cannot run on this data) always
    propagates. With ``concurrency > 1`` an error that propagates cancels the other problems
    (:func:`deepprune.engine.tasks.run_each`).
    ``on_result`` is called as each problem completes (to write results as they go).
    """
    return await run_many(lambda _p: factory, source, problems, **options)


run_sync = blocking(run, "run_sync", "``asyncio.run(run(...))`` for scripts and notebooks without an event loop.")
