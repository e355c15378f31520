"""The replay server: lifecycle, routes, and one completion request from body to outcome."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http import HttpVersion11
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader

from deepprune.core.errors import ConfigError
from deepprune.core.tokens import approx_tokens
from deepprune.core.types import FinishReason, Problem, Trace, TraceSet
from deepprune.servers.replay.book import TraceBook
from deepprune.servers.replay.config import ServerConfig
from deepprune.servers.replay.errors import BadRequest, error_body
from deepprune.servers.replay.exchange import Exchange
from deepprune.servers.replay.faults import Fault, FaultKind
from deepprune.servers.replay.generation import Generation
from deepprune.servers.replay.protocol import MAX_BODY, ReplayProtocol, response
from deepprune.servers.replay.request import Options, prefill_text, prompt_text
from deepprune.servers.replay.stats import RequestRecord, ServerStats, StatsBook
from deepprune.servers.replay.wire import WireEncoder

__all__ = ["ReplayServer"]

log = logging.getLogger("deepprune.servers.replay")


@dataclass
class _FaultSlot:
    fault: Fault
    remaining: int | None


class ReplayServer:
    """Serves ``traceset`` as an OpenAI-compatible endpoint (see :mod:`deepprune.servers.replay`).

    Use it as an async context manager in a running loop (``async with ReplayServer(ts) as s``),
    or from synchronous code with ``with ReplayServer(ts).in_thread() as s:`` (its own loop in a
    daemon thread). ``s.base_url`` is ``http://HOST:PORT/v1``.
    """

    def __init__(self, traceset: TraceSet, config: ServerConfig | None = None) -> None:
        self.traceset = traceset
        self.config = config or ServerConfig()
        self.model = self.config.model or str(traceset.header.get("model") or "deepprune-replay")
        self.book = TraceBook(traceset, assign=self.config.assign, seed_base=self.config.seed_base)
        self._stats = StatsBook(self.config.history)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._faults = [_FaultSlot(f, f.times) for f in self.config.faults]
        self._server: asyncio.base_events.Server | None = None
        self._web: web.Server | None = None
        self.port: int = self.config.port

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"http://{host}:{self.port}/v1"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        web_server = web.Server(self._handle, request_factory=self._make_request)
        cfg = self.config

        def protocol() -> ReplayProtocol:
            return ReplayProtocol(web_server, loop=loop, idle_timeout_s=cfg.idle_timeout_s,
                                  request_timeout_s=cfg.request_timeout_s)

        self._server = await loop.create_server(protocol, cfg.host, cfg.port)
        self._web = web_server
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("replay server: %d problems, %d traces at %s (rate %s tok/s per stream)",
                 len(self.traceset.problems), self.traceset.n_traces, self.base_url,
                 self.config.rate or "unpaced")

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._web is not None:
            for conn in self._web.connections:
                if conn.transport is not None:
                    conn.transport.abort()
            await self._web.shutdown(1.0)
            self._web = None
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
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

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

    # ------------------------------------------------------------------ requests
    def _make_request(self, message: RawRequestMessage, payload: StreamReader, protocol: web.RequestHandler,
                      writer: Any, task: asyncio.Task[None]) -> web.BaseRequest:
        return web.BaseRequest(message, payload, protocol, writer, task, asyncio.get_running_loop(),
                               client_max_size=MAX_BODY)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        exch = Exchange(request)
        try:
            if not await self._dispatch(exch):
                exch.protocol.force_close()  # after what was written: close, not abort
        except (ConnectionError, OSError):
            exch.protocol.force_close()
        finally:
            exch.protocol.request_done()
        # a connection dropped before an answer: aiohttp's attempt to send this one fails quietly
        return exch.response or response(500, b"", "text/plain", close=True)

    async def _dispatch(self, exch: Exchange) -> bool:
        """Answer one request; False when the connection should close afterwards."""
        req = exch.request
        if req.version >= HttpVersion11 and "Host" not in req.headers:
            await exch.send_error(BadRequest(400, "malformed request: missing Host header"), close=True)
            return False
        try:
            body = await exch.body()
        except BadRequest as exc:
            await exch.send_error(exc, close=True)
            return False
        path = req.path.rstrip("/") or "/"
        if path.startswith("/v1/"):
            path = path[3:]
        method = req.method
        if method == "GET" and path == "/health":
            await exch.send_json(200, {"status": "ok"})
        elif method == "GET" and path == "/models":
            await exch.send_json(200, {"object": "list", "data": [
                {"id": self.model, "object": "model", "created": 0, "owned_by": "deepprune-replay"}]})
        elif method == "GET" and path == "/stats":
            await exch.send_json(200, self.stats().to_dict())
        elif method == "POST" and path == "/stats/reset":
            self.reset_stats()
            await exch.send_json(200, {"status": "ok"})
        elif method == "GET" and path == "/metrics":
            await exch.send(200, self.stats().metrics_text().encode(), "text/plain; version=0.0.4")
        elif path in ("/chat/completions", "/completions"):
            if method != "POST":
                await exch.send_json(405, error_body(405, f"use POST for {req.path}"))
            else:
                return await self._completion(exch, body, chat=path == "/chat/completions")
        else:
            await exch.send_json(404, error_body(404, f"no route {method} {req.path}"))
        return True

    # ------------------------------------------------------------------ completions
    async def _completion(self, conn: Exchange, raw: bytes, *, chat: bool) -> bool:
        rid = next(self._ids)
        endpoint = "chat" if chat else "completions"
        self._stats.request_started()
        t0 = time.perf_counter()
        offset = 0

        def record(problem: Problem | None, trace: Trace | None, seed: int | None, planned: int, sent: int,
                   outcome: str) -> None:
            self._stats.record(RequestRecord(rid, endpoint, problem.id if problem else None,
                                             trace.index if trace else None, seed, planned, sent, outcome,
                                             time.perf_counter() - t0, offset))

        try:
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError as exc:
                raise BadRequest(400, f"request body is not JSON: {exc.msg}") from exc
            except UnicodeDecodeError as exc:
                raise BadRequest(400, f"request body is not UTF-8 JSON ({exc.reason} at byte {exc.start})") from exc
            except RecursionError as exc:
                raise BadRequest(400, "request body is nested too deeply") from exc
            if not isinstance(body, dict):
                raise BadRequest(400, "request body must be a JSON object")
            opts = Options.from_body(body, chat)
            problem = self.book.match(body, chat)
        except BadRequest as exc:
            record(None, None, None, 0, 0, f"error:{exc.status}")
            await conn.send_json(exc.status, error_body(exc.status, exc.message))
            return True
        faults = self._take_faults(problem.id)
        header_fault = conn.headers.get("x-deepprune-fault")
        if header_fault:
            try:
                faults.append(Fault.parse(header_fault))
            except ConfigError as exc:
                record(problem, None, opts.seed, 0, 0, "error:400")
                await conn.send_json(400, error_body(400, f"X-Deepprune-Fault: {exc}"))
                return True
        cont = self.book.continuation(problem, prefill_text(body, chat, problem))
        trace, start = cont if cont is not None else (self.book.pick(problem, opts.seed), 0)
        pieces = self.book.pieces_of(trace)
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
                await conn.send_json(f.status, error_body(f.status, f"injected fault: HTTP {f.status}"),
                                     headers=hdrs)
                return True
        no_lp = any(f.kind is FaultKind.NO_LOGPROBS for f in faults)
        mid = [f for f in faults if f.kind in (FaultKind.DROP, FaultKind.STALL, FaultKind.MALFORMED)]
        wire = WireEncoder(trace, pieces[start:start + n], start, chat=chat, rid=rid, model=self.model,
                           logprobs=opts.logprobs and not no_lp, top_k=opts.top_k,
                           prompt_tokens=approx_tokens(prompt_text(body, chat)))
        gen = Generation(wire, finish, rate=self.config.rate, latency_s=self.config.latency_s,
                         include_usage=opts.include_usage, stats=self._stats,
                         headers={"X-Deepprune-Problem": problem.id, "X-Deepprune-Trace": str(trace.index)})
        self._stats.stream_opened()
        outcome = "cancelled"
        try:
            outcome = await (gen.stream(conn, mid) if opts.stream else gen.respond(conn, mid))
        except (ConnectionError, OSError):
            outcome = "cancelled"
        finally:
            if no_lp and outcome == "completed":
                outcome = "fault:nologprobs"
            record(problem, trace, opts.seed, n, gen.sent, outcome)
            self._stats.stream_closed()  # after the record: no active stream means every record is in
        return outcome == "completed" and not conn.gone
