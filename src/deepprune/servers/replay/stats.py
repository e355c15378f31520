"""What the replay server did: per-request records, totals, ``/stats`` and ``/metrics``.

:class:`StatsBook` is thread-safe: the server's loop writes it while other threads (a test, the
``in_thread`` caller) read snapshots.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["RequestRecord", "ServerStats", "StatsBook"]

log = logging.getLogger("deepprune.servers.replay")


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

    def metrics_text(self) -> str:
        """The totals in Prometheus text format (``deepprune_replay_*``)."""
        rows = [("requests_total", self.requests), ("streams_completed_total", self.streams_completed),
                ("streams_cancelled_total", self.streams_cancelled),
                ("streams_faulted_total", self.streams_faulted), ("errors_total", self.errors),
                ("tokens_served_total", self.tokens_served), ("tokens_cancelled_total", self.tokens_cancelled),
                ("active_streams", self.active_streams)]
        return "".join(f"deepprune_replay_{k} {v}\n" for k, v in rows)


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


class StatsBook:
    """Counters and the last ``history`` request records."""

    def __init__(self, history: int) -> None:
        self._lock = threading.Lock()
        self._c = _Counters()
        self._records: deque[RequestRecord] = deque(maxlen=max(1, history))

    def snapshot(self) -> ServerStats:
        with self._lock:
            c = self._c
            return ServerStats(c.requests, c.completed, c.cancelled, c.faulted, c.errors, c.served,
                               c.cancelled_tokens, c.active, tuple(self._records))

    def reset(self) -> None:
        """Zero every total but the streams still active; forget the records."""
        with self._lock:
            self._c = _Counters(active=self._c.active)
            self._records.clear()

    def request_started(self) -> None:
        with self._lock:
            self._c.requests += 1

    def stream_opened(self) -> None:
        with self._lock:
            self._c.active += 1

    def stream_closed(self) -> None:
        with self._lock:
            self._c.active -= 1

    def tokens_served(self, n: int = 1) -> None:
        with self._lock:
            self._c.served += n

    def record(self, rec: RequestRecord) -> None:
        """Count one finished request by its outcome and keep its record."""
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
