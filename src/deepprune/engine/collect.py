"""Sample K traces per problem from an OpenAI-compatible server into a ``deepprune/traces-v1`` file.

Resumable by construction:

* every trace ``(problem, index)`` has a deterministic seed, :func:`trace_seed` (``--seed`` mixed
  with the problem id and the index), so a restarted run asks for exactly the same samples;
* each finished trace is appended as one flushed JSON line the moment it completes
  (:class:`~deepprune.formats.tracefile.TraceWriter`); a run killed at any point (even
  ``kill -9``) loses only the traces in flight, and a partial last line is dropped on reopen;
* a restart with the same arguments reads the file, skips every ``(problem, index)`` already
  there and samples the rest; a file made with other settings (model, sampling, system
  prompt) is refused rather than mixed.

Order (``rounds``): traces are requested in rounds, e.g. ``8,16,24,32``: first indices 0-7 of
every problem, then 8-15 of every problem, and so on, so that whatever exists when a long
collection is stopped is a usable dataset with (almost) equal traces per problem.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from tqdm import tqdm

from deepprune.core.answers import extract_answer
from deepprune.core.errors import ClientError, ConfigError, DataError
from deepprune.core.seeds import trace_seed
from deepprune.core.types import FinishReason, Problem, Trace
from deepprune.formats.benchmarks import load_problems
from deepprune.formats.tracefile import TraceWriter
from deepprune.sources.accumulate import StreamAccumulator
from deepprune.sources.openai_client import EndpointConfig, StreamClient, StreamEnd, TokenChunk
from deepprune.sources.pool import EndpointPool, PoolConfig

__all__ = [
    "CollectSummary",
    "collect",
    "collect_header",
    "default_rounds",
    "plan_jobs",
    "select_problems",
    "trace_seed",
]

log = logging.getLogger(__name__)

_CHECKED_HEADER_KEYS = ("model", "sampling", "system_prompt", "endpoint")


def default_rounds(n: int, step: int = 8) -> tuple[int, ...]:
    """``step, 2*step, ..., n`` (the last round is always ``n``).

    >>> default_rounds(32)
    (8, 16, 24, 32)
    >>> default_rounds(5)
    (5,)
    """
    out = [*range(step, n, step), n]
    return tuple(out)


def select_problems(paths: Sequence[str | Path], *, select: Mapping[str, Sequence[str]] | None = None,
                    shuffle_seed: int | None = None, limit: int | None = None) -> list[Problem]:
    """Problems from benchmark files, file by file: filter, shuffle, then take the first ``limit``.

    ``select`` keeps problems whose ``meta[key]`` (as a string) is one of the values; problems
    that have no such key are kept, so one selection can mix e.g. MATH-500 levels and GSM8K.
    ``shuffle_seed`` applies a seeded permutation (numpy ``default_rng(seed)``) per file before
    ``limit``; None keeps file order. ``limit`` applies per file.
    """
    out: list[Problem] = []
    for path in paths:
        probs = load_problems(path)
        for key, values in (select or {}).items():
            allowed = {str(v) for v in values}
            probs = [p for p in probs if key not in p.meta or str(p.meta[key]) in allowed]
        if shuffle_seed is not None:
            perm = np.random.default_rng(shuffle_seed).permutation(len(probs))
            probs = [probs[int(i)] for i in perm]
        if limit is not None:
            probs = probs[:limit]
        out.extend(probs)
    if not out:
        raise DataError("the selection left no problems", path=", ".join(str(p) for p in paths))
    return out


def plan_jobs(problems: Sequence[Problem], n: int, rounds: Sequence[int],
              done: set[tuple[str, int]]) -> list[tuple[Problem, int]]:
    """The ``(problem, index)`` pairs still to sample, in round order (see the module doc)."""
    jobs: list[tuple[Problem, int]] = []
    lo = 0
    for hi in sorted({min(r, n) for r in rounds} | {n}):
        for p in problems:
            jobs.extend((p, i) for i in range(lo, hi) if (p.id, i) not in done)
        lo = hi
    return jobs


def collect_header(config: EndpointConfig, *, seed: int, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The dataset header: model, sampling, prompt; never the API key or the URL."""
    return {
        "model": config.model,
        "sampling": {**config.sampling(), "seed": seed},
        "system_prompt": config.system_prompt if config.chat else None,
        "endpoint": "chat" if config.chat else "completions",
        "token_count": "server",
        "confidence": (f"-(1/k) * sum of top-{config.top_logprobs} logprobs" if config.top_logprobs else None),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "generator": "deepprune collect",
        **(extra or {}),
    }


@dataclass(frozen=True)
class CollectSummary:
    """What a collect run did."""

    written: int
    skipped_existing: int
    failed: int
    tokens: int
    wall_s: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s > 0 else 0.0


def _check_resume(out: Path, existing: Mapping[str, Any], header: Mapping[str, Any]) -> None:
    for key in _CHECKED_HEADER_KEYS:
        if existing.get(key) != header.get(key):
            raise DataError(
                f"this file was collected with different settings ({key}: {existing.get(key)!r} in the "
                f"file, {header.get(key)!r} now); resume with the same arguments or write to another --out",
                path=out, line=1, field=key)


@dataclass(frozen=True)
class _Routed:
    """The clients of several endpoints behind one pool, streaming like one :class:`StreamClient`."""

    pool: EndpointPool
    clients: Sequence[StreamClient]

    def stream(self, prompt: str, *, seed: int) -> AsyncGenerator[TokenChunk | StreamEnd, None]:
        return self.pool.stream(self.clients, prompt, seed=seed)


async def _sample(client: StreamClient | _Routed, problem: Problem, index: int, seed: int,
                  on_tokens: Any) -> Trace:
    acc = StreamAccumulator()  # the token-counting rule shared with live runs
    ended = False
    async with aclosing(client.stream(problem.question, seed=seed)) as items:
        async for item in items:
            if isinstance(item, TokenChunk):
                acc.add(item)
                on_tokens(item.n)
            else:
                acc.end(item)
                ended = True
    assert ended
    text = acc.text
    exact = acc.has_token_data
    return Trace(problem.id, index, text, acc.n_tokens, extract_answer(text, problem.kind),
                 acc.finish_reason or FinishReason.UNKNOWN, seed,
                 tuple(acc.tokens) if exact else None,
                 tuple(acc.logprobs) if exact else None,
                 tuple(acc.confs) if exact else None)


async def collect(config: EndpointConfig | Sequence[EndpointConfig], problems: Sequence[Problem], out: str | Path, *, n: int,
                  rounds: Sequence[int] | None = None, seed: int = 0, progress: bool = True,
                  header_extra: Mapping[str, Any] | None = None,
                  transport: httpx.AsyncBaseTransport | None = None,
                  max_consecutive_failures: int | None = None,
                  pool_config: PoolConfig | None = None) -> CollectSummary:
    """Sample ``n`` traces per problem into ``out`` (a ``.jsonl`` file), resuming what is there.

    A trace that fails is logged and left for the next run (it is not written). The run stops
    with :class:`~deepprune.core.errors.ClientError` after ``max_consecutive_failures`` failures in a
    row (default ``2 * max_concurrency``): the server is probably down.

    ``config`` may list several endpoints of one model (``--base-url`` repeated): requests are
    routed between them by an :class:`~deepprune.sources.pool.EndpointPool` (fewest open
    streams, ``max_concurrency`` each, a failing endpoint's requests sent to the others); the
    header records the first one's settings (never a URL).
    """
    configs = (config,) if isinstance(config, EndpointConfig) else tuple(config)
    pool = EndpointPool(configs, pool_config)
    config = configs[0]
    out = Path(out)
    if out.suffix == ".gz":
        raise ConfigError("--out", str(out), "a plain .jsonl file while collecting (appends must survive a "
                                             "kill); compress it afterwards")
    if n < 1:
        raise ConfigError("--n", n, ">= 1")
    rounds = tuple(rounds) if rounds else default_rounds(n)
    header = collect_header(config, seed=seed, extra=header_extra)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = TraceWriter(out, header, check_header=lambda found: _check_resume(out, found, header))
    try:
        done = {(t.problem_id, t.index) for ts in writer.existing.traces.values() for t in ts}
        for p in problems:
            writer.add_problem(p)
        jobs = plan_jobs(problems, n, rounds, done)
        wanted = len(problems) * n
        skipped = wanted - len(jobs)
        if skipped:
            log.warning("resuming %s: %d of %d traces already there, %d to go", out, skipped, wanted, len(jobs))
        limit_fail = max_consecutive_failures or 2 * pool.capacity
        state = {"tokens": 0, "written": 0, "failed": 0, "streak": 0}
        t0 = time.monotonic()
        bar = tqdm(total=len(jobs), unit="trace", disable=not progress, dynamic_ncols=True, mininterval=1.0,
                   desc="collect")

        def on_tokens(k: int) -> None:
            state["tokens"] += k

        queue: asyncio.Queue[tuple[Problem, int]] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)
        fatal: list[BaseException] = []

        async def worker(client: _Routed) -> None:
            while not fatal:
                try:
                    problem, index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                s = trace_seed(seed, problem.id, index)
                try:
                    trace = await _sample(client, problem, index, s, on_tokens)
                except ClientError as exc:
                    state["failed"] += 1
                    state["streak"] += 1
                    log.warning("trace %s#%d failed (left for the next run): %s", problem.id, index, exc)
                    if state["streak"] >= limit_fail:
                        fatal.append(ClientError(f"{state['streak']} traces failed in a row; last error: {exc}"))
                    continue
                state["streak"] = 0
                writer.add_trace(trace)
                state["written"] += 1
                elapsed = time.monotonic() - t0
                bar.set_postfix_str(f"{state['tokens'] / max(elapsed, 1e-9):.1f} tok/s", refresh=False)
                bar.update(1)
                log.info("trace %s#%d: %d tokens, answer %r, %s", problem.id, index, trace.n_tokens,
                         trace.answer, trace.finish_reason)

        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(StreamClient(c, transport=transport)) for c in configs]
            routed = _Routed(pool, clients)
            await asyncio.gather(*(worker(routed) for _ in range(pool.capacity)))
        bar.close()
        if fatal:
            raise fatal[0]
        wall = time.monotonic() - t0
        return CollectSummary(state["written"], skipped, state["failed"], state["tokens"], wall)
    finally:
        writer.close()
