"""The Strategy protocol: a pure, synchronous state machine with no I/O.

A strategy answers one problem. The :class:`~deepprune.engine.runner.Runner` feeds it *events* about
traces (from a replay or a live :class:`~deepprune.sources.base.TraceSource`) and carries out the
*actions* it returns (both in :mod:`deepprune.core.events`). The same strategy object therefore
gives the offline (replay) number and the live behaviour; there is no separate offline code path.

Life cycle, per problem (a fresh strategy object each time, built by a factory)::

    actions = s.start(ctx)                   # usually [Launch(k)]
    loop:
        event = next event from the source   # TraceProgress | TraceFinished | TraceFailed
        actions = s.on_event(event)          # Stop(i), Launch(n), Resume(i), Halt()
        when no trace is running: actions = s.on_idle()   # [] ends the problem
    decision = s.result()

Trace ids are assigned by the runner in launch order: the k-th launched trace has id k (0-based),
so a strategy knows the ids of the traces it launched.

Progress events are sparse on purpose: after every event of a trace (and after its launch or
resume) the source asks ``s.watch(trace_id)`` how many more tokens it may generate before the
strategy wants to hear about it again; ``None`` means "only tell me when it finishes". A replay
source uses this to jump straight to the next interesting token; a live source uses it to skip
delivering chunks nobody needs. Token accounting never depends on it.

**Replay-only knowledge.** Simulations (the ``oracle`` strategy, the ``noisy-oracle`` judge) need
the final answer a trace *will* reach. That is not part of what every source offers: a replay
source provides an :class:`AnswerPeek` and the runner passes it in ``RunContext.answer_peek``;
code that needs it asks for it by name with :meth:`RunContext.require_answer_peek`, which raises
:class:`~deepprune.core.errors.NotApplicable` on a live source. Real strategies never ask.

Errors: a strategy that cannot run on the data it is given (no confidences, no recorded
answers) raises :class:`~deepprune.core.errors.NotApplicable` (bench shows an n/a row); a strategy
that breaks this protocol (stops a trace it never launched) gets a
:class:`~deepprune.core.errors.ProtocolError` from the runner (a failure, never an n/a row).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from deepprune.core.errors import NotApplicable
from deepprune.core.events import Action, Event
from deepprune.core.types import Problem

__all__ = [
    "FAMILIES",
    "AnswerPeek",
    "Decision",
    "FunctionPeek",
    "RunContext",
    "Strategy",
    "StrategyFactory",
]


@runtime_checkable
class AnswerPeek(Protocol):
    """Replay only, for simulation: the final answers of the recorded traces of one problem."""

    def answer(self, trace_id: int) -> str | None:
        """The final answer launched trace ``trace_id`` *will* reach (None: it has none)."""


@dataclass(frozen=True, slots=True)
class FunctionPeek:
    """An :class:`AnswerPeek` from a function ``trace_id -> answer`` (tests, hand-made contexts)."""

    fn: Callable[[int], str | None]

    def answer(self, trace_id: int) -> str | None:
        return self.fn(trace_id)


@dataclass(frozen=True, init=False)
class RunContext:
    """What a strategy knows when it starts a problem.

    ``RunContext(problem, budget, seed=0, has_confidence=False, answer_peek=None)``; the older
    keyword ``peek_answer=fn`` (a function ``trace_id -> answer``) is accepted and wrapped in a
    :class:`FunctionPeek`.
    """

    problem: Problem
    budget: int
    """Most traces it may launch (K), already clipped to what the source can provide."""
    seed: int
    """Seed for any randomness in the strategy (derive RNGs from it, never from global state)."""
    has_confidence: bool
    """Whether events carry DeepConf token confidences."""
    answer_peek: AnswerPeek | None = field(repr=False, compare=False)
    """Replay only (see the module docstring): ask for it with :meth:`require_answer_peek`."""
    can_probe: bool = False
    """Whether the source answers :class:`~deepprune.core.events.Probe` actions (live: always;
    replay: when every trace carries recorded probes)."""

    def __init__(self, problem: Problem, budget: int, seed: int = 0, has_confidence: bool = False,
                 answer_peek: AnswerPeek | None = None, *,
                 peek_answer: Callable[[int], str | None] | None = None, can_probe: bool = False) -> None:
        if peek_answer is not None:
            if answer_peek is not None:
                raise TypeError("pass answer_peek or peek_answer, not both")
            answer_peek = FunctionPeek(peek_answer)
        object.__setattr__(self, "problem", problem)
        object.__setattr__(self, "budget", budget)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "has_confidence", has_confidence)
        object.__setattr__(self, "answer_peek", answer_peek)
        object.__setattr__(self, "can_probe", can_probe)

    def require_answer_peek(self, user: str) -> AnswerPeek:
        """The replay's recorded answers for ``user`` (e.g. ``"the oracle strategy"``).

        Raises :class:`~deepprune.core.errors.NotApplicable` when the source cannot know answers in
        advance (a live server).
        """
        if self.answer_peek is None:
            raise NotApplicable(f"{user} reads the recorded final answers and only runs on replayed traces "
                                "(recorded traces); it cannot run live")
        return self.answer_peek

    @property
    def peek_answer(self) -> Callable[[int], str | None] | None:
        """``answer_peek.answer`` or None (the older spelling; prefer :meth:`require_answer_peek`)."""
        return None if self.answer_peek is None else self.answer_peek.answer


@dataclass(frozen=True)
class Decision:
    """A strategy's final answer for a problem and its own accounting."""

    answer: str | None
    judge_calls: int = 0
    """Pair comparisons the judge made."""
    judge_tokens: int = 0
    """Judge input tokens (approximate: whitespace words of both prefixes per pair)."""
    info: Mapping[str, Any] = field(default_factory=dict)
    """The strategy's own diagnostics (clusters, thresholds, ...): free-form, for humans."""


FAMILIES: Mapping[str, str] = {
    "vote": "every launched trace runs to its end; the strategy only chooses how the finished answers "
            "are combined (majority, confidence filter or weights)",
    "stop-early": "traces are not judged one by one; the problem stops (no more traces launched, the "
                  "running ones stopped) once the answers so far settle it: a unanimous window, a "
                  "confident leader, the first m finished",
    "prune": "individual traces are stopped while they generate, on a judgement of that trace (redundant "
             "with another, low confidence, too similar), and the rest are voted over",
}
"""The values of :attr:`Strategy.family`, with what they mean (the leaderboard's "family" column)."""


class Strategy(ABC):
    """Base class of every strategy. Subclasses implement ``start``, ``on_event``, ``result``."""

    name: str = "strategy"
    family: ClassVar[str] = ""
    """How the strategy saves tokens: one of the keys of :data:`FAMILIES` (``"vote"``,
    ``"stop-early"``, ``"prune"``); ``""`` when a strategy declares none (shown as unknown)."""
    paper: ClassVar[str] = ""
    """The method it implements, as a short citation with its arXiv id or venue (e.g. ``"Wang et al.,
    Self-Consistency, ICLR 2023, arXiv 2203.11171"``); ``""`` when it implements none."""
    blocking: bool = False
    """True when ``on_event`` may take long (a model or a server behind a judge): the runner then
    calls it in a worker thread so that the event loop keeps reading the other streams and the
    other problems advance. The strategy still sees its events one at a time, in order."""

    @abstractmethod
    def start(self, ctx: RunContext) -> Sequence[Action]:
        """Begin a problem; return the first actions (typically ``[Launch(k)]``)."""

    @abstractmethod
    def on_event(self, event: Event) -> Sequence[Action]:
        """React to one event."""

    def on_idle(self) -> Sequence[Action]:
        """No trace is running. Return more work (Launch / Resume) or ``[]`` to finish."""
        return ()

    def watch(self, trace_id: int) -> int | None:
        """Tokens trace ``trace_id`` may still generate before the next progress event
        (``None``: only its end matters). Default: only ends matter."""
        return None

    @abstractmethod
    def result(self) -> Decision:
        """The final decision, called once after the last action."""


StrategyFactory = Callable[[], Strategy]
"""Builds a fresh strategy for each problem (strategies hold per-problem state)."""
