"""The TraceSource protocol: where trace events come from (replay or live).

A source opens one :class:`ProblemSession` per problem. The runner launches, stops and resumes
traces through the session and pulls events from it; the session does the token accounting
(``generated(trace_id)``: tokens the trace has produced, which is what it costs).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from deepprune.core.events import Event
from deepprune.core.protocol import AnswerPeek
from deepprune.core.types import Problem

__all__ = ["CanProbe", "HasAnswerPeek", "ProblemSession", "TraceSource", "WatchFn"]

WatchFn = Callable[[int], "int | None"]


@runtime_checkable
class ProblemSession(Protocol):
    """Traces of one problem, as seen by the runner."""

    capacity: int | None
    """How many traces can be launched at most (recorded traces in replay), None = unbounded."""
    has_confidence: bool
    """Whether events carry DeepConf token confidences."""

    def set_watch(self, watch: WatchFn) -> None:
        """Install the strategy's ``watch`` (see :class:`~deepprune.core.protocol.Strategy`)."""

    async def launch(self, trace_id: int) -> None: ...

    async def stop(self, trace_id: int) -> None: ...

    async def resume(self, trace_id: int) -> None: ...

    async def next_event(self) -> Event | None:
        """The next event, or None when no trace is running."""

    def generated(self, trace_id: int) -> int:
        """Tokens trace ``trace_id`` has generated so far (its cost)."""

    def running(self) -> list[int]:
        """Ids of the traces currently generating."""


@runtime_checkable
class HasAnswerPeek(Protocol):
    """A session that knows the final answers in advance (replay): the runner hands its
    ``answer_peek`` to the strategy as ``RunContext.answer_peek`` (simulation only)."""

    answer_peek: AnswerPeek


@runtime_checkable
class CanProbe(Protocol):
    """A session that answers :class:`~deepprune.core.events.Probe` actions with
    :class:`~deepprune.core.events.TraceProbed` events (replay: recorded probes; live: a request)."""

    can_probe: bool
    """False when this session cannot (e.g. replayed traces without recorded probes)."""

    async def probe(self, trace_id: int) -> None:
        """Probe the trace at its latest delivered token count; the event follows later."""


class TraceSource(Protocol):
    """Opens sessions, one per problem."""

    def session(self, problem: Problem, *, seed: int = 0) -> AbstractAsyncContextManager[ProblemSession]: ...
