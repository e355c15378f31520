"""cons@K: self-consistency, the baseline every strategy is measured against."""

from __future__ import annotations

from collections.abc import Sequence

from deepprune.strategies.base import (
    Action,
    Decision,
    Event,
    Launch,
    RunContext,
    Strategy,
    TraceFinished,
)
from deepprune.voting import majority_vote

__all__ = ["ConsensusStrategy"]


class ConsensusStrategy(Strategy):
    """Launch all K traces, let every one finish, majority-vote their answers.

    Answers are grouped by equivalence (:func:`deepprune.voting.majority_vote`); ties go to
    the answer whose first trace finished earliest. Cost = every generated token.
    """

    name = "cons"
    family = "vote"
    paper = "Wang et al., Self-Consistency, ICLR 2023, arXiv 2203.11171"

    def __init__(self) -> None:
        self._answers: list[str | None] = []
        self._kind = "math"

    def start(self, ctx: RunContext) -> Sequence[Action]:
        self._kind = ctx.problem.kind
        return [Launch(ctx.budget)]

    def on_event(self, event: Event) -> Sequence[Action]:
        if isinstance(event, TraceFinished):
            self._answers.append(event.answer)
        return ()

    def result(self) -> Decision:
        vote = majority_vote(self._answers, kind=self._kind)
        return Decision(vote.answer, info={"groups": vote.groups, "share": vote.share})
