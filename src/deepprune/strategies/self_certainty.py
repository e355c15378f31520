"""Self-certainty with Borda voting: traces ranked by how peaked their token distributions are.

Kang et al., *Scalable Best-of-N Selection for Large Language Models via Self-Certainty*
(arXiv 2502.18581). A trace's **self-certainty** is the mean over its tokens of the KL divergence
of the next-token distribution from the uniform one,

    SC(trace) = (1/n) * sum_i KL(U || p_i) = -(1/(n V)) * sum_i sum_j log(V * p_i(j)),

higher = more certain. Traces are ranked by it (rank 1 = the most certain) and vote with the
Borda weight of their rank, ``v(r) = (N - r + 1)^p``: ``p = 0`` is plain majority voting, a large
``p`` approaches "the most certain trace answers".

Algorithm here (all K traces finish, cost = cons@K):

1. launch K traces, let every one finish;
2. each finished trace with an answer gets its self-certainty
   (:func:`deepprune.core.confidence.self_certainty`);
3. those N traces are ranked by it, descending (ties: the earlier finisher ranks higher);
4. each votes for its answer with weight ``(N - r + 1)^p``; weighted vote over answers grouped by
   equivalence (:func:`deepprune.core.voting.majority_vote`; ties: the answer whose first trace
   finished earliest).

**The top-k approximation.** The paper sums over the whole vocabulary; servers return only the
top-k log-probabilities (k <= 20), and the stored DeepConf confidence is
``C_i = -(1/k) * sum of the top-k logprobs``. Restricting both the uniform distribution and the
sum to those k tokens (probabilities not renormalised) gives ``KL = C_i - log k`` per token, so
``SC = mean(C_i) - log k``. Consequences: (a) the value misses the tail of the vocabulary, where
``log p`` is very negative, so it is much smaller than the full-vocabulary value; (b) the
ranking, which is all Borda uses, is the ranking by DeepConf's ``mean`` confidence (``k`` shifts
every trace by the same constant) — what differs from ``deepconf:score=mean,keep=1`` is the
weight, a function of the rank instead of the score itself. Renormalising the top-k to sum to one
would add ``log Z_i`` (``Z_i`` the top-k probability mass) per token; the stored confidences
(a mean per token) cannot give it.

Open choices: ``p = 0.5`` by default (the paper studies several powers; open); N counts the
traces with an answer (a trace without one cannot vote, so it takes no rank); ``k = 20``
(``deepprune collect --top-logprobs 20``) only changes the reported value. ``p = 0`` is cons@K
exactly (tested).

Needs per-token confidences: on data without them it raises
:class:`~deepprune.core.errors.NotApplicable` (an n/a row in bench), as ``deepconf`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from deepprune.core.confidence import DEFAULT_TOP_K, self_certainty
from deepprune.core.errors import ConfigError
from deepprune.strategies.base import Decision, TraceFinished
from deepprune.strategies.finished_vote import AnsweredScoreVote

__all__ = ["SelfCertaintyConfig", "SelfCertaintyStrategy", "borda_weights"]


def borda_weights(scores: Sequence[float], p: float) -> list[float]:
    """Borda weights ``(N - r + 1)^p`` in input order; rank ``r = 1`` is the highest score
    (ties: the earlier index ranks higher).

    >>> borda_weights([0.2, 0.9, 0.5], 1.0)
    [1.0, 3.0, 2.0]
    >>> [round(w, 3) for w in borda_weights([0.2, 0.9, 0.5], 0.5)]
    [1.0, 1.732, 1.414]
    >>> borda_weights([0.7, 0.7], 1.0)
    [2.0, 1.0]
    """
    n = len(scores)
    order = sorted(range(n), key=lambda i: (-scores[i], i))
    weights = [0.0] * n
    for r, i in enumerate(order, start=1):
        weights[i] = float(n - r + 1) ** p
    return weights


@dataclass(frozen=True)
class SelfCertaintyConfig:
    p: float = 0.5
    """Borda power: weight (N - rank + 1)^p; 0 = majority vote."""
    k: int = DEFAULT_TOP_K
    """Top-k alternatives behind the stored confidences (shifts the reported value only)."""

    def __post_init__(self) -> None:
        if not self.p >= 0:  # also rejects nan
            raise ConfigError("p", self.p, "a number >= 0 (0: majority vote)")
        if self.k < 1:
            raise ConfigError("k", self.k, "a positive integer (top-k alternatives per token)")


class SelfCertaintyStrategy(AnsweredScoreVote):
    """All K finish; rank by self-certainty; Borda-weighted vote."""

    name = "self-certainty"
    family: ClassVar[str] = "vote"
    paper: ClassVar[str] = "Kang et al. 2025, arXiv 2502.18581"

    def __init__(self, config: SelfCertaintyConfig | None = None) -> None:
        super().__init__()
        self.cfg = config or SelfCertaintyConfig()

    def score(self, event: TraceFinished) -> float:
        """The self-certainty of one finished trace (top-k approximation, see the module docstring)."""
        return self_certainty(event.confs if event.confs is not None else (), self.cfg.k)

    def result(self) -> Decision:
        weights = borda_weights(self._scores, self.cfg.p)
        vote = self.vote(self._answers, weights)
        best = max(self._scores, default=None)
        return Decision(vote.answer, info={"voters": len(self._answers), "share": vote.share,
                                           "max_self_certainty": best})
