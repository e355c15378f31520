"""``deepprune determinacy``: how much of a trace's final answer its first N tokens decide.

The ``oracle`` strategy merges two traces when their *recorded* final answers agree. But a trace
is sampled: from the same N-token prefix the model could have ended elsewhere. Whatever a judge
reads in the prefixes, it can only predict the *distribution* of where each trace is heading,
never the realised draw. This module measures that distribution: for each of the first
``traces_per_problem`` traces of every problem it samples ``continuations`` fresh continuations
of the trace's first N generated tokens (the trace's own request, the prefix as a trailing
assistant message to continue, the recorded temperature / top-p, at most the recorded token cap
minus N new tokens, a seed of its own) and extracts each continuation's final answer
(:func:`run_continuations`); :func:`determinacy_report` turns them into:

* **determinacy**: the share of fresh continuations whose final answer equals the trace's
  recorded one (math-verify equivalence; two answer-less ends count as the same, as in the
  oracle), beside the share for a trace *from scratch* (two recorded traces of the same problem
  agreeing), per dataset half (problem id prefix) and over all;
* **continuation judge**: for every pair of continued traces of a problem, the score
  ``sum_a p_i(a) p_j(a)`` from ``c`` fresh continuations each (``p``: the continuations' answer
  shares) and its AUROC against the pair's oracle label (recorded answers equal), for
  ``c = 1 .. C``, pooled and within problems. As ``c`` grows it approaches the Bayes judge
  ``P(same end | both prefixes)``, which bounds the AUROC of *any* judge of the two prefixes
  (Neyman-Pearson): the ceiling of a DeepPrune judge at that cut. Beside it the lexical judge
  and the problem prior (reads no prefix) on the same pairs.

The continuations file (JSON Lines) starts with a header line (format
``deepprune/determinacy-v1``: model, endpoint, cut, sampling, the trace file's identity), then one
line per continuation, written as each ends; running the same command again skips what is there,
and a file made with other settings is refused unchanged. Header-less files (written by the
earlier ``benchmarks/answer_determinacy.py``) are read by the report.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import numpy as np

from deepprune.core.answers import extract_answer, group_answers
from deepprune.core.errors import ConfigError, DataError
from deepprune.core.seeds import trace_seed
from deepprune.core.types import Trace, TraceSet
from deepprune.formats.appendlog import prepare_append
from deepprune.judges.base import Pair
from deepprune.judges.metrics import auroc, within_problem_auroc
from deepprune.judges.registry import make_judge
from deepprune.sources.openai_client import EndpointConfig, StreamClient, StreamEnd, TokenChunk

__all__ = [
    "FORMAT",
    "SEED_BASE",
    "Continuation",
    "DeterminacyReport",
    "DeterminacyRow",
    "RunSummary",
    "determinacy_header",
    "determinacy_report",
    "read_continuations",
    "run_continuations",
]

FORMAT = "deepprune/determinacy-v1"

SEED_BASE = 7_000_000
"""Continuation ``j`` of a trace uses ``trace_seed(SEED_BASE + j, problem, index)``: never a
collection seed (those use the base seed 0)."""


@dataclass(frozen=True)
class Continuation:
    """One fresh continuation of a trace's first ``at`` tokens."""

    problem_id: str
    index: int
    """The continued trace's index."""
    at: int
    """The cut, in generated tokens."""
    j: int
    """Which continuation of the trace (0, 1, ...)."""
    seed: int
    answer: str | None
    """The final answer of prefix + continuation (None: none found)."""
    n_tokens: int
    """Tokens the continuation generated."""
    finish_reason: str

    def to_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunSummary:
    """What a continuation run did."""

    written: int
    skipped_existing: int
    """Continuations already in the output file (not run again)."""
    whole: int
    """Traces in scope that end at or before the cut (nothing to continue; skipped)."""
    tokens: int
    """Tokens the new continuations generated."""
    wall_s: float


def _in_scope(ts: TraceSet, traces_per_problem: int, limit: int | None) -> list[Trace]:
    problems = ts.problems[:limit] if limit is not None else ts.problems
    return [t for p in problems for t in ts.traces_of(p.id)[:traces_per_problem]]


def _sampling(ts: TraceSet) -> Mapping[str, Any]:
    s = ts.header.get("sampling", {})
    return s if isinstance(s, Mapping) else {}


def determinacy_header(ts: TraceSet, config: EndpointConfig, at: int, recorded_cap: int) -> dict[str, Any]:
    """The continuations file's first line: what made the continuations (never the URL or key)."""
    return {"format": FORMAT, "model": config.model, "endpoint": "chat" if config.chat else "completions",
            "system_prompt": config.system_prompt if config.chat else None, "at": at,
            "temperature": config.temperature, "top_p": config.top_p, "max_tokens": recorded_cap,
            "seed_base": SEED_BASE,
            "traces": {k: ts.header.get(k) for k in ("name", "model", "created")} | {"dataset": ts.name or None},
            "generator": "deepprune determinacy"}


_CHECKED = ("model", "endpoint", "system_prompt", "at", "temperature", "top_p", "max_tokens", "seed_base", "traces")


def _checker(path: Path, want: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], None]:
    def check(found: Mapping[str, Any]) -> None:
        if found.get("format") != FORMAT:
            what = ("has no header line (a file of the old benchmarks script? 'deepprune determinacy report' "
                    "reads it)" if "problem_id" in found else f"is not a {FORMAT} file")
            raise DataError(f"exists and {what}: not an earlier run of 'deepprune determinacy' "
                            "(choose another --out; nothing was changed)", path=path, line=1, field="format")
        for key in _CHECKED:
            if found.get(key) != want[key]:
                raise DataError(f"was made with {key}={found.get(key)!r}, this run asks {want[key]!r}: use the "
                                "same settings (and trace file) to resume, or another --out (nothing was changed)",
                                path=path, line=1, field=key)
    return check


def _int(rec: Mapping[str, Any], key: str, path: Path, n: int, low: int = 0) -> int:
    v = rec.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise DataError(f"expected a whole number >= {low}, got {v!r}", path=path, line=n, field=key)
    return v


def _record(rec: Any, path: Path, n: int) -> Continuation:
    if not isinstance(rec, dict):
        raise DataError("not a JSON object: not a continuation record", path=path, line=n)
    pid = rec.get("problem_id")
    if not isinstance(pid, str) or not pid:
        raise DataError(f"expected a problem id, got {pid!r}", path=path, line=n, field="problem_id")
    answer = rec.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise DataError(f"expected a string or null, got {answer!r}", path=path, line=n, field="answer")
    reason = rec.get("finish_reason", "unknown")
    if not isinstance(reason, str):
        raise DataError(f"expected a string, got {reason!r}", path=path, line=n, field="finish_reason")
    seed = rec.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataError(f"expected a whole number, got {seed!r}", path=path, line=n, field="seed")
    return Continuation(pid, _int(rec, "index", path, n), _int(rec, "at", path, n, 1), _int(rec, "j", path, n),
                        seed, answer, _int(rec, "n_tokens", path, n), reason)


def read_continuations(path: str | Path, *, allow_torn_tail: bool = False
                       ) -> tuple[Mapping[str, Any] | None, list[Continuation]]:
    """The header (None for a header-less file of the old script) and the continuations of
    ``path``. A malformed line raises :class:`DataError` naming the file, line and field; with
    ``allow_torn_tail`` an unparsable *last* line (a write cut by a kill) is ignored."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read: {exc}", path=p) from exc
    header: Mapping[str, Any] | None = None
    out: list[Continuation] = []
    last = max((i for i, x in enumerate(lines) if x.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            if allow_torn_tail and i == last and i > 0:
                break
            raise DataError(f"not JSON ({exc})", path=p, line=i + 1) from exc
        if i == 0 and isinstance(rec, dict) and "format" in rec:
            if rec["format"] != FORMAT:
                raise DataError(f"not a {FORMAT} file (format {rec['format']!r})", path=p, line=1, field="format")
            header = rec
            continue
        c = _record(rec, p, i + 1)
        if header is not None and c.at != header.get("at"):
            raise DataError(f"a continuation at {c.at} tokens in a file of the cut {header.get('at')!r}",
                            path=p, line=i + 1, field="at")
        out.append(c)
    return header, out


async def run_continuations(ts: TraceSet, config: EndpointConfig, at: int, *, source: str | Path | None = None,
                            traces_per_problem: int = 4, continuations: int = 3, limit: int | None = None,
                            recorded_cap: int | None = None, out: str | Path | None = None,
                            progress: Callable[[int, int], None] | None = None,
                            transport: httpx.AsyncBaseTransport | None = None
                            ) -> tuple[RunSummary, list[Continuation]]:
    """Continue the first ``at`` tokens of the first ``traces_per_problem`` traces of each problem
    ``continuations`` times (see the module doc); returns the summary and every continuation of
    this cut (those already in ``out`` first). ``config.max_tokens`` is ignored: a continuation
    generates at most ``recorded_cap - at`` tokens (``recorded_cap``: the trace file's
    ``sampling.max_tokens``, else 512). Work is ordered by ``j`` first, so a stopped run has the
    same number of continuations for (almost) every trace. ``out``: appended to as
    continuations end and resumed (None: nothing is written). ``transport`` is for tests."""
    if at < 1:
        raise ConfigError("--at", at, "a token count >= 1")
    if traces_per_problem < 1 or continuations < 1:
        raise ConfigError("--traces-per-problem/--continuations", (traces_per_problem, continuations), ">= 1")
    cap = recorded_cap if recorded_cap is not None else int(_sampling(ts).get("max_tokens", 512))
    cfg = dataclasses.replace(config, max_tokens=max(1, cap - at), top_logprobs=0)
    header = determinacy_header(ts, cfg, at, cap)
    have: list[Continuation] = []
    fh: IO[str] | None = None
    if out is not None:
        outp = Path(out)
        if source is not None and Path(source).exists() and outp.exists() and outp.resolve() == Path(source).resolve():
            raise ConfigError("--out", str(out), "a file other than the input (the input is never changed)")
        if outp.exists() and outp.stat().st_size > 0:
            prepare_append(outp, _checker(outp, header))  # refuses a file that is not ours, unchanged
            _, have = read_continuations(outp)
            fh = outp.open("a", encoding="utf-8")
        else:
            fh = outp.open("w", encoding="utf-8")
            fh.write(json.dumps(header) + "\n")
            fh.flush()
    done_keys = {(c.problem_id, c.index, c.j) for c in have}
    scope = _in_scope(ts, traces_per_problem, limit)
    whole = sum(1 for t in scope if t.n_tokens <= at)
    work = [(t, j) for j in range(continuations) for t in scope
            if t.n_tokens > at and (t.problem_id, t.index, j) not in done_keys]
    problem = {p.id: p for p in ts.problems}
    new: list[Continuation] = []
    tokens = 0
    t0 = time.perf_counter()
    sem = asyncio.Semaphore(cfg.max_concurrency)

    async def one(t: Trace, j: int, client: StreamClient) -> None:
        nonlocal tokens
        seed = trace_seed(SEED_BASE + j, t.problem_id, t.index)
        prefix = t.text_at(at)
        parts: list[str] = []
        n = 0
        reason = "unknown"
        async with sem:
            async for item in client.stream(problem[t.problem_id].question, seed=seed, prefill=prefix):
                if isinstance(item, TokenChunk):
                    parts.append(item.text)
                    n += item.n
                elif isinstance(item, StreamEnd):
                    reason = item.finish_reason.value
        c = Continuation(t.problem_id, t.index, at, j, seed,
                         extract_answer(prefix + "".join(parts), problem[t.problem_id].kind), n, reason)
        if fh is not None:
            fh.write(json.dumps(c.to_record()) + "\n")
            fh.flush()
        new.append(c)
        tokens += n
        if progress is not None:
            progress(len(new), len(work))

    try:
        if work:
            async with StreamClient(cfg, transport=transport) as client:
                tasks = [asyncio.create_task(one(t, j, client)) for t, j in work]
                try:
                    await asyncio.gather(*tasks)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        if fh is not None:
            fh.close()
    summary = RunSummary(len(new), len(have), whole, tokens, time.perf_counter() - t0)
    return summary, [*have, *new]


# ------------------------------------------------------------------ the report
@dataclass(frozen=True)
class _PairRow:
    half: str
    problem_id: str
    label: int
    """1 when the two recorded final answers are equivalent (the oracle's merge)."""
    continuations: tuple[float, ...]
    """The continuation judge's score with 1, 2, ... continuations per trace."""
    lexical: float
    prior: float
    """The problem's from-scratch agreement: a score that reads no prefix."""


@dataclass(frozen=True)
class DeterminacyRow:
    """The figures of one dataset half (problem id prefix), or of ``all``."""

    half: str
    traces: int
    """Continued traces."""
    whole: int
    """Traces in scope that the cut leaves whole (end at or before it; skipped)."""
    in_scope: int
    """Traces in scope: the first ``traces_per_problem`` of each problem."""
    continuations_per_trace: int
    determinacy: float
    """Share of fresh continuations whose final answer equals the trace's recorded one."""
    from_scratch: float
    """Share of (continued trace, other recorded trace of its problem) that agree."""
    pairs: int
    positives: int
    auroc_problem_prior: float
    auroc_lexical: float
    within_lexical: float
    auroc_continuations: tuple[float, ...]
    """Pooled AUROC of the continuation judge with c = 1 .. C continuations."""
    within_continuations: tuple[float, ...]
    """Within-problem AUROC of the continuation judge with c = 1 .. C."""
    within_lexical_ci95: tuple[float, float] | None = None
    within_continuations_ci95: tuple[float, float] | None = None
    """Bootstrap interval (problems resampled) of ``within_continuations[-1]``."""

    @property
    def whole_share(self) -> float:
        return self.whole / self.in_scope if self.in_scope else float("nan")

    def to_json(self) -> dict[str, Any]:
        n_c = self.continuations_per_trace
        out: dict[str, Any] = {
            "traces": self.traces, "whole": self.whole, "in_scope": self.in_scope, "whole_share": self.whole_share,
            "continuations_per_trace": n_c, "determinacy": self.determinacy, "from_scratch": self.from_scratch,
            "pairs": self.pairs, "positives": self.positives, "auroc_problem_prior": self.auroc_problem_prior,
            "auroc_lexical": self.auroc_lexical, "within_lexical": self.within_lexical}
        for c in range(1, n_c + 1):
            out[f"auroc_continuations_{c}"] = self.auroc_continuations[c - 1]
            out[f"within_continuations_{c}"] = self.within_continuations[c - 1]
        if self.within_lexical_ci95 is not None:
            out["within_lexical_ci95"] = list(self.within_lexical_ci95)
        if self.within_continuations_ci95 is not None:
            out[f"within_continuations_{n_c}_ci95"] = list(self.within_continuations_ci95)
        return out


@dataclass(frozen=True)
class DeterminacyReport:
    traces: str
    """The trace file (or dataset name) as given."""
    at: int
    rows: tuple[DeterminacyRow, ...]
    """One per dataset half in problem order, then ``all``."""

    def row(self, half: str) -> DeterminacyRow:
        for r in self.rows:
            if r.half == half:
                return r
        raise KeyError(half)

    def to_json(self) -> dict[str, Any]:
        return {"traces": self.traces, "at": self.at, "rows": {r.half: r.to_json() for r in self.rows}}


def _within(pairs: Sequence[_PairRow], score: Callable[[_PairRow], float]) -> float:
    if not any(r.label for r in pairs) or all(r.label for r in pairs):
        return float("nan")
    return within_problem_auroc([r.label for r in pairs], [score(r) for r in pairs], [r.problem_id for r in pairs])


def _bootstrap(pairs: Sequence[_PairRow], score: Callable[[_PairRow], float], *, resamples: int,
               seed: int = 0) -> tuple[float, float] | None:
    """95% interval of the within-problem AUROC over problems resampled with replacement."""
    by_problem: dict[str, list[_PairRow]] = defaultdict(list)
    for r in pairs:
        by_problem[r.problem_id].append(r)
    keys = sorted(by_problem)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(resamples):
        pick = rng.integers(0, len(keys), len(keys))
        sample = [dataclasses.replace(r, problem_id=f"{k}#{n}") for n, k in enumerate(pick)
                  for r in by_problem[keys[k]]]
        v = _within(sample, score)
        if not np.isnan(v):
            vals.append(v)
    if not vals:
        return None
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def _shares(groups: Sequence[int]) -> dict[int, float]:
    out: dict[int, float] = defaultdict(float)
    for g in groups:
        out[g] += 1 / len(groups)
    return out


def _mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if xs else float("nan")


def determinacy_report(ts: TraceSet, continuations: Iterable[Continuation], at: int, *, name: str = "",
                       traces_per_problem: int = 4, limit: int | None = None,
                       bootstrap: int = 0, seed: int = 0) -> DeterminacyReport:
    """The figures (see the module doc) of the continuations at cut ``at`` (others are ignored).
    ``traces_per_problem`` and ``limit`` only set the scope in which cut-whole traces are counted.
    ``bootstrap``: problem resamples for the intervals (0: none)."""
    conts: dict[tuple[str, int], dict[int, str | None]] = defaultdict(dict)
    for cont in continuations:
        if cont.at == at:
            conts[(cont.problem_id, cont.index)][cont.j] = cont.answer
    # continuations per trace: the most every continued trace has as j = 0, 1, ...
    n_c = min((next(k for k in itertools.count() if k not in v) for v in conts.values()), default=0)
    whole: dict[str, int] = defaultdict(int)
    in_scope: dict[str, int] = defaultdict(int)
    for t in _in_scope(ts, traces_per_problem, limit):
        half = t.problem_id.split("-")[0]
        in_scope[half] += 1
        whole[half] += t.n_tokens <= at
    lexical = make_judge("lexical")
    pairs: list[_PairRow] = []
    det: dict[str, list[float]] = defaultdict(list)
    scratch: dict[str, list[float]] = defaultdict(list)
    for p in ts.problems:
        half = p.id.split("-")[0]
        trs = ts.traces_of(p.id)
        mine = [t for t in trs if (p.id, t.index) in conts]
        if not mine or n_c == 0:
            continue
        # one grouping per problem: recorded answers of all traces + every continuation
        recorded = [t.answer for t in trs]
        extra = [(t.index, conts[(p.id, t.index)][j]) for t in mine for j in range(n_c)]
        groups = group_answers(recorded + [a for _, a in extra], p.kind)
        g_rec = {t.index: groups[i] for i, t in enumerate(trs)}
        g_cont: dict[int, list[int]] = defaultdict(list)
        for (idx, _), g in zip(extra, groups[len(trs):], strict=True):
            g_cont[idx].append(g)
        for t in mine:
            det[half].append(float(np.mean([g == g_rec[t.index] for g in g_cont[t.index]])))
        # from scratch: another recorded trace of the problem ends with this one's answer
        agree = [float(np.mean([g_rec[u.index] == g_rec[t.index] for u in trs if u.index != t.index]))
                 if len(trs) > 1 else float("nan") for t in trs]
        scratch[half].extend(a for t, a in zip(trs, agree, strict=True) if (p.id, t.index) in conts)
        prior = float(np.mean(agree))
        for a, b in itertools.combinations(mine, 2):
            scores = []
            for c in range(1, n_c + 1):
                sa, sb = _shares(g_cont[a.index][:c]), _shares(g_cont[b.index][:c])
                scores.append(sum(v * sb.get(k, 0.0) for k, v in sa.items()))
            lex = float(lexical.predict_proba([Pair(a.text_at(at), b.text_at(at))])[0])
            pairs.append(_PairRow(half, p.id, int(g_rec[a.index] == g_rec[b.index]), tuple(scores), lex, prior))
    halves_seen = list(dict.fromkeys([*det, *in_scope]))
    rows = []
    last = n_c - 1
    for half in [*halves_seen, "all"]:
        halves = halves_seen if half == "all" else [half]
        mp = [r for r in pairs if r.half in halves]
        y = [r.label for r in mp]
        ok = bool(y) and 0 < sum(y) < len(y)
        rows.append(DeterminacyRow(
            half=half, traces=sum(len(det[h]) for h in halves), whole=sum(whole[h] for h in halves),
            in_scope=sum(in_scope[h] for h in halves), continuations_per_trace=n_c,
            determinacy=_mean([v for h in halves for v in det[h]]),
            from_scratch=_mean([v for h in halves for v in scratch[h]]),
            pairs=len(y), positives=int(sum(y)),
            auroc_problem_prior=auroc(y, [r.prior for r in mp]) if ok else float("nan"),
            auroc_lexical=auroc(y, [r.lexical for r in mp]) if ok else float("nan"),
            within_lexical=_within(mp, lambda r: r.lexical),
            auroc_continuations=tuple(auroc(y, [r.continuations[c] for r in mp]) if ok else float("nan")
                                      for c in range(n_c)),
            within_continuations=tuple(_within(mp, lambda r, c=c: r.continuations[c])  # type: ignore[misc]
                                       for c in range(n_c)),
            within_lexical_ci95=_bootstrap(mp, lambda r: r.lexical, resamples=bootstrap, seed=seed)
            if bootstrap and ok else None,
            within_continuations_ci95=_bootstrap(mp, lambda r: r.continuations[last], resamples=bootstrap,
                                                 seed=seed) if bootstrap and ok and n_c else None))
    return DeterminacyReport(name, at, tuple(rows))
