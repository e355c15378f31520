"""deepprune: cheap parallel LLM reasoning.

Self-consistency samples K reasoning traces per question and majority-votes their answers;
deepprune watches traces while they are generated, stops the redundant ones, and votes over the
rest — with the same strategy code on recorded traces (replay) and on live inference servers.

>>> from deepprune import majority_vote
>>> majority_vote(["4", "4", "5"]).answer
'4'
"""

from __future__ import annotations

from deepprune.answers import answers_equal, canonical_key, detect_kind, extract_answer
from deepprune.bench import BenchRow, bench
from deepprune.formats import load_problems, load_traces, read_traces, write_traces
from deepprune.localserver import LocalServer, LocalServerConfig
from deepprune.runner import run, run_sync
from deepprune.sources.live import LiveSource
from deepprune.sources.openai_client import EndpointConfig
from deepprune.sources.replay import ReplaySource
from deepprune.strategies.base import Strategy
from deepprune.strategies.registry import build as build_strategy
from deepprune.types import AnswerKind, Problem, ProblemResult, Trace, TraceSet
from deepprune.voting import Vote, majority_vote

__version__ = "0.1.0"

__all__ = [
    "AnswerKind",
    "BenchRow",
    "EndpointConfig",
    "LiveSource",
    "LocalServer",
    "LocalServerConfig",
    "Problem",
    "ProblemResult",
    "ReplaySource",
    "Strategy",
    "Trace",
    "TraceSet",
    "Vote",
    "answers_equal",
    "bench",
    "build_strategy",
    "canonical_key",
    "detect_kind",
    "extract_answer",
    "load_problems",
    "load_traces",
    "majority_vote",
    "read_traces",
    "run",
    "run_sync",
    "write_traces",
]
