"""short-m@k: launch k traces, stop all of them once the first m have finished, vote among those m.

Hassid et al., *Don't Overthink It: Preferring Shorter Thinking Chains for Improved LLM Reasoning*
(arXiv 2505.17813): among parallel samples the shortest chains are the most often right, so the
first ``m`` to finish vote and the rest are stopped at once. ``m = 1`` is **first-finish** (the
shortest trace answers; arXiv 2505.18149 makes the same observation).

Open choices the paper leaves, and what we do:

* A trace that ends *without* an answer (e.g. at the length limit) does not count toward ``m``:
  it cannot vote. If every trace ends before ``m`` answers exist, the answers there are vote.
* "First" is arrival order: in lock-step replay the shortest traces, with traces of equal length
  in the source's order; live, the order their last chunk arrives.
* Ties among the ``m`` go to the answer whose first trace finished earliest (the shortest), the
  tie rule of every vote in deepprune (:func:`deepprune.core.voting.majority_vote`).

This file is the worked example of docs/strategies.md ("Writing a strategy"): a strategy is one
class with ``start`` / ``on_event`` / ``result`` plus one registration in
:mod:`deepprune.strategies.builtin`.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    TraceFinished,
)

__all__ = ["FirstFinishStrategy", "ShortMStrategy"]


class ShortMStrategy(Strategy):
    """Launch K; once ``m`` traces have finished with an answer, stop the rest and vote."""

    name = "short-m"
    family = "stop-early"
    paper = "Hassid et al., Don't Overthink It (short-m@k), arXiv 2505.17813"

    def __init__(self, m: int = 3) -> None:
        if m < 1:
            raise ConfigError("m", m, "a positive integer")
        self.m = m
        self._answers: list[str] = []
        self._kind = "math"

    def start(self, ctx: RunContext) -> Sequence[Action]:
        self._kind = ctx.problem.kind
        return [Launch(ctx.budget)]

    def on_event(self, event: Event) -> Sequence[Action]:
        if isinstance(event, TraceFinished) and event.answer is not None and len(self._answers) < self.m:
            self._answers.append(event.answer)
            if len(self._answers) == self.m:
                return [Halt()]  # the runner stops every trace still running
        return ()

    def result(self) -> Decision:
        vote = majority_vote(self._answers, kind=self._kind)
        return Decision(vote.answer, info={"voters": len(self._answers), "share": vote.share})


class FirstFinishStrategy(ShortMStrategy):
    """short-1@k: the first trace to finish with an answer answers (``first-finish``)."""

    name = "first-finish"
    paper = "Agarwal et al., First Finish Search, arXiv 2505.18149"

    def __init__(self) -> None:
        super().__init__(1)
