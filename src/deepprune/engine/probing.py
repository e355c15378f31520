"""``deepprune probe``: record answer probes into a trace file.

For each trace and each cut ``tokens:N`` strictly before the trace's end, ask a model (any
OpenAI-compatible server) for its current answer after the trace's first ``N`` tokens
(:mod:`deepprune.sources.probe`: prompt + partial text + a "final answer" cue, greedy, a few
tokens) and store the probed answer, its mean logprob and the tokens it took as the trace's
``probes`` (a backward-compatible field of ``deepprune/traces-v1``). Replay then answers a
strategy's :class:`~deepprune.core.events.Probe` from them, exactly as a live run would ask.

The output file is the input file with probes added, in the input's order (so replay orderings
are unchanged), and its header gains a ``probe`` object naming the probing model, endpoint, cue,
token limit and cuts. The probing model may differ from the one that wrote the traces; reports
say so.

Resumable: the output is written trace by trace in the input's order (a trace is written only
when every trace before it is); a killed run leaves a prefix of the input, and running the same
command again checks that prefix (same source, same probe settings) and continues after it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from deepprune.core.errors import ConfigError, DataError
from deepprune.core.prefix import Truncation
from deepprune.core.types import AnswerProbe, Problem, Trace
from deepprune.formats.tracefile import TraceWriter, read_traces
from deepprune.sources.openai_client import EndpointConfig, StreamClient
from deepprune.sources.probe import PROBE_CUE, PROBE_MAX_TOKENS, probe_config, run_probe

__all__ = ["ProbeSummary", "parse_cuts", "probe_file", "probe_header"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeSummary:
    """What a probe run did."""

    traces: int
    """Traces written this run."""
    skipped_existing: int
    probes: int
    """Probe requests made."""
    past_end: int
    """(trace, cut) pairs not probed because the trace ends at or before the cut."""
    tokens: int
    """Tokens the probes generated."""
    wall_s: float


def parse_cuts(spec: str | Sequence[str]) -> tuple[int, ...]:
    """``"tokens:32,64,128"`` (or several ``tokens:N``) -> ``(32, 64, 128)``.

    >>> parse_cuts("tokens:32,64")
    (32, 64)
    >>> parse_cuts(["tokens:128", "tokens:16"])
    (16, 128)
    """
    items = [spec] if isinstance(spec, str) else list(spec)
    cuts: set[int] = set()
    for item in items:
        unit, _, values = item.partition(":")
        if unit != "tokens" or not values:
            raise ConfigError("--at", item, "tokens:N[,M,...] (cuts are counted in generated tokens)")
        for v in values.split(","):
            t = Truncation.parse(f"tokens:{v.strip()}")
            cuts.add(int(t.k))
    return tuple(sorted(cuts))


def probe_header(source_header: Mapping[str, Any], config: EndpointConfig, cuts: Sequence[int],
                 max_tokens: int) -> dict[str, Any]:
    """The output header: the source's, plus what probed it (never the URL or key)."""
    return {**source_header,
            "probe": {"model": config.model, "endpoint": "chat" if config.chat else "completions",
                      "system_prompt": config.system_prompt if config.chat else None,
                      "cue": PROBE_CUE, "max_tokens": max_tokens, "at": list(cuts),
                      "temperature": 0.0,
                      "created": datetime.now(UTC).isoformat(timespec="seconds"),
                      "generator": "deepprune probe"}}


_CHECKED = ("model", "endpoint", "system_prompt", "cue", "max_tokens", "at")


def _checker(path: Path, want: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], None]:
    def check(found: Mapping[str, Any]) -> None:
        got = found.get("probe")
        if not isinstance(got, Mapping):
            raise DataError("exists and has no probes header: not an earlier run of 'deepprune probe' "
                            "(choose another --out; nothing was changed)", path=path, line=1, field="probe")
        for key in _CHECKED:
            if got.get(key) != want["probe"][key]:
                raise DataError(f"was probed with {key}={got.get(key)!r}, this run asks {want['probe'][key]!r}: "
                                "use the same settings to resume, or another --out (nothing was changed)",
                                path=path, line=1, field=f"probe.{key}")
        for key in ("model", "created", "name"):
            if found.get(key) != want.get(key):
                raise DataError(f"holds probes of another trace file ({key} {found.get(key)!r} != "
                                f"{want.get(key)!r}); choose another --out (nothing was changed)",
                                path=path, line=1, field=key)
    return check


async def probe_file(src: str | Path, out: str | Path, config: EndpointConfig, cuts: Sequence[int], *,
                     max_tokens: int = PROBE_MAX_TOKENS, concurrency: int | None = None,
                     limit: int | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     transport: httpx.AsyncBaseTransport | None = None) -> ProbeSummary:
    """Probe every trace of ``src`` at ``cuts`` (token counts) into ``out`` (see the module doc).

    ``limit``: only the first ``limit`` problems. ``progress(done, total)`` is called per trace.
    ``transport`` is for tests.
    """
    if not cuts or any(c < 1 for c in cuts):
        raise ConfigError("--at", list(cuts), "one or more token counts >= 1")
    if Path(src).resolve() == Path(out).resolve():
        raise ConfigError("--out", str(out), "a file other than the input (the input is never changed)")
    ts = read_traces(src)
    problems: list[Problem] = list(ts.problems[:limit] if limit is not None else ts.problems)
    work: list[Trace] = [t for p in problems for t in ts.traces_of(p.id)]
    pcfg = probe_config(config, max_tokens=max_tokens)
    header = probe_header(ts.header, pcfg, cuts, max_tokens)
    out = Path(out)
    t0 = time.perf_counter()
    with TraceWriter(out, header, check_header=_checker(out, header)) as writer:
        have = [t for p in writer.existing.problems for t in writer.existing.traces_of(p.id)]
        for i, t in enumerate(have):
            if i >= len(work) or (t.problem_id, t.index) != (work[i].problem_id, work[i].index):
                raise DataError(f"its trace {i + 1} ({t.problem_id}#{t.index}) is not trace {i + 1} of "
                                f"{src}: not an earlier run of this probe (choose another --out)",
                                path=out, field="problem_id")
        for p in problems:
            writer.add_problem(p)
        start = len(have)
        todo = work[start:]
        n_probes = 0
        past_end = 0
        tokens = 0
        sem = asyncio.Semaphore(concurrency or pcfg.max_concurrency)
        question = {p.id: p.question for p in problems}

        async def one(t: Trace) -> Trace:
            nonlocal n_probes, past_end, tokens
            got: list[AnswerProbe] = []
            async with sem:
                for n in cuts:
                    if n >= t.n_tokens:
                        past_end += 1
                        continue
                    reply = await run_probe(client, question[t.problem_id], t.text_at(n))
                    n_probes += 1
                    tokens += reply.n_tokens
                    got.append(AnswerProbe(n, reply.answer, reply.logprob, reply.n_tokens))
            return dataclasses.replace(t, probes=tuple(got))

        async with StreamClient(pcfg, transport=transport) as client:
            tasks = [asyncio.create_task(one(t)) for t in todo]
            try:
                for k, task in enumerate(tasks):  # written strictly in input order
                    writer.add_trace(await task)
                    if progress is not None:
                        progress(start + k + 1, len(work))
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    return ProbeSummary(len(todo), start, n_probes, past_end, tokens, time.perf_counter() - t0)
