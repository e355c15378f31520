"""An OpenAI-compatible server that replays recorded traces as token streams.

``ReplayServer`` serves a :class:`~deepprune.types.TraceSet` over HTTP the way vLLM, SGLang or
llama.cpp's ``llama-server`` serve a model, so that the live path (``LiveSource``, ``deepprune
run``) can be tested hermetically and timed without a GPU:

* ``POST /v1/chat/completions`` and ``POST /v1/completions``, streaming (SSE ``data: {...}``
  chunks, one token per chunk, ``data: [DONE]`` at the end) or not; ``logprobs`` with
  ``top_logprobs`` when the trace has them; ``usage`` in the final chunk (or, with
  ``stream_options.include_usage``, in a last chunk with empty ``choices`` as OpenAI does);
* ``GET /v1/models``, ``GET /health``, ``GET /stats`` (JSON), ``GET /metrics`` (Prometheus
  text), ``POST /stats/reset``.

**Which problem.** A request names its problem by an explicit ``problem_id`` (a top-level body
field or ``metadata.problem_id``), else by its prompt: the text of the last user message (chat)
or the ``prompt`` (completions) equal to a problem's question, else the longest question that the
prompt contains (so a client that wraps the question in a template still matches). A prompt that
matches nothing gets HTTP 404 with a message saying what to send.

**Which trace.** ``assign="seed"``: a request's ``seed`` picks the recorded trace with that seed;
else, when the seed is deepprune's ``trace_seed(seed_base, problem_id, k)`` (what a
``LiveSource`` run with ``--seed seed_base`` sends for its k-th trace), trace k; any other seed is
given the problem's next trace not yet given to another seed (in recorded order, wrapping around
when all are taken) and keeps it: the same seed always gets the same trace, distinct seeds get
distinct traces while there are enough. ``"round-robin"``: the problem's traces in recorded
order, one per request, wrapping around; ``"auto"`` (default): by seed when the request carries
one, otherwise round-robin. A request that continues a stopped trace (a trailing assistant
message in chat, or the question followed by more text in a completions prompt) gets that trace
from the token after the given text. Requests never receive more tokens than ``max_tokens``
(then ``finish_reason`` is ``length``).

**Tokens.** A trace with recorded token strings is streamed token by token. Otherwise its text is
cut into ``n_tokens`` pieces at the character positions ``len(text) * i // n_tokens``, so the
text streamed after ``i`` tokens is exactly :meth:`~deepprune.types.Trace.text_at` ``(i)``, the
text a replay shows a strategy. Each stream is paced at ``rate`` tokens per second
(``0``: as fast as possible), after ``latency_s`` before the first token.

**Logprobs.** A token's ``logprob`` is the recorded sampled-token logprob, else ``-conf``. Traces
record the DeepConf confidence ``conf = -(1/k) * sum(top-k logprobs)`` but not the top-k
alternatives, so ``top_logprobs`` (k as requested) are *synthesised* so that their mean is
exactly ``-conf``: the sampled token with its logprob plus ``k - 1`` placeholder tokens
(``<alt1>``, ...) sharing the rest, or, when that would need a positive logprob, ``k`` entries
of ``-conf``. A client computing the DeepConf confidence from them gets the recorded value (up
to float rounding). Traces without confidences give only the sampled token's entry; traces with
neither logprobs nor confidences are served without ``logprobs``.

**Cancellation.** The server watches every connection while it streams: when the client closes
the stream, generation stops at once. ``/stats`` counts tokens served and tokens *not* generated
because of cancellation (the rest of the trace up to ``max_tokens``), so a test can prove a stop
saved tokens.

**Faults** (:class:`Fault`) for tests, server-wide (``faults=`` or :meth:`ReplayServer.add_fault`:
a queue; each request gets the first listed fault that still applies, each fault for its first
``times`` matching requests or for all of them) or per request (header
``X-Deepprune-Fault: SPEC``, on top of the server-wide one):
``refuse`` (close the connection without answering), ``status:CODE`` (HTTP 5xx / 429 before the
first token), ``drop:N`` (abort the connection after N tokens), ``stall:N:SECONDS`` (send nothing
for SECONDS after N tokens), ``malformed:N`` (one broken SSE chunk after N tokens),
``nologprobs`` (answer without logprobs).

The server is a small HTTP/1.1 implementation on :mod:`asyncio` streams (keep-alive, chunked
responses) with no dependency beyond the standard library; it runs in-process in tests
(:meth:`ReplayServer.in_thread`) on a free port.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import enum
import itertools
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from deepprune.collect import trace_seed
from deepprune.errors import ConfigError
from deepprune.tokens import approx_tokens
from deepprune.types import FinishReason, Problem, Trace, TraceSet

__all__ = [
    "MAX_TOP_LOGPROBS",
    "Assign",
    "Fault",
    "FaultKind",
    "ReplayServer",
    "RequestRecord",
    "ServerConfig",
    "ServerStats",
    "synth_top_logprobs",
    "token_pieces",
]

log = logging.getLogger(__name__)

_MAX_HEADER = 64 * 1024
_MAX_BODY = 32 * 1024 * 1024
MAX_TOP_LOGPROBS = 20
"""The most ``top_logprobs`` a request may ask for (OpenAI's limit); more is HTTP 400."""
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class Assign(enum.StrEnum):
    """How a request is given one of its problem's recorded traces."""

    AUTO = "auto"
    """By seed when the request has one, else round-robin."""
    SEED = "seed"
    """The trace recorded with the request's seed, else one fixed per seed (first come, first
    served; seed 0 without one)."""
    ROUND_ROBIN = "round-robin"
    """The problem's traces in recorded order, one per request, wrapping around."""


class FaultKind(enum.StrEnum):
    REFUSE = "refuse"
    """Close the connection without an answer (a reset before the first byte)."""
    STATUS = "status"
    """Answer with an HTTP error status (5xx, 429) before the first token."""
    DROP = "drop"
    """Abort the connection after ``after`` tokens (no end of stream)."""
    STALL = "stall"
    """Send nothing for ``seconds`` after ``after`` tokens, then go on."""
    MALFORMED = "malformed"
    """Send one SSE chunk that is not valid JSON after ``after`` tokens, then go on."""
    NO_LOGPROBS = "nologprobs"
    """Answer without logprobs even when they were asked for."""


@dataclass(frozen=True)
class Fault:
    """One injected fault (see the module docstring). Parse the CLI form with :meth:`parse`."""

    kind: FaultKind
    after: int = 0
    """Tokens sent before the fault (drop, stall, malformed)."""
    status: int = 503
    """HTTP status for ``status`` faults."""
    seconds: float = 0.0
    """Stall length in seconds."""
    times: int | None = None
    """Server-wide faults: apply to the first ``times`` matching requests (None: every one)."""
    problem_id: str | None = None
    """Server-wide faults: only requests for this problem (None: any)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FaultKind(self.kind))
        if self.after < 0:
            raise ConfigError("fault after", self.after, "a token count >= 0")
        if self.kind is FaultKind.STATUS and not 400 <= self.status <= 599:
            raise ConfigError("fault status", self.status, "an HTTP error status (400-599)")
        if self.seconds < 0:
            raise ConfigError("fault seconds", self.seconds, ">= 0")
        if self.times is not None and self.times < 1:
            raise ConfigError("fault times", self.times, "at least 1 (or None for every request)")

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """``KIND[:ARG[:ARG]][@TIMES]``.

        >>> Fault.parse("status:429@2")
        Fault(kind=<FaultKind.STATUS: 'status'>, after=0, status=429, seconds=0.0, times=2, problem_id=None)
        >>> Fault.parse("stall:5:1.5").seconds
        1.5
        """
        body, at, times_s = spec.strip().partition("@")
        parts = body.split(":")
        try:
            kind = FaultKind(parts[0])
        except ValueError as exc:
            raise ConfigError("fault", spec, "one of " + ", ".join(k.value for k in FaultKind)
                              + " (e.g. status:503@2, drop:10, stall:5:3.0)") from exc
        args = parts[1:]
        want = {FaultKind.REFUSE: 0, FaultKind.STATUS: 1, FaultKind.DROP: 1, FaultKind.STALL: 2,
                FaultKind.MALFORMED: 1, FaultKind.NO_LOGPROBS: 0}[kind]
        if len(args) > want:
            raise ConfigError("fault", spec, f"{kind.value} with at most {want} ':' argument(s)")
        try:
            times = int(times_s) if at else None
            if kind is FaultKind.STATUS:
                return cls(kind, status=int(args[0]) if args else 503, times=times)
            if kind is FaultKind.STALL:
                after = int(args[0]) if args else 0
                return cls(kind, after=after, seconds=float(args[1]) if len(args) > 1 else 5.0, times=times)
            return cls(kind, after=int(args[0]) if args else 0, times=times)
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError("fault", spec, "numbers where numbers belong (e.g. drop:10@1)") from exc


@dataclass(frozen=True)
class ServerConfig:
    """How a :class:`ReplayServer` serves its traces."""

    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port (read it back from ``ReplayServer.port``)."""
    rate: float = 50.0
    """Tokens per second per stream (0: as fast as possible)."""
    latency_s: float = 0.0
    """Delay before the first token of every stream (time to first token)."""
    model: str = ""
    """Model name reported (default: the traces' model, else ``deepprune-replay``)."""
    assign: Assign = Assign.AUTO
    faults: tuple[Fault, ...] = ()
    seed_base: int = 0
    """Requests whose seed is deepprune's ``trace_seed(seed_base, problem_id, k)`` (what
    ``LiveSource`` and ``collect`` send for trace k with ``--seed seed_base``) get recorded trace k."""
    history: int = 10_000
    """How many per-request records ``/stats`` keeps (the totals count every request)."""
    idle_timeout_s: float = 60.0
    """A connection that starts no request for this long (a new one, or idle between keep-alive
    requests) is closed."""
    request_timeout_s: float = 30.0
    """A request must arrive whole (head and body) within this long of its first byte, else the
    server answers 408 and closes the connection (half-sent requests, slowloris)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "assign", Assign(self.assign))
        object.__setattr__(self, "faults", tuple(self.faults))
        if self.rate < 0:
            raise ConfigError("rate", self.rate, "tokens per second >= 0 (0: unpaced)")
        if self.latency_s < 0:
            raise ConfigError("latency_s", self.latency_s, ">= 0")
        if not 0 <= self.port <= 65535:
            raise ConfigError("port", self.port, "0-65535")
        for name in ("idle_timeout_s", "request_timeout_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(name, value, "a number of seconds > 0")


@dataclass(frozen=True)
class RequestRecord:
    """What the server did with one completion request."""

    id: int
    endpoint: str
    problem_id: str | None
    trace_index: int | None
    seed: int | None
    planned_tokens: int
    """Tokens this request would get if read to the end (trace length capped by max_tokens)."""
    sent_tokens: int
    outcome: str
    """``completed``, ``cancelled`` (the client went away), ``fault:<kind>``, ``error:<status>``."""
    wall_s: float
    offset: int = 0
    """Tokens of the trace before this request's first (a continuation of a stopped trace)."""


@dataclass(frozen=True)
class ServerStats:
    """Totals since the start (or the last reset). ``tokens_cancelled`` are tokens the server did
    *not* generate because the client closed the stream early."""

    requests: int
    streams_completed: int
    streams_cancelled: int
    streams_faulted: int
    errors: int
    tokens_served: int
    tokens_cancelled: int
    active_streams: int
    records: tuple[RequestRecord, ...] = field(default=(), repr=False)

    def to_dict(self, *, records: bool = True) -> dict[str, Any]:
        d = asdict(self)
        if not records:
            d.pop("records")
        return d


# --------------------------------------------------------------------------- token helpers
def token_pieces(trace: Trace) -> tuple[str, ...]:
    """The ``n_tokens`` text pieces a trace is streamed as (see the module docstring).

    >>> from deepprune.types import Trace
    >>> token_pieces(Trace("p", 0, "abcdef", 3, None))
    ('ab', 'cd', 'ef')
    """
    if trace.tokens is not None:
        return trace.tokens
    n, text = trace.n_tokens, trace.text
    cuts = [len(text) * i // n for i in range(n + 1)] if n else [0]
    pieces = [text[cuts[i]:cuts[i + 1]] for i in range(n)]
    if pieces:
        pieces[-1] = text[cuts[n - 1]:]
    return tuple(pieces)


def synth_top_logprobs(token: str, logprob: float | None, conf: float, k: int) -> list[tuple[str, float]]:
    """``k`` (token, logprob) alternatives whose mean logprob is exactly ``-conf``.

    The sampled ``token`` comes first with ``logprob`` (when known); ``k - 1`` placeholders
    ``<alt1>``... share the rest; when that would need a positive logprob every entry is ``-conf``.

    >>> alts = synth_top_logprobs("4", -0.1, 0.5, 4)
    >>> round(-sum(v for _, v in alts) / 4, 12)
    0.5
    """
    if k <= 0:
        return []
    if logprob is not None and k >= 2:
        rest = (-k * conf - logprob) / (k - 1)
        if rest <= 0.0:
            return [(token, logprob)] + [(f"<alt{j}>", rest) for j in range(1, k)]
    return [(token, -conf)] + [(f"<alt{j}>", -conf) for j in range(1, k)]


# --------------------------------------------------------------------------- HTTP plumbing
class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


class _Conn:
    """One client connection: request parsing, responses, and disconnect watching."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 idle_timeout_s: float = 60.0, request_timeout_s: float = 30.0) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_timeout_s = idle_timeout_s
        self.request_timeout_s = request_timeout_s
        self._pending = b""
        self._watch: asyncio.Future[bytes] | None = None
        self.gone = False

    async def read_request(self) -> _Request | None:
        """The next request; None when the client closed the connection or stayed idle for
        ``idle_timeout_s``. A request must arrive whole within ``request_timeout_s`` of its
        first byte (else 408)."""
        if not self._pending:
            try:
                async with asyncio.timeout(self.idle_timeout_s):
                    self._pending = await self.reader.read(1)
            except TimeoutError:
                return None
            if not self._pending:
                return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                head = await self.reader.readuntil(b"\r\n\r\n")
        except TimeoutError as exc:
            raise _BadRequest(408, f"request head not complete within {self.request_timeout_s:g} s") from exc
        except asyncio.IncompleteReadError as exc:
            if (self._pending + exc.partial).strip():
                raise _BadRequest(400, "incomplete request head") from exc
            return None
        except asyncio.LimitOverrunError as exc:
            raise _BadRequest(413, "request head too large") from exc
        head = self._pending + head
        self._pending = b""
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError as exc:
            raise _BadRequest(400, f"bad request line {lines[0]!r}") from exc
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest(400, f"bad header line {line!r}")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _BadRequest(400, "chunked request bodies are not supported; send Content-Length")
        raw_length = headers.get("content-length", "0")
        if not (raw_length.isascii() and raw_length.isdigit()):
            raise _BadRequest(400, f"bad Content-Length {raw_length[:40]!r} (expected a byte count >= 0)")
        length = int(raw_length)
        if length > _MAX_BODY:
            raise _BadRequest(413, f"request body over {_MAX_BODY} bytes")
        try:
            async with asyncio.timeout_at(deadline):
                body = await self.reader.readexactly(length) if length else b""
        except TimeoutError as exc:
            raise _BadRequest(408, f"request body not complete within {self.request_timeout_s:g} s") from exc
        conn_hdr = headers.get("connection", "").lower()
        keep = conn_hdr != "close" if version == "HTTP/1.1" else conn_hdr == "keep-alive"
        return _Request(method.upper(), target.split("?", 1)[0], headers, body, keep)

    # --- disconnect watching (the client sends nothing while a response streams)
    def start_watch(self) -> None:
        self._watch = asyncio.ensure_future(self.reader.read(1))

    async def wait_gone(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: just check); True when the client went away."""
        if self.gone:
            return True
        w = self._watch
        if w is None:
            if timeout:
                await asyncio.sleep(timeout)
            return False
        if timeout is None or timeout <= 0:
            if not w.done():
                await asyncio.sleep(0)
        else:
            await asyncio.wait({w}, timeout=timeout)
        if w.done():
            data = b"" if w.cancelled() or w.exception() is not None else w.result()
            if data:  # the client sent the start of its next request: keep it, watch on
                self._pending += data
                self._watch = asyncio.ensure_future(self.reader.read(1))
                return False
            self.gone = True
        return self.gone

    async def stop_watch(self) -> None:
        w, self._watch = self._watch, None
        if w is None:
            return
        if w.done():
            if not w.cancelled() and w.exception() is None and w.result():
                self._pending += w.result()
            elif not w.cancelled():
                self.gone = True
            return
        w.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await w

    # --- writing
    async def write(self, data: bytes) -> None:
        if self.gone or self.writer.is_closing():
            raise ConnectionResetError("client went away")
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, status: int, body: bytes, content_type: str, *, keep_alive: bool,
                   headers: Mapping[str, str] | None = None) -> None:
        hdrs = {"Content-Type": content_type, "Content-Length": str(len(body)),
                "Connection": "keep-alive" if keep_alive else "close", **(headers or {})}
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        await self.write(head.encode("latin-1") + body)

    async def send_json(self, status: int, obj: Any, *, keep_alive: bool,
                        headers: Mapping[str, str] | None = None) -> None:
        await self.send(status, json.dumps(obj).encode(), "application/json", keep_alive=keep_alive,
                        headers=headers)

    async def start_stream(self, headers: Mapping[str, str]) -> None:
        hdrs = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                "Transfer-Encoding": "chunked", "Connection": "keep-alive", **headers}
        head = "HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        await self.write(head.encode("latin-1"))

    async def chunk(self, data: bytes) -> None:
        await self.write(b"%x\r\n%s\r\n" % (len(data), data))

    async def end_stream(self) -> None:
        await self.write(b"0\r\n\r\n")

    def abort(self) -> None:
        self.gone = True
        self.writer.transport.abort()


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 429:
        kind = "rate_limit_error"
    return {"error": {"message": message, "type": kind, "code": status}}


# --------------------------------------------------------------------------- the server
@dataclass
class _Counters:
    requests: int = 0
    completed: int = 0
    cancelled: int = 0
    faulted: int = 0
    errors: int = 0
    served: int = 0
    cancelled_tokens: int = 0
    active: int = 0


@dataclass
class _FaultSlot:
    fault: Fault
    remaining: int | None


class ReplayServer:
    """Serves ``traceset`` as an OpenAI-compatible endpoint (see the module docstring).

    Use it as an async context manager in a running loop (``async with ReplayServer(ts) as s``),
    or from synchronous code with ``with ReplayServer(ts).in_thread() as s:`` (its own loop in a
    daemon thread). ``s.base_url`` is ``http://HOST:PORT/v1``.
    """

    def __init__(self, traceset: TraceSet, config: ServerConfig | None = None) -> None:
        self.traceset = traceset
        self.config = config or ServerConfig()
        self.model = self.config.model or str(traceset.header.get("model") or "deepprune-replay")
        self._by_id: dict[str, Problem] = {p.id: p for p in traceset.problems}
        self._by_question: dict[str, Problem] = {}
        for p in traceset.problems:
            self._by_question.setdefault(p.question.strip(), p)
        self._rr: dict[str, int] = {}
        self._by_seed: dict[str, dict[int, int]] = {}
        self._pieces: dict[tuple[str, int], tuple[str, ...]] = {}
        self._cum: dict[tuple[str, int], list[int]] = {}
        self._seed_index: dict[str, dict[int, int]] = {
            p.id: {trace_seed(self.config.seed_base, p.id, k): k for k in range(len(traceset.traces_of(p.id)))}
            for p in traceset.problems}
        self._lock = threading.Lock()
        self._c = _Counters()
        self._records: deque[RequestRecord] = deque(maxlen=max(1, self.config.history))
        self._ids = itertools.count(1)
        self._faults = [_FaultSlot(f, f.times) for f in self.config.faults]
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port: int = self.config.port

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"http://{host}:{self.port}/v1"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.config.host, self.config.port,
                                                  limit=_MAX_HEADER)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("replay server: %d problems, %d traces at %s (rate %s tok/s per stream)",
                 len(self.traceset.problems), self.traceset.n_traces, self.base_url,
                 self.config.rate or "unpaced")

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.abort()
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> ReplayServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.aclose()

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[ReplayServer]:
        """Run the server on its own event loop in a daemon thread for the ``with`` block."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def target() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.aclose())
            rest = asyncio.all_tasks(loop)
            for task in rest:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
            loop.close()

        thread = threading.Thread(target=target, name="deepprune-replay-server", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)

    # ------------------------------------------------------------------ faults and stats
    def add_fault(self, fault: Fault | str) -> None:
        """Add a server-wide fault while the server runs (thread-safe)."""
        f = Fault.parse(fault) if isinstance(fault, str) else fault
        with self._lock:
            self._faults.append(_FaultSlot(f, f.times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def stats(self) -> ServerStats:
        """A snapshot of the counters (thread-safe)."""
        with self._lock:
            c = self._c
            return ServerStats(c.requests, c.completed, c.cancelled, c.faulted, c.errors, c.served,
                               c.cancelled_tokens, c.active, tuple(self._records))

    def reset_stats(self) -> None:
        with self._lock:
            active = self._c.active
            self._c = _Counters(active=active)
            self._records.clear()

    def _take_faults(self, problem_id: str | None) -> list[Fault]:
        """The server-wide fault for this request: the first listed one that still applies."""
        with self._lock:
            for slot in self._faults:
                if slot.remaining == 0:
                    continue
                if slot.fault.problem_id is not None and slot.fault.problem_id != problem_id:
                    continue
                if slot.remaining is not None:
                    slot.remaining -= 1
                return [slot.fault]
        return []

    def _record(self, rec: RequestRecord) -> None:
        with self._lock:
            self._records.append(rec)
            if rec.outcome == "completed":
                self._c.completed += 1
            elif rec.outcome == "cancelled":
                self._c.cancelled += 1
                self._c.cancelled_tokens += rec.planned_tokens - rec.sent_tokens
            elif rec.outcome.startswith("fault:"):
                self._c.faulted += 1
            if rec.outcome.startswith("error:") or rec.outcome in ("fault:status",):
                self._c.errors += 1
        log.debug("request %d %s problem=%s trace=%s sent=%d/%d %s", rec.id, rec.endpoint, rec.problem_id,
                  rec.trace_index, rec.sent_tokens, rec.planned_tokens, rec.outcome)

    def _count_token(self) -> None:
        with self._lock:
            self._c.served += 1

    # ------------------------------------------------------------------ connection handling
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = _Conn(reader, writer, idle_timeout_s=self.config.idle_timeout_s,
                     request_timeout_s=self.config.request_timeout_s)
        self._conns.add(conn)
        try:
            while not conn.gone:
                try:
                    req = await conn.read_request()
                except _BadRequest as exc:
                    await conn.send_json(exc.status, _error_body(exc.status, exc.message), keep_alive=False)
                    break
                if req is None:
                    break
                keep = await self._dispatch(conn, req)
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        except asyncio.CancelledError:
            conn.abort()
        finally:
            self._conns.discard(conn)
            await conn.stop_watch()
            if not writer.is_closing():
                writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            self._tasks.discard(task)

    async def _dispatch(self, conn: _Conn, req: _Request) -> bool:
        path = req.path.rstrip("/") or "/"
        if path.startswith("/v1/"):
            path = path[3:]
        keep = req.keep_alive
        if req.method == "GET" and path == "/health":
            await conn.send_json(200, {"status": "ok"}, keep_alive=keep)
        elif req.method == "GET" and path == "/models":
            await conn.send_json(200, {"object": "list", "data": [
                {"id": self.model, "object": "model", "created": 0, "owned_by": "deepprune-replay"}]},
                keep_alive=keep)
        elif req.method == "GET" and path == "/stats":
            await conn.send_json(200, self.stats().to_dict(), keep_alive=keep)
        elif req.method == "POST" and path == "/stats/reset":
            self.reset_stats()
            await conn.send_json(200, {"status": "ok"}, keep_alive=keep)
        elif req.method == "GET" and path == "/metrics":
            await conn.send(200, self._metrics().encode(), "text/plain; version=0.0.4", keep_alive=keep)
        elif path in ("/chat/completions", "/completions"):
            if req.method != "POST":
                await conn.send_json(405, _error_body(405, f"use POST for {req.path}"), keep_alive=keep)
            else:
                return await self._completion(conn, req, chat=path == "/chat/completions")
        else:
            await conn.send_json(404, _error_body(404, f"no route {req.method} {req.path}"), keep_alive=keep)
        return keep

    def _metrics(self) -> str:
        s = self.stats()
        rows = [("requests_total", s.requests), ("streams_completed_total", s.streams_completed),
                ("streams_cancelled_total", s.streams_cancelled), ("streams_faulted_total", s.streams_faulted),
                ("errors_total", s.errors), ("tokens_served_total", s.tokens_served),
                ("tokens_cancelled_total", s.tokens_cancelled), ("active_streams", s.active_streams)]
        return "".join(f"deepprune_replay_{k} {v}\n" for k, v in rows)

    # ------------------------------------------------------------------ completions
    def _match(self, body: Mapping[str, Any], chat: bool) -> Problem:
        meta = body.get("metadata")
        pid = body.get("problem_id")
        if pid is None and isinstance(meta, Mapping):
            pid = meta.get("problem_id")
        if pid is not None:
            if str(pid) not in self._by_id:
                raise _BadRequest(404, f"no recorded problem with problem_id {pid!r}")
            return self._by_id[str(pid)]
        text = _prompt_text(body, chat)
        hit = self._by_question.get(text.strip())
        if hit is not None:
            return hit
        best: Problem | None = None
        for q, p in self._by_question.items():
            if q and q in text and (best is None or len(q) > len(best.question.strip())):
                best = p
        if best is None:
            where = "the last user message" if chat else "the prompt"
            raise _BadRequest(404, f"no recorded problem matches {where} ({text[:80]!r}...); send a "
                                   "problem's exact question text, or a problem_id field")
        return best

    def _pick(self, problem: Problem, seed: int | None) -> Trace:
        traces = self.traceset.traces_of(problem.id)
        if not traces:
            raise _BadRequest(404, f"problem {problem.id!r} has no recorded traces")
        mode = self.config.assign
        if mode is Assign.SEED or (mode is Assign.AUTO and seed is not None):
            s = 0 if seed is None else seed
            with self._lock:
                given = self._by_seed.setdefault(problem.id, {})
                for i, t in enumerate(traces):
                    if t.seed is not None and t.seed == s:
                        given[s] = i
                        return t
                k = self._seed_index[problem.id].get(s)
                if k is not None:
                    given[s] = k
                    return traces[k]
                if s not in given:
                    taken = set(given.values())
                    recorded = {t.seed for t in traces if t.seed is not None}
                    free = [i for i, t in enumerate(traces) if i not in taken and t.seed not in recorded]
                    free = free or [i for i in range(len(traces)) if i not in taken]
                    given[s] = free[0] if free else len(given) % len(traces)
                return traces[given[s]]
        with self._lock:
            i = self._rr.get(problem.id, 0)
            self._rr[problem.id] = i + 1
        return traces[i % len(traces)]

    def _continuation(self, problem: Problem, prefill: str) -> tuple[Trace, int] | None:
        """The trace (and token position) whose text so far is ``prefill``, for a request that
        continues a stopped trace; previously served traces first, then recorded order."""
        if not prefill:
            return None
        traces = self.traceset.traces_of(problem.id)
        with self._lock:
            served = set(self._by_seed.get(problem.id, {}).values())
        for t in sorted(traces, key=lambda t: (t.index not in served, t.index)):
            if not t.text.startswith(prefill):
                continue
            cum = self._cum_of(t)
            i = bisect.bisect_left(cum, len(prefill))
            if i < len(cum) and cum[i] == len(prefill):
                return t, i
        return None

    def _cum_of(self, trace: Trace) -> list[int]:
        key = (trace.problem_id, trace.index)
        cum = self._cum.get(key)
        if cum is None:
            cum = self._cum[key] = [0, *itertools.accumulate(len(x) for x in self._pieces_of(trace))]
        return cum

    def _pieces_of(self, trace: Trace) -> tuple[str, ...]:
        key = (trace.problem_id, trace.index)
        pieces = self._pieces.get(key)
        if pieces is None:
            pieces = self._pieces[key] = token_pieces(trace)
        return pieces

    async def _completion(self, conn: _Conn, req: _Request, *, chat: bool) -> bool:
        keep = req.keep_alive
        rid = next(self._ids)
        endpoint = "chat" if chat else "completions"
        with self._lock:
            self._c.requests += 1
        t0 = time.perf_counter()

        offset = 0

        def record(problem: Problem | None, trace: Trace | None, seed: int | None, planned: int, sent: int,
                   outcome: str) -> None:
            self._record(RequestRecord(rid, endpoint, problem.id if problem else None,
                                       trace.index if trace else None, seed, planned, sent, outcome,
                                       time.perf_counter() - t0, offset))

        try:
            try:
                body = json.loads(req.body or b"{}")
            except json.JSONDecodeError as exc:
                raise _BadRequest(400, f"request body is not JSON: {exc.msg}") from exc
            except UnicodeDecodeError as exc:
                raise _BadRequest(400, f"request body is not UTF-8 JSON ({exc.reason} at byte {exc.start})") from exc
            except RecursionError as exc:
                raise _BadRequest(400, "request body is nested too deeply") from exc
            if not isinstance(body, dict):
                raise _BadRequest(400, "request body must be a JSON object")
            opts = _Options.from_body(body, chat)
            problem = self._match(body, chat)
        except _BadRequest as exc:
            record(None, None, None, 0, 0, f"error:{exc.status}")
            await conn.send_json(exc.status, _error_body(exc.status, exc.message), keep_alive=keep)
            return keep
        faults = self._take_faults(problem.id)
        header_fault = req.headers.get("x-deepprune-fault")
        if header_fault:
            try:
                faults.append(Fault.parse(header_fault))
            except ConfigError as exc:
                record(problem, None, opts.seed, 0, 0, "error:400")
                await conn.send_json(400, _error_body(400, f"X-Deepprune-Fault: {exc}"), keep_alive=keep)
                return keep
        cont = self._continuation(problem, _prefill(body, chat, problem))
        trace, start = cont if cont is not None else (self._pick(problem, opts.seed), 0)
        pieces = self._pieces_of(trace)
        left = len(pieces) - start
        n = left if opts.max_tokens is None else min(left, opts.max_tokens)
        finish = "length" if n < left or trace.finish_reason is FinishReason.LENGTH else "stop"
        offset = start
        for f in faults:
            if f.kind is FaultKind.REFUSE:
                record(problem, trace, opts.seed, n, 0, "fault:refuse")
                conn.abort()
                return False
            if f.kind is FaultKind.STATUS:
                record(problem, trace, opts.seed, n, 0, "fault:status")
                hdrs = {"Retry-After": "0"} if f.status in (429, 503) else None
                await conn.send_json(f.status, _error_body(f.status, f"injected fault: HTTP {f.status}"),
                                     keep_alive=keep, headers=hdrs)
                return keep
        no_lp = any(f.kind is FaultKind.NO_LOGPROBS for f in faults)
        mid = [f for f in faults if f.kind in (FaultKind.DROP, FaultKind.STALL, FaultKind.MALFORMED)]
        gen = _Generation(self, problem, trace, pieces, start, n, finish, opts, chat=chat, rid=rid,
                          logprobs=not no_lp, prompt_tokens=approx_tokens(_prompt_text(body, chat)))
        with self._lock:
            self._c.active += 1
        outcome = "cancelled"
        try:
            if opts.stream:
                outcome = await gen.stream(conn, mid)
            else:
                outcome = await gen.respond(conn, mid, keep_alive=keep)
        except (ConnectionError, OSError):
            outcome = "cancelled"
        finally:
            if no_lp and outcome == "completed":
                outcome = "fault:nologprobs"
            with self._lock:
                self._c.active -= 1
            record(problem, trace, opts.seed, n, gen.sent, outcome)
        return keep and outcome == "completed" and not conn.gone


def _prefill(body: Mapping[str, Any], chat: bool, problem: Problem) -> str:
    """Text the request asks to continue: a trailing assistant message (chat), or what follows the
    question in the prompt (completions); ``""`` for an ordinary request."""
    if chat:
        last = body["messages"][-1]
        if isinstance(last, Mapping) and last.get("role") == "assistant":
            content = last.get("content") or ""
            if isinstance(content, list):
                return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
            return str(content)
        return ""
    prompt = _prompt_text(body, chat)
    q = problem.question.strip()
    i = prompt.find(q) if q else -1
    return prompt[i + len(q):] if i >= 0 else ""


def _prompt_text(body: Mapping[str, Any], chat: bool) -> str:
    if not chat:
        prompt = body.get("prompt", "")
        if isinstance(prompt, list):
            if len(prompt) != 1 or not isinstance(prompt[0], str):
                raise _BadRequest(400, "prompt must be a string (or a list of one string)")
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise _BadRequest(400, "prompt must be a string")
        return prompt
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BadRequest(400, "messages must be a non-empty list")
    for msg in reversed(messages):
        if isinstance(msg, Mapping) and msg.get("role") == "user":
            content = msg.get("content", "")
            if isinstance(content, list):
                return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
            return str(content)
    raise _BadRequest(400, "messages has no user message")


@dataclass(frozen=True)
class _Options:
    stream: bool
    seed: int | None
    max_tokens: int | None
    logprobs: bool
    top_k: int
    include_usage: bool

    @classmethod
    def from_body(cls, body: Mapping[str, Any], chat: bool) -> _Options:
        n = body.get("n", 1)
        if n not in (1, None):
            raise _BadRequest(400, f"n must be 1 (one request per trace), got {n!r}")
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise _BadRequest(400, f"seed must be an integer, got {seed!r}")
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens")) if chat else body.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 0):
            raise _BadRequest(400, f"max_tokens must be an integer >= 0, got {max_tokens!r}")
        if chat:
            logprobs = bool(body.get("logprobs", False))
            top = body.get("top_logprobs", 0) or 0
        else:
            lp = body.get("logprobs")
            logprobs = lp is not None and lp is not False
            top = 0 if lp is None or isinstance(lp, bool) else lp
        if not isinstance(top, int) or isinstance(top, bool) or top < 0:
            raise _BadRequest(400, f"top_logprobs must be an integer >= 0, got {top!r}")
        if top > MAX_TOP_LOGPROBS:
            raise _BadRequest(400, f"top_logprobs must be at most {MAX_TOP_LOGPROBS} (as OpenAI's), got {top}")
        so = body.get("stream_options")
        include_usage = bool(so.get("include_usage")) if isinstance(so, Mapping) else False
        return cls(bool(body.get("stream", False)), seed, max_tokens, logprobs, int(top), include_usage)


class _Generation:
    """One trace being served to one request."""

    def __init__(self, server: ReplayServer, problem: Problem, trace: Trace, pieces: Sequence[str], start: int,
                 n: int, finish: str, opts: _Options, *, chat: bool, rid: int, logprobs: bool,
                 prompt_tokens: int) -> None:
        self.server = server
        self.trace = trace
        self.pieces = pieces[start:start + n]
        self.start = start
        self.finish = finish
        self.opts = opts
        self.chat = chat
        self.id = f"{'chatcmpl' if chat else 'cmpl'}-replay-{rid}"
        self.created = int(time.time())
        self.has_lp = opts.logprobs and logprobs and (trace.logprobs is not None or trace.confs is not None)
        self.prompt_tokens = prompt_tokens
        self.sent = 0
        self.headers = {"X-Deepprune-Problem": problem.id, "X-Deepprune-Trace": str(trace.index)}

    # --- content
    def _token_logprobs(self, i: int) -> tuple[float, list[tuple[str, float]]]:
        tr, tok, j = self.trace, self.pieces[i], self.start + i
        lp = tr.logprobs[j] if tr.logprobs is not None else None
        if tr.confs is not None:
            alts = synth_top_logprobs(tok, lp, tr.confs[j], self.opts.top_k)
            return (lp if lp is not None else -tr.confs[j]), alts
        assert lp is not None
        return lp, ([(tok, lp)] if self.opts.top_k > 0 else [])

    def _logprobs_obj(self, start: int, stop: int, offset: int) -> dict[str, Any]:
        if self.chat:
            content = []
            for i in range(start, stop):
                lp, alts = self._token_logprobs(i)
                tok = self.pieces[i]
                content.append({"token": tok, "logprob": lp, "bytes": list(tok.encode()),
                                "top_logprobs": [{"token": t, "logprob": v, "bytes": None} for t, v in alts]})
            return {"content": content}
        tokens, lps, tops, offsets = [], [], [], []
        for i in range(start, stop):
            lp, alts = self._token_logprobs(i)
            tokens.append(self.pieces[i])
            lps.append(lp)
            tops.append(dict(alts))
            offsets.append(offset)
            offset += len(self.pieces[i])
        return {"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets}

    def _usage(self, completion: int) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                "total_tokens": self.prompt_tokens + completion}

    def _chunk(self, choice: dict[str, Any], **extra: Any) -> bytes:
        obj = {"id": self.id, "object": "chat.completion.chunk" if self.chat else "text_completion",
               "created": self.created, "model": self.server.model, "choices": [choice] if choice else [],
               **extra}
        return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"

    def _token_chunk(self, i: int, offset: int) -> bytes:
        piece = self.pieces[i]
        lp = self._logprobs_obj(i, i + 1, offset) if self.has_lp else None
        if self.chat:
            return self._chunk({"index": 0, "delta": {"content": piece}, "logprobs": lp, "finish_reason": None})
        return self._chunk({"index": 0, "text": piece, "logprobs": lp, "finish_reason": None})

    # --- pacing
    async def _pace(self, conn: _Conn, t0: float, i: int) -> bool:
        """Wait until token ``i`` is due; True when the client went away meanwhile."""
        rate = self.server.config.rate
        due = t0 + (i / rate if rate > 0 else 0.0)
        return await conn.wait_gone(max(0.0, due - time.perf_counter()) or None)

    async def _mid_fault(self, conn: _Conn, fault: Fault) -> bool:
        """Carry out a mid-stream fault; True when the stream is over (dropped / client gone)."""
        if fault.kind is FaultKind.DROP:
            conn.abort()
            return True
        if fault.kind is FaultKind.STALL:
            return await conn.wait_gone(fault.seconds)
        if fault.kind is FaultKind.MALFORMED:
            await conn.chunk(b'data: {"id": "' + self.id.encode() + b'", "choices": [{"delta": {"cont\n\n')
        return False

    async def stream(self, conn: _Conn, faults: Sequence[Fault]) -> str:
        await conn.start_stream(self.headers)
        conn.start_watch()
        try:
            if self.chat:
                await conn.chunk(self._chunk({"index": 0, "delta": {"role": "assistant", "content": ""},
                                              "logprobs": None, "finish_reason": None}))
            t0 = time.perf_counter() + self.server.config.latency_s
            offset = 0
            faulted: str | None = None
            for i in range(len(self.pieces) + 1):
                for f in faults:
                    if f.after == i or (f.after > len(self.pieces) and i == len(self.pieces)):
                        faulted = faulted or f"fault:{f.kind.value}"
                        if await self._mid_fault(conn, f):
                            return faulted
                if i == len(self.pieces):
                    break
                if await self._pace(conn, t0, i):
                    return faulted or "cancelled"
                await conn.chunk(self._token_chunk(i, offset))
                offset += len(self.pieces[i])
                self.sent += 1
                self.server._count_token()
            usage = self._usage(self.sent)
            if self.chat:
                final = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": self.finish}
            else:
                final = {"index": 0, "text": "", "logprobs": None, "finish_reason": self.finish}
            if self.opts.include_usage:
                await conn.chunk(self._chunk(final))
                await conn.chunk(self._chunk({}, usage=usage))
            else:
                await conn.chunk(self._chunk(final, usage=usage))
            await conn.chunk(b"data: [DONE]\n\n")
            await conn.stop_watch()
            if conn.gone:
                return faulted or "cancelled"
            await conn.end_stream()
            return faulted or "completed"
        finally:
            await conn.stop_watch()

    async def respond(self, conn: _Conn, faults: Sequence[Fault], *, keep_alive: bool) -> str:
        """A non-streaming answer: waits as long as the stream would take, then sends it whole."""
        conn.start_watch()
        try:
            t0 = time.perf_counter() + self.server.config.latency_s
            faulted: str | None = None
            for f in faults:
                if f.kind is FaultKind.DROP:
                    conn.abort()
                    return "fault:drop"
                if f.kind is FaultKind.STALL and await conn.wait_gone(f.seconds):
                    return "fault:stall"
                faulted = faulted or f"fault:{f.kind.value}"
            if await self._pace(conn, t0, len(self.pieces)):
                return faulted or "cancelled"
            await conn.stop_watch()
            if conn.gone:
                return "cancelled"
            self.sent = len(self.pieces)
            with self.server._lock:
                self.server._c.served += self.sent
            text = "".join(self.pieces)
            lp = self._logprobs_obj(0, len(self.pieces), 0) if self.has_lp else None
            if self.chat:
                choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": lp,
                          "finish_reason": self.finish}
            else:
                choice = {"index": 0, "text": text, "logprobs": lp, "finish_reason": self.finish}
            obj = {"id": self.id, "object": "chat.completion" if self.chat else "text_completion",
                   "created": self.created, "model": self.server.model, "choices": [choice],
                   "usage": self._usage(self.sent)}
            data = json.dumps(obj, ensure_ascii=False).encode()
            if any(f.kind is FaultKind.MALFORMED for f in faults):
                data = data[: len(data) // 2]
            await conn.send(200, data, "application/json", keep_alive=keep_alive, headers=self.headers)
            return faulted or "completed"
        finally:
            await conn.stop_watch()

