"""Strategies: pure state machines that decide which traces to run, stop and vote over."""

from __future__ import annotations

from deepprune.strategies.adaptive import AdaptiveConsistency
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
from deepprune.strategies.deepconf import (
    DeepConfOffline,
    DeepConfOfflineConfig,
    DeepConfOnline,
    DeepConfOnlineConfig,
)
from deepprune.strategies.deepprune import DeepPruneConfig, DeepPruneStrategy
from deepprune.strategies.esc import EarlyStoppingSC
from deepprune.strategies.oracle import OracleStrategy
from deepprune.strategies.registry import StrategySpec, available, build

__all__ = [
    "Action",
    "AdaptiveConsistency",
    "ConsensusStrategy",
    "Decision",
    "DeepConfOffline",
    "DeepConfOfflineConfig",
    "DeepConfOnline",
    "DeepConfOnlineConfig",
    "DeepPruneConfig",
    "DeepPruneStrategy",
    "EarlyStoppingSC",
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
