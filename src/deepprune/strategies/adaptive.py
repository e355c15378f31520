"""Adaptive-Consistency (Aggarwal et al., EMNLP 2023) with the Beta stopping criterion.

Traces are sampled ``parallel`` at a time (default 1: one after another, as in the paper).
After every finished trace, with ``v1 >= v2`` the vote counts of the two leading answers, the
probability that the leading answer is the true majority is

    P = P(p1 > p2 | counts) = P(X > 1/2),  X ~ Beta(v1 + 1, v2 + 1)

(uniform prior; computed exactly for integer counts as a binomial tail). Sampling stops when
``P >= threshold`` (default 0.95; four unanimous answers suffice) or at the budget K; traces
still running are stopped (charged). Final answer: majority vote over finished traces.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from deepprune.core.answers import group_answers
from deepprune.core.errors import ConfigError
from deepprune.core.voting import majority_vote
from deepprune.strategies.base import (
    Action,
    Decision,
    Event,
    Halt,
    Launch,
    RunContext,
    Strategy,
    TraceFailed,
    TraceFinished,
)

__all__ = ["AdaptiveConsistency", "beta_stop_probability"]


def beta_stop_probability(v1: int, v2: int) -> float:
    """P(X > 1/2) for X ~ Beta(v1 + 1, v2 + 1), exact for integer counts.

    With a = v1 + 1, b = v2 + 1 and n = a + b - 1: P = P(Binomial(n, 1/2) >= a).

    >>> beta_stop_probability(4, 0)
    0.96875
    >>> beta_stop_probability(1, 1)
    0.5
    """
    a, b = v1 + 1, v2 + 1
    n = a + b - 1
    tail: int = sum(math.comb(n, k) for k in range(a, n + 1))
    return 1.0 - tail / float(1 << n)


class AdaptiveConsistency(Strategy):
    """Sample until the Beta criterion settles the leading answer."""

    name = "adaptive"
    family = "stop-early"
    paper = "Aggarwal et al., Adaptive-Consistency, EMNLP 2023, arXiv 2305.11860"

    def __init__(self, threshold: float = 0.95, parallel: int = 1) -> None:
        if not 0.5 <= threshold <= 1.0:
            raise ConfigError("threshold", threshold, "in [0.5, 1]")
        if parallel < 1:
            raise ConfigError("parallel", parallel, "a positive integer")
        self.threshold = threshold
        self.parallel = parallel
        self._ctx: RunContext | None = None
        self._launched = 0
        self._running = 0
        self._answers: list[str | None] = []
        self._stopped_early = False
        self._p = 0.0

    def start(self, ctx: RunContext) -> Sequence[Action]:
        self._ctx = ctx
        return self._launch()

    def _launch(self) -> list[Action]:
        assert self._ctx is not None
        n = min(self.parallel - self._running, self._ctx.budget - self._launched)
        if n <= 0:
            return []
        self._launched += n
        self._running += n
        return [Launch(n)]

    def on_event(self, event: Event) -> Sequence[Action]:
        if isinstance(event, TraceFinished):
            self._answers.append(event.answer)
        elif not isinstance(event, TraceFailed):
            return ()
        self._running -= 1
        assert self._ctx is not None
        groups = [g for g in group_answers(self._answers, self._ctx.problem.kind) if g >= 0]
        counts = [*sorted((groups.count(g) for g in set(groups)), reverse=True), 0, 0]
        self._p = beta_stop_probability(counts[0], counts[1]) if groups else 0.0
        if self._p >= self.threshold:
            self._stopped_early = self._launched < self._ctx.budget or self._running > 0
            return [Halt()]
        return self._launch()

    def result(self) -> Decision:
        assert self._ctx is not None
        vote = majority_vote(self._answers, kind=self._ctx.problem.kind)
        return Decision(vote.answer, info={"stop_probability": self._p, "stopped_early": self._stopped_early,
                                           "share": vote.share})
