"""The replay engine: a strategy factory over a recorded trace set -> per-problem results -> a row.

:func:`replay` is one replay (one seeded ordering) of every problem of a
:class:`~deepprune.core.types.TraceSet`, each with a fresh strategy from a factory (or from
``factory_for(problem)``, e.g. a judge cross-validated by problem), through a
:class:`~deepprune.sources.replay.ReplaySource`. :func:`replay_orderings` runs orderings
``seed, seed + 1, ...`` (ordering ``r`` uses ``ordering_seed = seed + r`` and strategy seed
``seed + r``) in one event loop. :func:`aggregate` turns the results of all orderings into the
one :class:`~deepprune.core.records.BenchRow` (:func:`make_row`, also the totals of a live run); :func:`not_applicable_row` is the row of a strategy
that raised :class:`~deepprune.core.errors.NotApplicable`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence

from deepprune.core.protocol import StrategyFactory
from deepprune.core.records import LEADERBOARD_BUDGET, BenchRow
from deepprune.core.types import Problem, ProblemResult, TraceSet
from deepprune.engine.runner import OnResult, run_many
from deepprune.sources.replay import ReplaySource

__all__ = ["FactoryFor", "aggregate", "make_row", "max_traces", "not_applicable_row", "replay", "replay_orderings",
           "steps_per_problem"]

FactoryFor = Callable[[Problem], StrategyFactory]
"""Chooses the strategy factory of each problem."""


def max_traces(traceset: TraceSet) -> int:
    """The most recorded traces any problem has: the default budget K of a replay."""
    return max((len(traceset.traces_of(p.id)) for p in traceset.problems), default=0)


async def replay(
    traceset: TraceSet,
    factory: StrategyFactory | None = None,
    *,
    factory_for: FactoryFor | None = None,
    ordering_seed: int | None = None,
    seed: int = 0,
    budget: int | None = None,
    problems: Sequence[Problem] | None = None,
    raise_on_error: bool = True,
    concurrency: int = 1,
    on_result: OnResult | None = None,
) -> list[ProblemResult]:
    """Replay every problem of ``traceset`` (or ``problems``) once; results in problem order.

    Give ``factory`` (one for all problems) or ``factory_for``. ``ordering_seed`` picks the
    ordering of each problem's traces (:func:`~deepprune.sources.replay.ordering`; None: recorded
    order), ``seed`` the strategies' seed, ``budget`` K (default :func:`max_traces`).
    ``raise_on_error`` and ``on_result`` as in :func:`deepprune.engine.runner.run`.
    """
    if (factory is None) == (factory_for is None):
        raise TypeError("give exactly one of factory and factory_for")
    choose: FactoryFor = factory_for if factory_for is not None else (lambda _p: factory)  # type: ignore[assignment,return-value]
    source = ReplaySource(traceset, ordering_seed=ordering_seed)
    return await run_many(choose, source, list(traceset.problems if problems is None else problems),
                          budget=budget or max_traces(traceset), seed=seed, concurrency=concurrency,
                          raise_on_error=raise_on_error, on_result=on_result)


async def replay_orderings(
    traceset: TraceSet,
    factory: StrategyFactory | None = None,
    *,
    factory_for: FactoryFor | None = None,
    orderings: int = 1,
    seed: int = 0,
    budget: int | None = None,
    problems: Sequence[Problem] | None = None,
    raise_on_error: bool = True,
    on_result: Callable[[int, ProblemResult], None] | None = None,
) -> list[list[ProblemResult]]:
    """:func:`replay` over orderings ``0 .. orderings - 1`` (see the module docstring).

    ``on_result(ordering, result)`` is called as each problem completes.
    """
    runs: list[list[ProblemResult]] = []
    for r in range(orderings):
        def done(res: ProblemResult, _r: int = r) -> None:
            if on_result is not None:
                on_result(_r, res)

        runs.append(await replay(traceset, factory, factory_for=factory_for, ordering_seed=seed + r, seed=seed + r,
                                 budget=budget, problems=problems, raise_on_error=raise_on_error,
                                 on_result=done))
    return runs


def _sd(xs: Sequence[float]) -> float:
    return statistics.pstdev(xs) if len(xs) > 1 else 0.0


def _k_mean(traceset: TraceSet) -> float:
    problems = traceset.problems
    return statistics.fmean(len(traceset.traces_of(p.id)) for p in problems) if problems else 0.0


def accuracy(results: Sequence[ProblemResult]) -> float:
    """Fraction correct among graded results (nan when none has a gold answer)."""
    graded = [x.correct for x in results if x.correct is not None]
    return sum(graded) / len(graded) if graded else float("nan")


def aggregate(
    runs: Sequence[Sequence[ProblemResult]],
    *,
    traceset: TraceSet,
    strategy: str,
    params: Mapping[str, str] | None = None,
    cons_tokens: float | None = None,
    cons_steps: float | None = None,
    family: str | None = None,
    paper: str | None = None,
) -> BenchRow:
    """One row from the results of every ordering (``runs[r]``: ordering ``r``, every problem of
    ``traceset``): :func:`make_row` with the trace set's name, size, K and header."""
    return make_row(runs, dataset=traceset.name, strategy=strategy, problems=len(traceset.problems),
                    traces_per_problem=_k_mean(traceset), model=traceset.header.get("model"),
                    token_count=traceset.header.get("token_count"), params=params, cons_tokens=cons_tokens,
                    cons_steps=cons_steps, family=family, paper=paper)


def make_row(
    runs: Sequence[Sequence[ProblemResult]],
    *,
    dataset: str,
    strategy: str,
    problems: int,
    traces_per_problem: float,
    model: str | None = None,
    token_count: str | None = None,
    params: Mapping[str, str] | None = None,
    cons_tokens: float | None = None,
    cons_steps: float | None = None,
    family: str | None = None,
    paper: str | None = None,
) -> BenchRow:
    """The row of ``runs`` (``runs[r]``: ordering ``r``, each of ``problems`` problems with K =
    ``traces_per_problem`` traces): what bench and a live run (one ordering) both report.

    Accuracy and tokens are means over orderings (± population spread); judge calls, finished
    and stopped traces are per-ordering means of the totals; ``reduction`` is against
    ``cons_tokens`` (None: no reference) and ``latency`` (:func:`steps_per_problem`) against
    ``cons_steps``; ``errors`` counts problems that failed, per ordering.
    ``family`` and ``paper`` describe the strategy (:func:`deepprune.strategies.registry.describe`).
    """
    orderings = len(runs)
    accs = [accuracy(rs) for rs in runs]
    toks = [float(sum(x.tokens for x in rs)) for rs in runs]
    mean_tokens = statistics.fmean(toks)
    n, k_mean = problems, traces_per_problem
    flat = [x for rs in runs for x in rs]

    def mean_of(values: Sequence[int]) -> float:
        return float(sum(values)) / max(1, orderings)

    steps = steps_per_problem(runs)

    return BenchRow(
        dataset=dataset,
        strategy=strategy,
        accuracy=statistics.fmean(accs),
        accuracy_std=_sd(accs),
        tokens=mean_tokens,
        tokens_std=_sd(toks),
        tokens_per_problem=mean_tokens / n if n else 0.0,
        reduction=(1 - mean_tokens / cons_tokens) if cons_tokens else None,
        problems=n,
        traces_per_problem=k_mean,
        orderings=orderings,
        judge_calls=mean_of([x.judge_calls for x in flat]),
        judge_tokens=mean_of([x.judge_tokens for x in flat]),
        traces_finished=mean_of([x.traces_finished for x in flat]),
        traces_stopped=mean_of([x.traces_stopped for x in flat]),
        leaderboard_tokens_1e8=(mean_tokens * LEADERBOARD_BUDGET / k_mean / 1e8) if k_mean else 0.0,
        model=model,
        token_count=token_count,
        params=dict(params or {}),
        errors=sum(1 for x in flat if x.error is not None) // max(1, orderings),
        family=family or None,
        paper=paper or None,
        steps_per_problem=steps,
        latency=(steps / cons_steps) if steps is not None and cons_steps else None,
    )


def steps_per_problem(runs: Sequence[Sequence[ProblemResult]]) -> float | None:
    """Mean decode steps per problem until the decision (:attr:`ProblemResult.steps`), over every
    problem of every ordering; None when a result has no clock (live) or there is none."""
    steps = [x.steps for rs in runs for x in rs]
    if not steps or any(s is None for s in steps):
        return None
    return statistics.fmean(s for s in steps if s is not None)


def not_applicable_row(traceset: TraceSet, *, strategy: str, reason: str, orderings: int,
                       params: Mapping[str, str] | None = None, family: str | None = None,
                       paper: str | None = None) -> BenchRow:
    """The row of a strategy that cannot run on ``traceset``: figures nan / 0, ``not_applicable`` set."""
    return BenchRow(
        dataset=traceset.name, strategy=strategy, accuracy=float("nan"), accuracy_std=0.0,
        tokens=float("nan"), tokens_std=0.0, tokens_per_problem=float("nan"), reduction=None,
        problems=len(traceset.problems), traces_per_problem=_k_mean(traceset), orderings=orderings,
        judge_calls=0.0, judge_tokens=0.0, traces_finished=0.0, traces_stopped=0.0,
        leaderboard_tokens_1e8=float("nan"), model=traceset.header.get("model"),
        token_count=traceset.header.get("token_count"), params=dict(params or {}), not_applicable=reason,
        family=family or None, paper=paper or None)
