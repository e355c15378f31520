"""The TraceSource protocol: where trace events come from (replay or live).

A source opens one :class:`ProblemSession` per problem. The runner launches, stops and resumes
traces through the session and pulls events from it; the session does the token accounting
(``generated(trace_id)``: tokens the trace has produced, which is what it costs).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from deepprune.strategies.base import Event
from deepprune.types import Problem

__all__ = ["ProblemSession", "TraceSource", "WatchFn"]

WatchFn = Callable[[int], "int | None"]


@runtime_checkable
class ProblemSession(Protocol):
    """Traces of one problem, as seen by the runner."""

    capacity: int | None
    """How many traces can be launched at most (recorded traces in replay), None = unbounded."""
    has_confidence: bool
    """Whether events carry DeepConf token confidences."""

    def set_watch(self, watch: WatchFn) -> None:
        """Install the strategy's ``watch`` (see :class:`~deepprune.strategies.base.Strategy`)."""

    def peek_answer(self, trace_id: int) -> str | None:
        """Replay only: the final answer trace ``trace_id`` will reach (for simulation)."""

    def supports_peek(self) -> bool: ...

    async def launch(self, trace_id: int) -> None: ...

    async def stop(self, trace_id: int) -> None: ...

    async def resume(self, trace_id: int) -> None: ...

    async def next_event(self) -> Event | None:
        """The next event, or None when no trace is running."""

    def generated(self, trace_id: int) -> int:
        """Tokens trace ``trace_id`` has generated so far (its cost)."""

    def running(self) -> list[int]:
        """Ids of the traces currently generating."""


class TraceSource(Protocol):
    """Opens sessions, one per problem."""

    def session(self, problem: Problem, *, seed: int = 0) -> AbstractAsyncContextManager[ProblemSession]: ...
