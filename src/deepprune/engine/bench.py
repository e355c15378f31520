"""Replay strategies over trace datasets: accuracy and generated tokens, mean ± spread over
seeded orderings, with cons@K as the reference every reduction is measured against.

Built on the replay engine (:mod:`deepprune.engine`): :func:`~deepprune.engine.replay.replay_orderings`
per strategy and dataset, :func:`~deepprune.engine.replay.aggregate` for the row
(:class:`~deepprune.core.records.BenchRow`, re-exported here).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Sequence

from deepprune.core.errors import ConfigError, DataError, NotApplicable
from deepprune.core.records import LEADERBOARD_BUDGET, BenchRow
from deepprune.core.types import ProblemResult, TraceSet
from deepprune.engine.replay import aggregate, not_applicable_row, replay_orderings, steps_per_problem
from deepprune.engine.tasks import blocking
from deepprune.strategies.registry import StrategySpec, build, describe

__all__ = ["LEADERBOARD_BUDGET", "BenchRow", "bench", "bench_async", "check_traceset"]

log = logging.getLogger(__name__)

def check_traceset(ts: TraceSet, *, on_error: str = "raise", skipped: list[str] | None = None) -> TraceSet:
    """Reject (or, with ``on_error="skip"``, drop and record) problems without traces."""
    bad = [p for p in ts.problems if not ts.traces_of(p.id)]
    if not bad:
        return ts
    msgs = [f"{ts.name}: problem {p.id!r} has no traces" for p in bad]
    if on_error != "skip":
        raise DataError(msgs[0] + " (remove it or pass --on-error skip)", path=ts.header.get("source_path"))
    if skipped is not None:
        skipped.extend(msgs)
    keep = tuple(p for p in ts.problems if ts.traces_of(p.id))
    return TraceSet(keep, {p.id: ts.traces_of(p.id) for p in keep}, ts.header, ts.name)


async def bench_async(
    datasets: Sequence[TraceSet],
    strategies: Sequence[StrategySpec | str],
    *,
    orderings: int = 1,
    seed: int = 0,
    budget: int | None = None,
    raise_on_error: bool = True,
    progress: Callable[[int], None] | None = None,
    per_problem: Callable[[str, str, int, ProblemResult], None] | None = None,
) -> list[BenchRow]:
    """Replay each strategy on each dataset over ``orderings`` seeded orderings.

    Ordering r uses ``ordering_seed = seed + r``. ``budget`` caps K (default: every recorded
    trace). ``progress(n)`` is called after each problem; ``per_problem(dataset, strategy,
    ordering, result)`` receives every problem result as it completes.

    A strategy that raises :class:`~deepprune.core.errors.NotApplicable` gets an n/a row; any other
    error propagates (``raise_on_error=False``: the problem is counted in the row's ``errors``).
    :func:`bench` is the same without a running event loop.
    """
    if budget is not None and budget < 1:
        raise ConfigError("budget", budget, "at least 1 trace per problem (None: every recorded trace)")
    if orderings < 1:
        raise ConfigError("orderings", orderings, "at least 1")
    specs = [StrategySpec.parse(s) if isinstance(s, str) else s for s in strategies]
    rows: list[BenchRow] = []
    for ts in datasets:
        runs: dict[str, list[list[ProblemResult]] | str] = {}
        meta: dict[str, tuple[str, str]] = {}
        for spec in specs:
            factory = build(spec)
            meta[spec.label] = describe(factory)

            def done(r: int, res: ProblemResult, _label: str = spec.label, _ds: str = ts.name) -> None:
                if progress is not None:
                    progress(1)
                if per_problem is not None:
                    per_problem(_ds, _label, r, res)

            try:
                runs[spec.label] = await replay_orderings(ts, factory, orderings=orderings, seed=seed, budget=budget,
                                                          raise_on_error=raise_on_error, on_result=done)
            except NotApplicable as exc:
                # the strategy cannot run on this data at all (e.g. no confidences): one n/a row;
                # any other error (a ProtocolError is a strategy bug) is a failure, not n/a
                log.warning("%s on %s: n/a (%s)", spec.label, ts.name, exc)
                runs[spec.label] = str(exc)
        cons_runs = [runs[s.label] for s in specs if s.name == "cons"]
        cons = next((r for r in cons_runs if not isinstance(r, str)), None)
        cons_tokens = statistics.fmean(float(sum(x.tokens for x in rs)) for rs in cons) if cons else None
        cons_steps = steps_per_problem(cons) if cons else None
        for spec in specs:
            got = runs[spec.label]
            family, paper = meta[spec.label]
            if isinstance(got, str):
                rows.append(not_applicable_row(ts, strategy=spec.label, reason=got, orderings=orderings,
                                               params=dict(spec.params), family=family, paper=paper))
            else:
                rows.append(aggregate(got, traceset=ts, strategy=spec.label, params=dict(spec.params),
                                      cons_tokens=cons_tokens, cons_steps=cons_steps, family=family,
                                      paper=paper))
    return rows


bench = blocking(
    bench_async, "bench",
    "Replay each strategy on each dataset over ``orderings`` seeded orderings: ``asyncio.run`` of "
    ":func:`bench_async` (one event loop for everything; the parameters are its).")
