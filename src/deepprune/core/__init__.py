"""The bottom layer: the protocol every other layer speaks, and nothing else.

* :mod:`~deepprune.core.events`: events (source -> strategy) and actions (strategy -> runner);
* :mod:`~deepprune.core.protocol`: ``Strategy``, ``RunContext``, ``Decision``, and the replay-only
  :class:`~deepprune.core.protocol.AnswerPeek`;
* :mod:`~deepprune.core.spec`: the ``name:key=value`` spec parser and ``take``;
* :mod:`~deepprune.core.seeds`: ``trace_seed``;
* :mod:`~deepprune.core.records`: the bench row record (``BenchRow``) with a validated ``from_dict``;
* :mod:`~deepprune.core.wire`: the typed OpenAI streaming chunks that the replay server encodes and
  the live client decodes (not imported here: only those two need it).

Layers (checked by ``tests/test_layers.py``): core (with the plain-data modules ``types``,
``errors``, ``answers``, ...) < sources, strategies, judges < engine (runner, bench, ...) < cli.
Nothing in core imports a layer above it.
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
