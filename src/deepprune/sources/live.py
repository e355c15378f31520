"""LiveSource: traces sampled from a real OpenAI-compatible server, one streaming request each.

It implements the same :class:`~deepprune.sources.base.TraceSource` /
:class:`~deepprune.sources.base.ProblemSession` protocol as the replay source, so the runner and
every strategy run unchanged.

* **launch** starts one streaming request (``n=1``) with the trace's own seed,
  :func:`deepprune.core.seeds.trace_seed` ``(seed, problem.id, trace_id)``: the same samples
  ``deepprune collect --seed`` records, on a server that honours seeds. At most
  ``config.max_concurrency`` streams are open at once per endpoint (over all sessions of the
  source); a launched trace waits for a free stream.
* **endpoints**: given several endpoints of one model, each new request (a launch or a resume's
  continuation) goes through an :class:`~deepprune.sources.pool.EndpointPool`: to the healthy
  endpoint with the fewest open streams; a request that fails before its first token because the
  endpoint is unwell marks it down and goes to another one (see :mod:`deepprune.sources.pool`).
  One endpoint is the same pool with one member.
* **tokens**: every token received is counted (``generated()``), with its DeepConf confidence
  when the server sends top-k logprobs; at the end of a stream without per-token logprobs the
  server's ``usage.completion_tokens`` when larger: the one rule of
  :class:`~deepprune.sources.accumulate.StreamAccumulator`, which ``collect`` uses too. Progress events are delivered only when the strategy's
  ``watch`` asked for them (after at least that many more tokens), never more often.
* **stop** cancels the trace's task, which closes its HTTP stream: the server sees the client
  go away and stops generating (llama.cpp logs "cancel task"; vLLM aborts the request). The
  trace costs the tokens received until then.
* **resume** sends a *new* request that continues the stopped text: chat requests end with the
  partial text as an assistant message (``continue_final_message``; llama.cpp prefills a
  trailing assistant message), plain completions append it to the prompt. It gets a fresh seed,
  and ``max_tokens`` minus the tokens already generated. Tokens are never charged twice.
* **failure**: a trace whose stream fails after retries (server down, 5xx, broken or stalled
  stream, malformed chunk) yields a :class:`~deepprune.core.events.TraceFailed` event with
  the tokens it had produced; the problem carries on with the other traces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from dataclasses import dataclass, field

import httpx

from deepprune.answers import extract_answer
from deepprune.core.events import Event, TraceFailed, TraceFinished, TraceProgress
from deepprune.core.seeds import trace_seed
from deepprune.errors import ClientError, ProtocolError
from deepprune.redact import redact
from deepprune.sources.accumulate import StreamAccumulator
from deepprune.sources.base import WatchFn
from deepprune.sources.openai_client import EndpointConfig, StreamClient, StreamEnd, TokenChunk
from deepprune.sources.pool import EndpointPool, PoolConfig
from deepprune.types import FinishReason, Problem

__all__ = ["LiveSession", "LiveSource"]

log = logging.getLogger(__name__)

_RUNNING, _STOPPED, _FINISHED, _FAILED = 0, 1, 2, 3
_PROGRESS, _END, _ERROR = 0, 1, 2


@dataclass(slots=True)
class _LiveTrace:
    status: int = _RUNNING
    acc: StreamAccumulator = field(default_factory=StreamAccumulator)
    """Text, confidences and the token count of every segment (the rule ``collect`` uses too)."""
    has_confs: bool = False
    delivered_confs: int = 0
    notify_at: int | None = None
    pending: bool = False
    task: asyncio.Task[None] | None = None
    version: int = 0
    segments: int = 0
    finish_reason: FinishReason = FinishReason.UNKNOWN
    error: str = ""

    @property
    def text(self) -> str:
        return self.acc.text

    @property
    def n(self) -> int:
        return self.acc.n_tokens

    @property
    def confs(self) -> list[float] | None:
        return self.acc.confs if self.has_confs else None


class LiveSession:
    """One problem's live traces. See the module docstring."""

    def __init__(self, clients: Sequence[StreamClient], pool: EndpointPool, problem: Problem, seed: int) -> None:
        self._clients = tuple(clients)
        self._pool = pool
        self._config = self._clients[0].config
        self.problem = problem
        self.seed = seed
        self.capacity: int | None = None
        self.has_confidence = self._config.top_logprobs > 0
        self._traces: dict[int, _LiveTrace] = {}
        self._queue: asyncio.Queue[tuple[int, int, int]] = asyncio.Queue()
        self._watch: WatchFn = lambda _tid: None

    # ------------------------------------------------------------------ protocol
    def set_watch(self, watch: WatchFn) -> None:
        self._watch = watch

    async def launch(self, trace_id: int) -> None:
        if trace_id in self._traces:
            raise ProtocolError(f"trace {trace_id} launched twice")
        st = _LiveTrace(has_confs=self.has_confidence)
        self._traces[trace_id] = st
        self._start(trace_id, st, prefill="")

    async def stop(self, trace_id: int) -> None:
        st = self._traces.get(trace_id)
        if st is None or st.status != _RUNNING:
            return
        st.status = _STOPPED
        st.version += 1
        await self._cancel(st)

    async def resume(self, trace_id: int) -> None:
        st = self._traces.get(trace_id)
        if st is None or st.status != _STOPPED:
            return
        st.status = _RUNNING
        st.version += 1
        st.pending = False
        self._start(trace_id, st, prefill=st.text)

    async def next_event(self) -> Event | None:
        while any(st.status == _RUNNING for st in self._traces.values()):
            tid, version, kind = await self._queue.get()
            st = self._traces[tid]
            if st.version != version or st.status != _RUNNING:
                continue  # from a stopped segment
            if kind == _PROGRESS:
                st.pending = False
                ev: Event = TraceProgress(tid, st.n, st.text, self._new_confs(st))
                self._arm(tid, st)
                return ev
            if kind == _END:
                st.status = _FINISHED
                confs = tuple(st.confs) if st.confs is not None and len(st.confs) == st.n else None
                logprobs = tuple(st.acc.logprobs) if confs is not None and len(st.acc.logprobs) == st.n else None
                text = st.text
                return TraceFinished(tid, st.n, text, extract_answer(text, self.problem.kind),
                                     st.finish_reason, confs, logprobs)
            st.status = _FAILED
            return TraceFailed(tid, st.n, st.error)
        return None

    def generated(self, trace_id: int) -> int:
        st = self._traces.get(trace_id)
        return 0 if st is None else st.n

    def running(self) -> list[int]:
        return [tid for tid, st in self._traces.items() if st.status == _RUNNING]

    # ------------------------------------------------------------------ internals
    def _new_confs(self, st: _LiveTrace) -> tuple[float, ...] | None:
        if st.confs is None:
            return None
        new = tuple(st.confs[st.delivered_confs:])
        st.delivered_confs = len(st.confs)
        return new

    def _arm(self, tid: int, st: _LiveTrace) -> None:
        want = self._watch(tid)
        st.notify_at = None if want is None else st.n + max(1, int(want))
        if st.notify_at is not None and st.n >= st.notify_at:  # pragma: no cover - max(1, .) guards
            self._post(tid, st, _PROGRESS)

    def _post(self, tid: int, st: _LiveTrace, kind: int) -> None:
        if kind == _PROGRESS:
            if st.pending:
                return
            st.pending = True
        self._queue.put_nowait((tid, st.version, kind))

    def _start(self, tid: int, st: _LiveTrace, prefill: str) -> None:
        self._arm(tid, st)
        st.segments += 1
        st.acc.new_stream()
        seed = trace_seed(self.seed, self.problem.id if st.segments == 1 else
                          f"{self.problem.id}#resume{st.segments - 1}", tid)
        st.task = asyncio.create_task(self._run(tid, st, st.version, seed, prefill),
                                      name=f"deepprune-trace-{self.problem.id}-{tid}")

    async def _run(self, tid: int, st: _LiveTrace, version: int, seed: int, prefill: str) -> None:
        cfg = self._config
        remaining = cfg.max_tokens - st.n
        try:
            if remaining <= 0:
                st.finish_reason = FinishReason.LENGTH
                self._post(tid, st, _END)
                return
            end: StreamEnd | None = None
            # the pool holds a stream on one endpoint until this block ends (aclosing: at once)
            async with aclosing(self._pool.stream(self._clients, self.problem.question, seed=seed,
                                                  max_tokens=remaining, prefill=prefill)) as items:
                async for item in items:
                    if st.version != version:
                        return
                    if isinstance(item, TokenChunk):
                        st.acc.add(item)
                        if st.notify_at is not None and st.n >= st.notify_at:
                            self._post(tid, st, _PROGRESS)
                    else:
                        end = item
            if end is not None:
                st.acc.end(end)  # may take the server's own count (see sources.accumulate)
                st.finish_reason = end.finish_reason
            self._post(tid, st, _END)
        except ClientError as exc:
            log.warning("trace %s#%d failed after %d tokens: %s", self.problem.id, tid, st.n, exc)
            st.error = redact(str(exc))
            self._post(tid, st, _ERROR)
        except Exception as exc:  # a bug must fail the trace, never hang the session
            log.exception("trace %s#%d: unexpected error", self.problem.id, tid)
            st.error = redact(f"unexpected {type(exc).__name__}: {exc}")
            self._post(tid, st, _ERROR)

    @staticmethod
    async def _cancel(st: _LiveTrace) -> None:
        task = st.task
        st.task = None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def aclose(self) -> None:
        """Cancel every trace still streaming (closes their connections)."""
        for st in self._traces.values():
            if st.status == _RUNNING:
                st.status = _STOPPED
                st.version += 1
            await self._cancel(st)


class LiveSource:
    """A :class:`~deepprune.sources.base.TraceSource` backed by OpenAI-compatible servers.

    ``config`` is one endpoint, or several endpoints of the same model (e.g. ``[replace(cfg,
    base_url=u) for u in urls]``) between which requests are routed by an
    :class:`~deepprune.sources.pool.EndpointPool` (``pool`` configures its health rules). The
    pool, and with it the concurrency bound (each endpoint's ``max_concurrency`` open streams),
    is shared by all sessions opened inside one event loop; each session opens its own HTTP
    client per endpoint. ``transport`` is for tests.
    """

    def __init__(self, config: EndpointConfig | Sequence[EndpointConfig], *,
                 transport: httpx.AsyncBaseTransport | None = None, pool: PoolConfig | None = None) -> None:
        self.configs: tuple[EndpointConfig, ...] = (config,) if isinstance(config, EndpointConfig) else tuple(config)
        EndpointPool(self.configs, pool)  # validate now (one model, at least one endpoint)
        self.config = self.configs[0]
        self.pool_config = pool or PoolConfig()
        self._transport = transport
        self._pool: EndpointPool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        if len(self.configs) == 1:
            return f"LiveSource(base_url={self.config.display_url!r}, model={self.config.model!r})"
        urls = [c.display_url for c in self.configs]
        return f"LiveSource(base_urls={urls!r}, model={self.config.model!r})"

    async def __aenter__(self) -> LiveSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing to release: each session closes its own streams and HTTP clients on exit."""
        self._pool = None
        self._loop = None

    @property
    def pool(self) -> EndpointPool | None:
        """The endpoint pool of the current event loop (None before the first session)."""
        return self._pool

    def _shared_pool(self) -> EndpointPool:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            self._pool = EndpointPool(self.configs, self.pool_config)
            self._loop = loop
        return self._pool

    @asynccontextmanager
    async def session(self, problem: Problem, *, seed: int = 0) -> AsyncIterator[LiveSession]:
        pool = self._shared_pool()
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(StreamClient(c, transport=self._transport))
                       for c in self.configs]
            sess = LiveSession(clients, pool, problem, seed)
            try:
                yield sess
            finally:
                await sess.aclose()
