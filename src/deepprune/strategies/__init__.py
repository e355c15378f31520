"""Strategies: pure state machines that decide which traces to run, stop and vote over."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
from deepprune.strategies.registry import StrategySpec, available, build

if TYPE_CHECKING:
    from deepprune.strategies.adaptive import AdaptiveConsistency
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
    from deepprune.strategies.short_m import FirstFinishStrategy, ShortMStrategy

_LAZY = {
    "AdaptiveConsistency": "adaptive",
    "ConsensusStrategy": "cons",
    "DeepConfOffline": "deepconf",
    "DeepConfOfflineConfig": "deepconf",
    "DeepConfOnline": "deepconf",
    "DeepConfOnlineConfig": "deepconf",
    "DeepPruneConfig": "deepprune",
    "DeepPruneStrategy": "deepprune",
    "EarlyStoppingSC": "esc",
    "FirstFinishStrategy": "short_m",
    "OracleStrategy": "oracle",
    "ShortMStrategy": "short_m",
    "SlimSCConfig": "slim_sc",
    "SlimSCStrategy": "slim_sc",
    "STBoNConfig": "st_bon",
    "STBoNStrategy": "st_bon",
    "CISCConfig": "cisc",
    "CISCStrategy": "cisc",
    "RPCConfig": "rpc",
    "RPCStrategy": "rpc",
    "SelfCertaintyConfig": "self_certainty",
    "SelfCertaintyStrategy": "self_certainty",
    "ProbeExitStrategy": "probe_exit",
}
"""Strategy classes, imported on first use: DeepPrune brings the judges (and scipy), which the
registry and the protocol do not need."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Action",
    "AdaptiveConsistency",
    "CISCConfig",
    "CISCStrategy",
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
    "FirstFinishStrategy",
    "Halt",
    "Launch",
    "OracleStrategy",
    "ProbeExitStrategy",
    "RPCConfig",
    "RPCStrategy",
    "Resume",
    "RunContext",
    "STBoNConfig",
    "STBoNStrategy",
    "SelfCertaintyConfig",
    "SelfCertaintyStrategy",
    "ShortMStrategy",
    "SlimSCConfig",
    "SlimSCStrategy",
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
