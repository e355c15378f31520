"""The Strategy protocol (re-exported from :mod:`deepprune.core`, where it lives).

Strategies import these names from here or from ``deepprune.core``; sources and judges import
them from ``deepprune.core`` only (they sit below the strategies package). See
:mod:`deepprune.core.protocol` for the life cycle and :mod:`deepprune.core.events` for the events
and actions.
"""

from __future__ import annotations

from deepprune.core.events import (
    Action,
    Event,
    Halt,
    Launch,
    Probe,
    Resume,
    Stop,
    TraceFailed,
    TraceFinished,
    TraceProbed,
    TraceProgress,
)
from deepprune.core.protocol import AnswerPeek, Decision, FunctionPeek, RunContext, Strategy, StrategyFactory

__all__ = [
    "Action",
    "AnswerPeek",
    "Decision",
    "Event",
    "FunctionPeek",
    "Halt",
    "Launch",
    "Probe",
    "Resume",
    "RunContext",
    "Stop",
    "Strategy",
    "StrategyFactory",
    "TraceFailed",
    "TraceFinished",
    "TraceProbed",
    "TraceProgress",
]
