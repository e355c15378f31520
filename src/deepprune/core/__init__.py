"""The bottom layer: the protocol every other layer speaks, and the plain data it speaks about.

* :mod:`~deepprune.core.events`: events (source -> strategy) and actions (strategy -> runner);
* :mod:`~deepprune.core.protocol`: ``Strategy``, ``RunContext``, ``Decision``, and the replay-only
  :class:`~deepprune.core.protocol.AnswerPeek`;
* :mod:`~deepprune.core.spec`: the ``name:key=value`` spec parser and ``take``;
* :mod:`~deepprune.core.seeds`: ``trace_seed``;
* :mod:`~deepprune.core.records`: the bench row record (``BenchRow``) with a validated ``from_dict``;
* :mod:`~deepprune.core.wire`: the typed OpenAI streaming chunks that the replay server encodes and
  the live client decodes (not imported here: only those two need it).

Plain data and pure functions (not imported here): :mod:`~deepprune.core.types` (problems,
traces, results), :mod:`~deepprune.core.errors`, :mod:`~deepprune.core.answers` (extraction and
equivalence), :mod:`~deepprune.core.voting`, :mod:`~deepprune.core.tokens`,
:mod:`~deepprune.core.prefix` (truncation rules), :mod:`~deepprune.core.confidence` (DeepConf
scores), :mod:`~deepprune.core.redact`.

Layers (checked by ``tests/test_layers.py``), one folder each: core and formats < sources,
strategies, judges < engine < servers, report < cli. Nothing in core imports a layer above it.
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
from deepprune.core.protocol import (
    FAMILIES,
    AnswerPeek,
    Decision,
    FunctionPeek,
    RunContext,
    Strategy,
    StrategyFactory,
)
from deepprune.core.seeds import trace_seed
from deepprune.core.spec import StrategySpec, take

__all__ = [
    "FAMILIES",
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
    "StrategySpec",
    "TraceFailed",
    "TraceFinished",
    "TraceProbed",
    "TraceProgress",
    "take",
    "trace_seed",
]
