"""deepprune: cheap parallel LLM reasoning.

Self-consistency samples K reasoning traces per question and majority-votes their answers;
deepprune watches traces while they are generated, stops the redundant ones, and votes over the
rest — with the same strategy code on recorded traces (replay) and on live inference servers.

>>> from deepprune import majority_vote
>>> majority_vote(["4", "4", "5"]).answer
'4'
"""

from __future__ import annotations

import importlib
import typing as _typing

from deepprune.core.answers import answers_equal, canonical_key, detect_kind, extract_answer
from deepprune.core.types import AnswerKind, Problem, ProblemResult, Trace, TraceSet
from deepprune.core.voting import Vote, majority_vote
from deepprune.engine.bench import BenchRow, bench
from deepprune.engine.runner import run, run_sync
from deepprune.formats import load_problems, load_traces, read_traces, write_traces
from deepprune.sources.replay import ReplaySource
from deepprune.strategies.base import Strategy
from deepprune.strategies.registry import build as build_strategy

if _typing.TYPE_CHECKING:
    from deepprune.judges.base import Judge
    from deepprune.judges.deepprune4b import DeepPruneJudge4B
    from deepprune.judges.learned import MiniLMJudge
    from deepprune.judges.lexical import LexicalJudge
    from deepprune.judges.registry import make_judge
    from deepprune.judges.simulated import ConstantJudge, NoisyOracleJudge
    from deepprune.judges.trained import TrainedJudge
    from deepprune.judges.zero_shot import ZeroShotJudge
    from deepprune.sources.live import LiveSource
    from deepprune.sources.openai_client import EndpointConfig
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

__version__ = "0.1.0"

_LAZY = {
    # strategies people construct (``build_strategy("name:k=v")`` builds them by name)
    "AdaptiveConsistency": "deepprune.strategies.adaptive",
    "ConsensusStrategy": "deepprune.strategies.cons",
    "DeepConfOffline": "deepprune.strategies.deepconf",
    "DeepConfOfflineConfig": "deepprune.strategies.deepconf",
    "DeepConfOnline": "deepprune.strategies.deepconf",
    "DeepConfOnlineConfig": "deepprune.strategies.deepconf",
    "DeepPruneConfig": "deepprune.strategies.deepprune",
    "DeepPruneStrategy": "deepprune.strategies.deepprune",
    "EarlyStoppingSC": "deepprune.strategies.esc",
    "FirstFinishStrategy": "deepprune.strategies.short_m",
    "OracleStrategy": "deepprune.strategies.oracle",
    "ShortMStrategy": "deepprune.strategies.short_m",
    "SlimSCConfig": "deepprune.strategies.slim_sc",
    "SlimSCStrategy": "deepprune.strategies.slim_sc",
    "STBoNConfig": "deepprune.strategies.st_bon",
    "STBoNStrategy": "deepprune.strategies.st_bon",
    "CISCConfig": "deepprune.strategies.cisc",
    "CISCStrategy": "deepprune.strategies.cisc",
    "RPCConfig": "deepprune.strategies.rpc",
    "RPCStrategy": "deepprune.strategies.rpc",
    "SelfCertaintyConfig": "deepprune.strategies.self_certainty",
    "SelfCertaintyStrategy": "deepprune.strategies.self_certainty",
    "ProbeExitStrategy": "deepprune.strategies.probe_exit",
    # judges (``make_judge("name", params)`` builds them by name)
    "ConstantJudge": "deepprune.judges.simulated",
    "DeepPruneJudge4B": "deepprune.judges.deepprune4b",
    "Judge": "deepprune.judges.base",
    "LexicalJudge": "deepprune.judges.lexical",
    "MiniLMJudge": "deepprune.judges.learned",
    "NoisyOracleJudge": "deepprune.judges.simulated",
    "TrainedJudge": "deepprune.judges.trained",
    "ZeroShotJudge": "deepprune.judges.zero_shot",
    "make_judge": "deepprune.judges.registry",
    # live inference (httpx)
    "EndpointConfig": "deepprune.sources.openai_client",
    "LiveSource": "deepprune.sources.live",
}
"""Public names imported on first use, so that ``import deepprune`` stays light (no scipy, httpx,
torch or matplotlib until a judge, a live source or a plot is used)."""

_UNLISTED = {
    "LocalServer": "deepprune.servers.local",
    "LocalServerConfig": "deepprune.servers.local",
}
"""Still importable from here (older code), but not the public API: the llama.cpp build-and-launch
helper lives in :mod:`deepprune.servers.local`."""


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name) or _UNLISTED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AdaptiveConsistency",
    "AnswerKind",
    "BenchRow",
    "CISCConfig",
    "CISCStrategy",
    "ConsensusStrategy",
    "ConstantJudge",
    "DeepConfOffline",
    "DeepConfOfflineConfig",
    "DeepConfOnline",
    "DeepConfOnlineConfig",
    "DeepPruneConfig",
    "DeepPruneJudge4B",
    "DeepPruneStrategy",
    "EarlyStoppingSC",
    "EndpointConfig",
    "FirstFinishStrategy",
    "Judge",
    "LexicalJudge",
    "LiveSource",
    "MiniLMJudge",
    "NoisyOracleJudge",
    "OracleStrategy",
    "ProbeExitStrategy",
    "Problem",
    "ProblemResult",
    "RPCConfig",
    "RPCStrategy",
    "ReplaySource",
    "STBoNConfig",
    "STBoNStrategy",
    "SelfCertaintyConfig",
    "SelfCertaintyStrategy",
    "ShortMStrategy",
    "SlimSCConfig",
    "SlimSCStrategy",
    "Strategy",
    "Trace",
    "TraceSet",
    "TrainedJudge",
    "Vote",
    "ZeroShotJudge",
    "answers_equal",
    "bench",
    "build_strategy",
    "canonical_key",
    "detect_kind",
    "extract_answer",
    "load_problems",
    "load_traces",
    "majority_vote",
    "make_judge",
    "read_traces",
    "run",
    "run_sync",
    "write_traces",
]
