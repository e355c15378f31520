"""The skeleton of the vote-over-finished-traces strategies: all K finish, each is scored, one vote.

``cons``, ``deepconf`` (offline), ``cisc``, ``self-certainty`` and ``rpc`` share one life cycle and
differ only in how a finished trace is scored and how scores become vote weights:

1. launch all K traces at once, stop none (cost = cons@K);
2. score each trace as it finishes (:meth:`FinishedVoteStrategy.on_finished`), so that data the
   strategy cannot use (no confidences, no sampled logprobs) raises
   :class:`~deepprune.core.errors.NotApplicable` at once (an n/a row in bench);
3. weighted vote over answers grouped by equivalence (:meth:`FinishedVoteStrategy.vote`, i.e.
   :func:`deepprune.core.voting.majority_vote` with the problem's answer kind; ties go to the answer
   whose first trace finished earliest).

A strategy of this family subclasses :class:`FinishedVoteStrategy` (or
:class:`AnsweredScoreVote` when only traces with an answer are scored) and keeps its own scoring
and weighting in its own file. The data checks they share are here too: :func:`need_confidence`
and :func:`sampled_logprobs`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from deepprune.core.errors import NotApplicable
from deepprune.core.voting import Vote, majority_vote
from deepprune.strategies.base import Action, Event, Launch, RunContext, Strategy, TraceFinished

__all__ = ["AnsweredScoreVote", "FinishedVoteStrategy", "need_confidence", "sampled_logprobs"]


def need_confidence(ctx: RunContext, name: str) -> None:
    """Raise NotApplicable (an n/a row in bench) when the traces carry no confidences."""
    if not ctx.has_confidence:
        raise NotApplicable(
            f"{name} needs per-token confidences (top-k logprobs), and the traces of problem "
            f"{ctx.problem.id!r} have none: record traces with logprobs (deepprune collect "
            "--top-logprobs 20) or use a strategy without confidences (cons, esc, adaptive, deepprune)"
        )


def sampled_logprobs(event: TraceFinished, user: str) -> tuple[float, ...]:
    """The sampled tokens' logprobs of a finished trace, or NotApplicable (an n/a row) naming
    ``user`` when the source has confidences but not them."""
    if event.logprobs is None:
        raise NotApplicable(
            f"{user} needs the log-probability of each sampled token, and trace {event.trace_id} "
            "carries top-k confidences only: record traces with deepprune collect (it stores both) "
            "or use a score from the confidences")
    return event.logprobs


class FinishedVoteStrategy(Strategy):
    """All K traces finish; each finished trace is recorded by :meth:`on_finished`; :meth:`result`
    votes (:meth:`vote`).

    ``needs_confidence``: the strategy reads per-token confidences (checked at ``start``).
    """

    needs_confidence: ClassVar[bool] = True

    def __init__(self) -> None:
        self._kind = "math"

    def start(self, ctx: RunContext) -> Sequence[Action]:
        if self.needs_confidence:
            need_confidence(ctx, self.name)
        self._kind = ctx.problem.kind
        return [Launch(ctx.budget)]

    def on_event(self, event: Event) -> Sequence[Action]:
        if isinstance(event, TraceFinished):
            self.on_finished(event)
        return ()

    @abstractmethod
    def on_finished(self, event: TraceFinished) -> None:
        """Record one finished trace (its answer, its score)."""

    def vote(self, answers: Sequence[str | None], weights: Sequence[float] | None = None) -> Vote:
        """Weighted majority vote with this problem's answer kind (``weights=None``: one each)."""
        return majority_vote(answers, weights, kind=self._kind)


class AnsweredScoreVote(FinishedVoteStrategy):
    """Each finished trace *with an answer* gets :meth:`score`; a trace without one cannot vote
    and is not scored. ``_answers`` and ``_scores`` are in finish order."""

    def __init__(self) -> None:
        super().__init__()
        self._answers: list[str] = []
        self._scores: list[float] = []

    def on_finished(self, event: TraceFinished) -> None:
        if event.answer is not None:
            self._answers.append(event.answer)
            self._scores.append(self.score(event))

    @abstractmethod
    def score(self, event: TraceFinished) -> float:
        """The score of one finished trace with an answer."""
