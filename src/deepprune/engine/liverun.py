"""Answering questions live with a strategy (``deepprune run``), with an optional cons@K baseline.

:func:`run_live` runs a strategy on each problem through any
:class:`~deepprune.sources.base.TraceSource` (normally a ``LiveSource`` on an OpenAI-compatible
server; a ``ReplaySource`` works the same) with :func:`deepprune.engine.runner.run_problem`, and, with
``compare="cons"``, runs cons@K on the same problem, the same server and the same seed right
after it, so both spend tokens on the same traces when the server samples by seed.

Results are written as they go to a JSON Lines file (format ``deepprune/run-v1``): a header
naming the settings, then one :class:`LiveRow` per problem. Started again with the same file and
settings, a run skips the problems already there and appends the rest; a file written with
other settings is refused (``ConfigError``) instead of being mixed up.

A problem whose failed traces left the strategy (or the baseline) without an answer is
**failed**, not answered: its result (a :class:`~deepprune.core.types.ProblemResult`, written by its
``to_dict``) says ``failed: true`` (and ``correct: null``), the
summary counts it in ``problems_failed`` apart from wrong answers and leaves it out of the
accuracy, and a resumed run runs it again (only the part that failed: a strategy result that
succeeded is kept) and appends the new row, which replaces the failed one.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Protocol

from deepprune.core.errors import ClientError, ConfigError, DataError, FormatError
from deepprune.core.protocol import StrategyFactory
from deepprune.core.records import BenchRow
from deepprune.core.types import Problem, ProblemResult
from deepprune.engine.replay import make_row
from deepprune.engine.runner import run_problem
from deepprune.engine.tasks import run_each
from deepprune.formats.appendlog import prepare_append
from deepprune.formats.tracefile import iter_json_lines
from deepprune.sources.base import TraceSource
from deepprune.strategies.registry import StrategySpec, build

__all__ = ["RUN_FORMAT", "LiveRow", "LiveSummary", "ResultsFile", "RowSink", "RunSettings",
           "load_problems_any", "run_live", "summarize"]

log = logging.getLogger(__name__)

RUN_FORMAT = "deepprune/run-v1"


@dataclass(frozen=True)
class RunSettings:
    """What a run's results depend on (checked when a results file is resumed)."""

    strategy: str
    """The strategy spec as written (``esc:w=4``)."""
    budget: int
    """K: most traces per problem."""
    seed: int = 0
    model: str = ""
    compare: str | None = None
    """A baseline strategy run on the same problems (``cons``), or None."""

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ConfigError("budget (--n)", self.budget, "at least 1")
        object.__setattr__(self, "strategy", StrategySpec.parse(self.strategy).label)
        if self.compare is not None:
            object.__setattr__(self, "compare", StrategySpec.parse(self.compare).label)


@dataclass(frozen=True)
class LiveRow:
    """A problem answered by the strategy (and, with a comparison, by the baseline).

    The results are as the results file keeps them (:meth:`ProblemResult.recorded`), so a row read
    back by :meth:`from_record` equals the row written."""

    problem_id: str
    gold: str | None
    strategy: str
    result: ProblemResult
    baseline: str | None = None
    baseline_result: ProblemResult | None = None

    @property
    def failed(self) -> bool:
        """The strategy or the baseline failed on this problem (see :attr:`ProblemResult.failed`)."""
        return self.result.failed or (self.baseline_result is not None and self.baseline_result.failed)

    def to_record(self) -> dict[str, Any]:
        base = self.baseline_result
        return {"type": "result", "problem_id": self.problem_id, "gold": self.gold, "strategy": self.strategy,
                "result": self.result.to_dict(), "baseline": self.baseline,
                "baseline_result": None if base is None else base.to_dict()}

    @classmethod
    def from_record(cls, rec: Mapping[str, Any], *, path: str | Path | None = None, line: int | None = None) -> LiveRow:
        """A row written by :meth:`to_record`; its results are validated
        (:meth:`~deepprune.core.types.ProblemResult.from_dict`: a :class:`DataError` names the line and field)."""
        pid, strategy, baseline, base = str(rec["problem_id"]), str(rec["strategy"]), rec.get("baseline"), \
            rec.get("baseline_result")
        return cls(pid, rec.get("gold"), strategy,
                   ProblemResult.from_dict(rec["result"], problem_id=pid, strategy=strategy, path=path, line=line,
                                           field="result"), baseline,
                   ProblemResult.from_dict(base, problem_id=pid, strategy=str(baseline or ""), path=path, line=line,
                                           field="baseline_result") if base else None)


@dataclass(frozen=True)
class LiveSummary:
    """Totals over the rows of a run: the strategy's :class:`~deepprune.core.records.BenchRow` (one
    ordering of the rows' problems; ``reduction`` against the baseline) and, when every row has
    one, the baseline's; beside them what only a live run has (failed traces, wall time, failed
    problems). Its figures read as before (``tokens``, ``accuracy``, ``baseline_tokens``, ...), and
    :meth:`to_dict` is the ``deepprune run --json`` summary."""

    result: BenchRow
    baseline_result: BenchRow | None = None
    traces_failed: int = 0
    wall: float = 0.0
    """The strategy's wall time over the rows, seconds (``wall_s`` is it rounded)."""
    baseline_wall: float | None = None
    rows: tuple[LiveRow, ...] = field(default=(), repr=False)
    problems_failed: int = 0
    """Problems where failed traces left the strategy or the baseline without an answer: counted
    apart from wrong answers, left out of the accuracies, run again when the run is resumed."""

    @property
    def problems(self) -> int:
        return self.result.problems

    @property
    def accuracy(self) -> float | None:
        """Fraction correct among problems with a gold answer (None when none has one)."""
        return _fraction(self.result)

    @property
    def tokens(self) -> int:
        return int(self.result.tokens)

    @property
    def traces_stopped(self) -> int:
        return int(self.result.traces_stopped)

    @property
    def wall_s(self) -> float:
        return round(self.wall, 3)

    @property
    def baseline(self) -> str | None:
        return (self.baseline_result.strategy or None) if self.baseline_result is not None else None

    @property
    def baseline_accuracy(self) -> float | None:
        return _fraction(self.baseline_result) if self.baseline_result is not None else None

    @property
    def baseline_tokens(self) -> int | None:
        return int(self.baseline_result.tokens) if self.baseline_result is not None else None

    @property
    def baseline_wall_s(self) -> float | None:
        return round(self.baseline_wall, 3) if self.baseline_wall is not None else None

    @property
    def reduction(self) -> float | None:
        """1 - tokens / baseline tokens."""
        return self.result.reduction

    @property
    def speedup(self) -> float | None:
        """baseline wall time / strategy wall time."""
        return self.baseline_wall / self.wall if self.baseline_wall is not None and self.wall > 0 else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: getattr(self, k) for k in _SUMMARY_KEYS}
        d["rows"] = [r.to_record() for r in self.rows]
        return d

    def __repr__(self) -> str:
        return f"LiveSummary({', '.join(f'{k}={getattr(self, k)!r}' for k in _SUMMARY_KEYS if k != 'rows')})"


_SUMMARY_KEYS = ("problems", "accuracy", "tokens", "traces_stopped", "traces_failed", "wall_s", "baseline",
                 "baseline_accuracy", "baseline_tokens", "baseline_wall_s", "reduction", "speedup", "rows",
                 "problems_failed")
"""The keys of :meth:`LiveSummary.to_dict` (the ``deepprune run --json`` summary), in order."""


def _fraction(row: BenchRow) -> float | None:
    return None if math.isnan(row.accuracy) else row.accuracy


def summarize(rows: Sequence[LiveRow], *, dataset: str = "live") -> LiveSummary:
    """The totals of ``rows``: :func:`deepprune.engine.replay.make_row` over one ordering, named
    ``dataset``; K is the most traces any result launched."""
    res = [r.result for r in rows]
    base = [r.baseline_result for r in rows if r.baseline_result is not None]
    compared = bool(base) and len(base) == len(rows)
    k = max((x.traces_launched for x in [*res, *base]), default=0)

    def row(results: Sequence[ProblemResult], strategy: str, cons_tokens: float | None = None) -> BenchRow:
        return make_row([results], dataset=dataset, strategy=strategy, problems=len(rows), traces_per_problem=k,
                        cons_tokens=cons_tokens)

    base_row = row(base, rows[0].baseline or "") if compared else None
    return LiveSummary(row(res, rows[0].strategy if rows else "", base_row.tokens if base_row else None),
                       base_row, sum(o.traces_failed for o in res), sum(o.wall_s for o in res),
                       sum(o.wall_s for o in base) if compared else None, tuple(rows), sum(r.failed for r in rows))


class RowSink(Protocol):
    """Where :func:`run_live` finds the problems already done and puts each finished row: a
    :class:`ResultsFile`, or (``--workers``) a worker's pipe to the parent that writes the file."""

    @property
    def done(self) -> Mapping[str, LiveRow]: ...

    @property
    def failed(self) -> Mapping[str, LiveRow]: ...

    def add(self, row: LiveRow) -> None: ...


class ResultsFile:
    """The append-only results file of a run (see the module docstring)."""

    def __init__(self, path: str | Path, settings: RunSettings) -> None:
        self.path = Path(path)
        self.settings = settings
        self.done: dict[str, LiveRow] = {}
        self.failed: dict[str, LiveRow] = {}
        """Problems whose last row is failed: run again (see the module docstring)."""
        want = {"format": RUN_FORMAT, **asdict(settings)}
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if not fresh:
            # refuses a file that is not this run's before touching it, then repairs a torn tail
            prepare_append(self.path, lambda header: self._check_header(header, want))
            self._read()
        self._fh: IO[str] = open(self.path, "a", encoding="utf-8")
        if fresh:
            self._write(want)

    def _check_header(self, header: Mapping[str, Any], want: Mapping[str, Any]) -> None:
        if header.get("format") != RUN_FORMAT:
            raise FormatError(f"not a deepprune run results file (expected format {RUN_FORMAT!r}); "
                              "choose another --out (nothing was changed)", path=self.path, line=1)
        diff = {k: (header.get(k), v) for k, v in want.items() if header.get(k) != v}
        if diff:
            what = ", ".join(f"{k}: file has {old!r}, this run {new!r}" for k, (old, new) in diff.items())
            raise ConfigError("--out", str(self.path),
                              f"a results file of a run with the same settings to resume it ({what}); "
                              "use another --out or delete the file")

    def _read(self) -> None:
        lines = iter_json_lines(self.path)
        next(lines, None)  # the header, checked by prepare_append
        for lineno, rec in lines:
            try:
                row = LiveRow.from_record(rec, path=self.path, line=lineno)
            except (KeyError, TypeError) as exc:
                raise DataError(f"bad result record ({exc}); fix or remove this line", path=self.path,
                                line=lineno) from exc
            self._keep(row)

    def _keep(self, row: LiveRow) -> None:
        if row.failed:
            self.failed[row.problem_id] = row
            self.done.pop(row.problem_id, None)
        else:
            self.done[row.problem_id] = row
            self.failed.pop(row.problem_id, None)

    def _write(self, rec: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self._fh.flush()

    def add(self, row: LiveRow) -> None:
        self._write(row.to_record())
        self._keep(row)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def run_live(
    problems: Sequence[Problem],
    source: TraceSource,
    settings: RunSettings,
    *,
    results: RowSink | None = None,
    concurrency: int = 1,
    on_row: Callable[[LiveRow], None] | None = None,
) -> list[LiveRow]:
    """Answer ``problems`` with ``settings.strategy`` through ``source``; rows in problem order.

    Problems already in ``results`` are not run again (their stored rows are returned); failed
    problems there (see the module docstring) are, keeping a stored outcome that did not fail. Each
    finished problem is appended to ``results`` and passed to ``on_row`` at once, so an
    interrupted run loses only the problems in flight. ``concurrency`` problems run at a time
    (each with its own K streams; :func:`deepprune.engine.tasks.run_each`); an error propagates
    after the completed problems are saved, and cancels the problems still in flight (their
    streams are closed).

    A problem on which **every** launched trace failed (server down, a server without logprobs
    for a strategy that needs them, ...) stops the run with a :class:`ClientError` carrying the
    traces' error message, rather than recording a run of empty answers; problems where only
    some traces failed are recorded with ``traces_failed`` and ``error``, as failed problems when
    the failures left no answer.
    """
    factory = build(settings.strategy)
    base_factory = build(settings.compare) if settings.compare else None
    done: Mapping[str, LiveRow] = results.done if results is not None else {}
    retry = dict(results.failed) if results is not None else {}

    async def one(p: Problem) -> LiveRow:
        if p.id in done:
            return done[p.id]
        before = retry.get(p.id)
        if before is not None and not before.result.failed:
            r = before.result  # kept: only the baseline failed last time
        else:
            if before is not None:
                log.info("%s: failed last time (%s); running it again", p.id, before.result.to_dict()["error"])
            t0 = time.perf_counter()
            r = await _checked(factory, source, p, settings, settings.strategy)
            log.info("%s: %s answered %r with %d tokens in %.1f s", p.id, settings.strategy, r.answer,
                     r.tokens, time.perf_counter() - t0)
        base = None
        if base_factory is not None:
            kept = before.baseline_result if before is not None else None
            if kept is not None and not kept.failed:
                base = kept
            else:
                base = await _checked(base_factory, source, p, settings, str(settings.compare))
        row = LiveRow(p.id, p.gold, settings.strategy, r, settings.compare, base)
        if results is not None:
            results.add(row)
        if on_row is not None:
            on_row(row)
        return row

    return await run_each(problems, one, concurrency=concurrency)


async def _checked(factory: StrategyFactory, source: TraceSource, p: Problem, settings: RunSettings,
                   label: str) -> ProblemResult:
    """``label``'s result on ``p``, as the results file keeps it (:meth:`ProblemResult.recorded`)."""
    r = await run_problem(factory, source, p, budget=settings.budget, seed=settings.seed)
    failed = r.traces_failed
    if r.traces_launched and failed == r.traces_launched:
        msg = r.failures[0] if r.failures else "no reason given"
        raise ClientError(f"problem {p.id}: all {failed} traces failed; the first: {msg}")
    return replace(r, strategy=label).recorded()


def load_problems_any(name_or_path: str | Path, *, limit: int | None = None) -> list[Problem]:
    """Problems from a benchmark file (``question``/``answer`` lines) or from a trace dataset
    (any format :func:`~deepprune.formats.loaders.load_traces` reads, or a shipped name such as
    ``default``); the first ``limit`` of them."""
    from deepprune.formats.benchmarks import load_problems
    from deepprune.formats.datasets import resolve
    from deepprune.formats.loaders import detect_format, load_traces

    path = resolve(name_or_path)
    try:
        fmt = detect_format(path)
    except FormatError:
        fmt = None
    if fmt is None:
        problems = load_problems(path)
    else:
        problems = list(load_traces(path, fmt).problems)
    if limit is not None:
        if limit < 1:
            raise ConfigError("--limit", limit, "at least 1")
        problems = problems[:limit]
    return problems
