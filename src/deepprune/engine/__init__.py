"""The engine: strategies meet sources, problems run, results aggregate.

* :func:`~deepprune.engine.replay.replay`: one replay of a trace set (one ordering), a fresh
  strategy per problem from a factory; :func:`~deepprune.engine.replay.replay_orderings` runs
  several seeded orderings in one event loop;
* :func:`~deepprune.engine.replay.aggregate`: per-problem results over orderings -> one
  :class:`~deepprune.core.records.BenchRow` (``not_applicable_row`` for a strategy that cannot run);
* :func:`~deepprune.engine.tasks.run_each`: the one bounded-concurrency loop (``asyncio.TaskGroup``:
  a failing problem cancels its siblings).

``bench``, ``simulate``, ``demo``, the judge prefix sweep (:mod:`~deepprune.engine.judge_sweep`) and
``deepprune run`` are built on these; :func:`~deepprune.engine.tasks.blocking` makes the blocking twin
(``bench``, ``run_sync``, ``prefix_sweep``) of each coroutine driver;
the per-problem driver itself is :func:`deepprune.engine.runner.run_problem`.
"""

from __future__ import annotations

from deepprune.engine.replay import aggregate, not_applicable_row, replay, replay_orderings
from deepprune.engine.tasks import run_each

__all__ = ["aggregate", "not_applicable_row", "replay", "replay_orderings", "run_each"]
