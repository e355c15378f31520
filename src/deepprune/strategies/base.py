"""The Strategy protocol: a pure, synchronous state machine with no I/O.

A strategy answers one problem. The :class:`~deepprune.runner.Runner` feeds it *events* about
traces (from a replay or a live :class:`~deepprune.sources.base.TraceSource`) and carries out the
*actions* it returns. The same strategy object therefore gives the offline (replay) number and
the live behaviour; there is no separate offline code path.

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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from deepprune.types import FinishReason, Problem

__all__ = [
    "Action",
    "Decision",
    "Event",
    "Halt",
    "Launch",
    "Resume",
    "RunContext",
    "Stop",
    "Strategy",
    "StrategyFactory",
    "TraceFailed",
    "TraceFinished",
    "TraceProgress",
]


# ---------------------------------------------------------------- events (source -> strategy)
@dataclass(frozen=True, slots=True, init=False, eq=False, repr=False, match_args=False)
class TraceProgress:
    """Trace ``trace_id`` has generated ``n_tokens`` tokens so far.

    ``TraceProgress(trace_id, n_tokens, text, new_confs)``. A source may instead pass a longer
    buffer and where the text ends in it (``text_end=``; the replay passes the whole recorded
    text), so that an event costs no copy of the text so far: :attr:`text` makes the copy when
    read; code that follows a long trace scans ``text_buffer`` up to ``text_end`` instead.
    """

    trace_id: int
    n_tokens: int
    text_buffer: str
    """The text generated so far is ``text_buffer[:text_end]``."""
    new_confs: tuple[float, ...] | None
    """DeepConf token confidences of the tokens since the previous event of this trace
    (None when the source has no logprobs)."""
    text_end: int

    __match_args__ = ("trace_id", "n_tokens", "text", "new_confs")

    def __init__(self, trace_id: int, n_tokens: int, text: str, new_confs: tuple[float, ...] | None = None,
                 *, text_end: int | None = None) -> None:
        end = len(text) if text_end is None else text_end
        if not 0 <= end <= len(text):
            raise ValueError(f"text_end {end} is outside the text buffer (0-{len(text)})")
        object.__setattr__(self, "trace_id", trace_id)
        object.__setattr__(self, "n_tokens", n_tokens)
        object.__setattr__(self, "text_buffer", text)
        object.__setattr__(self, "new_confs", new_confs)
        object.__setattr__(self, "text_end", end)

    @property
    def text(self) -> str:
        """All text generated so far (exact token text live; see ``Trace.text_at`` in replay)."""
        buf = self.text_buffer
        return buf if self.text_end == len(buf) else buf[:self.text_end]

    def _key(self) -> tuple[int, int, str, tuple[float, ...] | None]:
        return self.trace_id, self.n_tokens, self.text, self.new_confs

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TraceProgress):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        text = self.text_buffer[max(0, self.text_end - 40):self.text_end]
        return (f"TraceProgress(trace_id={self.trace_id}, n_tokens={self.n_tokens}, "
                f"text=...{text!r} ({self.text_end} chars), new_confs={self.new_confs!r})")


@dataclass(frozen=True, slots=True)
class TraceFinished:
    """Trace ``trace_id`` ended by itself (EOS or length limit)."""

    trace_id: int
    n_tokens: int
    text: str
    answer: str | None
    finish_reason: FinishReason = FinishReason.UNKNOWN
    confs: tuple[float, ...] | None = None
    """All token confidences of the trace, when available."""


@dataclass(frozen=True, slots=True)
class TraceFailed:
    """Trace ``trace_id`` broke off (live only): its tokens so far are charged, it has no answer."""

    trace_id: int
    n_tokens: int
    error: str


Event = TraceProgress | TraceFinished | TraceFailed


# ---------------------------------------------------------------- actions (strategy -> runner)
@dataclass(frozen=True, slots=True)
class Launch:
    """Start ``count`` new traces (ids continue the launch order). Clipped to the budget."""

    count: int = 1


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop generating trace ``trace_id`` now; it is charged the tokens it produced."""

    trace_id: int


@dataclass(frozen=True, slots=True)
class Resume:
    """Continue a stopped trace from where it stopped (replay: the recorded continuation;
    live: a new request that continues the stopped text)."""

    trace_id: int


@dataclass(frozen=True, slots=True)
class Halt:
    """Stop every running trace and finish the problem."""


Action = Launch | Stop | Resume | Halt


# ---------------------------------------------------------------- context and decision
@dataclass(frozen=True)
class RunContext:
    """What a strategy knows when it starts a problem."""

    problem: Problem
    budget: int
    """Most traces it may launch (K), already clipped to what the source can provide."""
    seed: int = 0
    """Seed for any randomness in the strategy (derive RNGs from it, never from global state)."""
    has_confidence: bool = False
    """Whether events carry DeepConf token confidences."""
    peek_answer: Callable[[int], str | None] | None = field(default=None, repr=False)
    """Replay only, for simulation (oracle strategy, noisy-oracle judge): the final answer
    trace ``trace_id`` *will* reach. Real strategies must not use it; live sources give None."""


@dataclass(frozen=True)
class Decision:
    """A strategy's final answer for a problem and its own accounting."""

    answer: str | None
    judge_calls: int = 0
    """Pair comparisons the judge made."""
    judge_tokens: int = 0
    """Judge input tokens (approximate: whitespace words of both prefixes per pair)."""
    info: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- the protocol
class Strategy(ABC):
    """Base class of every strategy. Subclasses implement ``start``, ``on_event``, ``result``."""

    name: str = "strategy"

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
