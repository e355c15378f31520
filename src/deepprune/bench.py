"""Replay strategies over trace datasets: accuracy and generated tokens, mean ± spread over
seeded orderings, with cons@K as the reference every reduction is measured against.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections.abc import Callable, Sequence

from deepprune.core.records import LEADERBOARD_BUDGET, BenchRow
from deepprune.errors import ConfigError, DataError, NotApplicable
from deepprune.runner import run
from deepprune.sources.replay import ReplaySource
from deepprune.strategies.registry import StrategySpec, build
from deepprune.types import ProblemResult, TraceSet

__all__ = ["LEADERBOARD_BUDGET", "BenchRow", "bench", "check_traceset"]

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


def _sd(xs: Sequence[float]) -> float:
    return statistics.pstdev(xs) if len(xs) > 1 else 0.0


def bench(
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
    """
    if budget is not None and budget < 1:
        raise ConfigError("budget", budget, "at least 1 trace per problem (None: every recorded trace)")
    if orderings < 1:
        raise ConfigError("orderings", orderings, "at least 1")
    specs = [StrategySpec.parse(s) if isinstance(s, str) else s for s in strategies]
    rows: list[BenchRow] = []
    for ts in datasets:
        problems = list(ts.problems)
        k_mean = statistics.fmean(len(ts.traces_of(p.id)) for p in problems) if problems else 0.0
        per_spec: dict[str, tuple[list[float], list[float], list[list[ProblemResult]]]] = {}
        not_applicable: dict[str, str] = {}
        for spec in specs:
            factory = build(spec)
            accs: list[float] = []
            toks: list[float] = []
            runs: list[list[ProblemResult]] = []
            for r in range(orderings):
                source = ReplaySource(ts, ordering_seed=seed + r)
                k = budget or max((len(ts.traces_of(p.id)) for p in problems), default=0)

                def done(res: ProblemResult, _label: str = spec.label, _r: int = r, _ds: str = ts.name) -> None:
                    if progress is not None:
                        progress(1)
                    if per_problem is not None:
                        per_problem(_ds, _label, _r, res)

                try:
                    results = asyncio.run(run(factory, source, problems, budget=k, seed=seed + r,
                                              raise_on_error=raise_on_error, on_result=done))
                except NotApplicable as exc:
                    # the strategy cannot run on this data at all (e.g. no confidences): one n/a row;
                    # any other error (a ProtocolError is a strategy bug) is a failure, not n/a
                    log.warning("%s on %s: n/a (%s)", spec.label, ts.name, exc)
                    not_applicable[spec.label] = str(exc)
                    break
                graded = [x.correct for x in results if x.correct is not None]
                accs.append(sum(graded) / len(graded) if graded else float("nan"))
                toks.append(float(sum(x.tokens for x in results)))
                runs.append(results)
            per_spec[spec.label] = (accs, toks, runs)
        cons_tokens = next((statistics.fmean(per_spec[s.label][1]) for s in specs
                            if s.name == "cons" and s.label not in not_applicable), None)
        for spec in specs:
            if spec.label in not_applicable:
                rows.append(BenchRow(
                    dataset=ts.name, strategy=spec.label, accuracy=float("nan"), accuracy_std=0.0,
                    tokens=float("nan"), tokens_std=0.0, tokens_per_problem=float("nan"), reduction=None,
                    problems=len(problems), traces_per_problem=k_mean, orderings=orderings,
                    judge_calls=0.0, judge_tokens=0.0, traces_finished=0.0, traces_stopped=0.0,
                    leaderboard_tokens_1e8=float("nan"), model=ts.header.get("model"),
                    token_count=ts.header.get("token_count"), params=dict(spec.params),
                    not_applicable=not_applicable[spec.label]))
                continue
            accs, toks, runs = per_spec[spec.label]
            mean_tokens = statistics.fmean(toks)
            n = len(problems)
            flat = [x for rs in runs for x in rs]

            def mean_of(attr: str, _flat: list[ProblemResult] = flat) -> float:
                return float(sum(getattr(x, attr) for x in _flat)) / max(1, orderings)

            rows.append(BenchRow(
                dataset=ts.name,
                strategy=spec.label,
                accuracy=statistics.fmean(accs),
                accuracy_std=_sd(accs),
                tokens=mean_tokens,
                tokens_std=_sd(toks),
                tokens_per_problem=mean_tokens / n if n else 0.0,
                reduction=(1 - mean_tokens / cons_tokens) if cons_tokens else None,
                problems=n,
                traces_per_problem=k_mean,
                orderings=orderings,
                judge_calls=mean_of("judge_calls"),
                judge_tokens=mean_of("judge_tokens"),
                traces_finished=mean_of("traces_finished"),
                traces_stopped=mean_of("traces_stopped"),
                leaderboard_tokens_1e8=(mean_tokens * LEADERBOARD_BUDGET / k_mean / 1e8) if k_mean else 0.0,
                model=ts.header.get("model"),
                token_count=ts.header.get("token_count"),
                params=dict(spec.params),
                errors=sum(1 for x in flat if x.error is not None) // max(1, orderings),
            ))
    return rows
