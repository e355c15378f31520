"""The wire between sources, strategies and the runner: events and actions.

A :class:`~deepprune.core.protocol.Strategy` receives *events* about traces from a source (a
trace made progress, finished, or failed) and answers with *actions* (launch more traces, stop
one, resume one, halt). Both are plain frozen dataclasses with no behaviour and no I/O; every
layer above (sources, strategies, judges, the runner) speaks them.
"""

from __future__ import annotations

from dataclasses import dataclass

from deepprune.core.types import FinishReason

__all__ = [
    "Action",
    "Event",
    "Halt",
    "Launch",
    "Probe",
    "Resume",
    "Stop",
    "TraceFailed",
    "TraceFinished",
    "TraceProbed",
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
    logprobs: tuple[float, ...] | None = None
    """The log-probability of each sampled token, when available (replay: recorded ``logprobs``;
    live: the ``logprob`` the server sends with the top-k alternatives)."""


@dataclass(frozen=True, slots=True)
class TraceFailed:
    """Trace ``trace_id`` broke off (live only): its tokens so far are charged, it has no answer."""

    trace_id: int
    n_tokens: int
    error: str


@dataclass(frozen=True, slots=True)
class TraceProbed:
    """The answer probe a strategy asked for (:class:`Probe`) came back: after the trace's first
    ``at`` tokens the model's current answer was ``answer`` (None: it gave none), with mean token
    log-probability ``logprob``. The probe generated ``n_tokens`` tokens, charged to the trace;
    ``prompt_tokens`` is what the probe read (reported apart, like judge input; None if unknown)."""

    trace_id: int
    at: int
    answer: str | None
    logprob: float | None
    n_tokens: int
    prompt_tokens: int | None = None


Event = TraceProgress | TraceFinished | TraceFailed | TraceProbed


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
class Probe:
    """Ask trace ``trace_id``'s current answer at the token count of its latest event (the trace
    keeps running): a :class:`TraceProbed` event follows. Replay reads the probe recorded at that
    count (``deepprune probe``); live sends the prompt, the text so far and a "final answer" cue
    (see :mod:`deepprune.engine.probing`). Needs ``RunContext.can_probe``."""

    trace_id: int


@dataclass(frozen=True, slots=True)
class Halt:
    """Stop every running trace and finish the problem."""


Action = Launch | Stop | Resume | Probe | Halt


