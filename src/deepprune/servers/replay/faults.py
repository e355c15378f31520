"""Injected faults of the replay server and their spec language (``--fault``, ``X-Deepprune-Fault``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from deepprune.core.errors import ConfigError

__all__ = ["Fault", "FaultKind"]


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


_ARGS = {FaultKind.REFUSE: 0, FaultKind.STATUS: 1, FaultKind.DROP: 1, FaultKind.STALL: 2,
         FaultKind.MALFORMED: 1, FaultKind.NO_LOGPROBS: 0}
"""How many ``:`` arguments each kind takes at most."""


@dataclass(frozen=True)
class Fault:
    """One injected fault (see :mod:`deepprune.servers.replay`). Parse the CLI form with :meth:`parse`."""

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
        want = _ARGS[kind]
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
