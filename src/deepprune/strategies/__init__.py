"""Strategies: pure state machines that decide which traces to run, stop and vote over."""

from __future__ import annotations

from deepprune.strategies.base import (
    Action,
    Decision,
    Event,
    Halt,
    Launch,
    Resume,
    RunContext,
    Stop,
    Strategy,
    StrategyFactory,
    TraceFailed,
    TraceFinished,
    TraceProgress,
)
from deepprune.strategies.cons import ConsensusStrategy
from deepprune.strategies.oracle import OracleStrategy
from deepprune.strategies.registry import StrategySpec, available, build

__all__ = [
    "Action",
    "ConsensusStrategy",
    "Decision",
    "Event",
    "Halt",
    "Launch",
    "OracleStrategy",
    "Resume",
    "RunContext",
    "Stop",
    "Strategy",
    "StrategyFactory",
    "StrategySpec",
    "TraceFailed",
    "TraceFinished",
    "TraceProgress",
    "available",
    "build",
]
