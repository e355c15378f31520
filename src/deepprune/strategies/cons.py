"""cons@K: self-consistency, the baseline every strategy is measured against."""

from __future__ import annotations

from deepprune.strategies.base import Decision, TraceFinished
from deepprune.strategies.finished_vote import FinishedVoteStrategy

__all__ = ["ConsensusStrategy"]


class ConsensusStrategy(FinishedVoteStrategy):
    """Launch all K traces, let every one finish, majority-vote their answers.

    Answers are grouped by equivalence (:func:`deepprune.core.voting.majority_vote`); ties go to
    the answer whose first trace finished earliest. Cost = every generated token.
    """

    name = "cons"
    family = "vote"
    paper = "Wang et al., Self-Consistency, ICLR 2023, arXiv 2203.11171"

    needs_confidence = False

    def __init__(self) -> None:
        super().__init__()
        self._answers: list[str | None] = []

    def on_finished(self, event: TraceFinished) -> None:
        self._answers.append(event.answer)

    def result(self) -> Decision:
        vote = self.vote(self._answers)
        return Decision(vote.answer, info={"groups": vote.groups, "share": vote.share})
