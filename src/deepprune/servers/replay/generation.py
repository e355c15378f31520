"""Serving one trace to one request: pacing, mid-stream faults, cancellation when the client leaves.

A stream sends token ``i`` at ``t0 + i / rate`` (``t0``: the start plus ``latency_s``), watching the
connection while it waits, so a client that closes the stream stops generation at once. The
outcome (``completed``, ``cancelled``, ``fault:<kind>``) is what the stats count.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from deepprune.servers.replay.exchange import Exchange
from deepprune.servers.replay.faults import Fault, FaultKind
from deepprune.servers.replay.stats import StatsBook
from deepprune.servers.replay.wire import DONE, WireEncoder

__all__ = ["Generation"]


class Generation:
    """One request's tokens (``wire.pieces``) paced at ``rate`` tokens/s after ``latency_s``."""

    def __init__(self, wire: WireEncoder, finish: str, *, rate: float, latency_s: float, include_usage: bool,
                 stats: StatsBook, headers: dict[str, str]) -> None:
        self.wire = wire
        self.pieces = wire.pieces
        self.finish = finish
        self.rate = rate
        self.latency_s = latency_s
        self.include_usage = include_usage
        self.stats = stats
        self.headers = headers
        self.sent = 0

    async def _pace(self, conn: Exchange, t0: float, i: int) -> bool:
        """Wait until token ``i`` is due; True when the client went away meanwhile."""
        due = t0 + (i / self.rate if self.rate > 0 else 0.0)
        return await conn.wait_gone(max(0.0, due - time.perf_counter()) or None)

    async def _mid_fault(self, conn: Exchange, fault: Fault) -> bool:
        """Carry out a mid-stream fault; True when the stream is over (dropped / client gone)."""
        if fault.kind is FaultKind.DROP:
            conn.abort()
            return True
        if fault.kind is FaultKind.STALL:
            return await conn.wait_gone(fault.seconds)
        if fault.kind is FaultKind.MALFORMED:
            await conn.chunk(self.wire.malformed_event())
        return False

    async def stream(self, conn: Exchange, faults: Sequence[Fault]) -> str:
        """Stream the tokens as SSE events; the outcome."""
        await conn.start_stream(self.headers)
        if self.wire.chat:
            await conn.chunk(self.wire.role_event())
        t0 = time.perf_counter() + self.latency_s
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
            await conn.chunk(self.wire.token_event(i, offset))
            offset += len(self.pieces[i])
            self.sent += 1
            self.stats.tokens_served()
        for event in self.wire.final_events(self.finish, self.sent, include_usage=self.include_usage):
            await conn.chunk(event)
        await conn.chunk(DONE)
        if conn.gone:
            return faulted or "cancelled"
        await conn.end_stream()
        return faulted or "completed"

    async def respond(self, conn: Exchange, faults: Sequence[Fault]) -> str:
        """A non-streaming answer: waits as long as the stream would take, then sends it whole."""
        t0 = time.perf_counter() + self.latency_s
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
        if conn.gone:
            return "cancelled"
        self.sent = len(self.pieces)
        self.stats.tokens_served(self.sent)
        data = self.wire.response(self.finish)
        if any(f.kind is FaultKind.MALFORMED for f in faults):
            data = data[: len(data) // 2]
        await conn.send(200, data, "application/json", headers=self.headers)
        return faulted or "completed"
