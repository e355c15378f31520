"""Voting over answers grouped by equivalence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from deepprune.core.answers import group_answers
from deepprune.core.types import AnswerKind

__all__ = ["Vote", "majority_vote"]


@dataclass(frozen=True, slots=True)
class Vote:
    """The outcome of a vote."""

    answer: str | None
    """The winning answer (as first written by a voter), None when nobody answered."""
    weight: float
    """Total weight of the winning group."""
    total: float
    """Total weight of all votes with an answer."""
    groups: int
    """Number of distinct (non-equivalent) answers."""

    @property
    def share(self) -> float:
        """Winning weight / total weight (DeepConf's consensus beta); 0 when nobody answered."""
        return self.weight / self.total if self.total > 0 else 0.0


def majority_vote(
    answers: Sequence[str | None],
    weights: Sequence[float] | None = None,
    *,
    kind: AnswerKind | str = AnswerKind.MATH,
) -> Vote:
    """Weighted majority vote over answers grouped by equivalence.

    ``answers`` are in arrival order. Missing answers (None) do not vote. **Ties** go to the
    group whose first vote arrived earliest (so with traces replayed in lock-step, the group
    holding the shortest finished trace wins a tie).

    >>> majority_vote(["4", "4", "5"]).answer
    '4'
    >>> majority_vote(["1/2", "3", "0.5"]).answer
    '1/2'
    >>> majority_vote(["3", "5"], [1.0, 2.0]).answer
    '5'
    >>> majority_vote([None, None]).answer is None
    True
    """
    if weights is not None and len(weights) != len(answers):
        raise ValueError(f"weights has {len(weights)} entries, answers has {len(answers)}")
    groups = group_answers(answers, kind)
    totals: dict[int, float] = {}
    first: dict[int, str] = {}
    for i, g in enumerate(groups):
        if g < 0:
            continue
        w = 1.0 if weights is None else float(weights[i])
        totals[g] = totals.get(g, 0.0) + w
        if g not in first:
            first[g] = answers[i]  # type: ignore[assignment]
    if not totals:
        return Vote(answer=None, weight=0.0, total=0.0, groups=0)
    # groups are numbered by first appearance, so min group id wins a tie
    best = max(totals, key=lambda g: (totals[g], -g))
    return Vote(answer=first[best], weight=totals[best], total=sum(totals.values()), groups=len(totals))
