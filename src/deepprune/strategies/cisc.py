"""CISC: Confidence-Informed Self-Consistency, a softmax-weighted vote over finished traces.

Taubenfeld et al., *Confidence Improves Self-Consistency in LLMs* (ACL Findings 2025,
arXiv 2502.06233). Self-consistency weights every answer the same; CISC weights each sampled
trace by the model's own confidence in it, normalised over the problem's traces by a softmax with
a temperature ``T``:

    w_i = exp(c_i / T) / sum_j exp(c_j / T),      answer = argmax_a  sum_{i: a_i = a} w_i

The paper reports the same accuracy as self-consistency with over 40% fewer sampled traces.

Algorithm here (all K traces finish, cost = cons@K, like offline ``deepconf``):

1. launch K traces, let every one finish;
2. each finished trace *with an answer* gets a confidence ``c_i`` (``score=``, below);
3. ``w = softmax(c / temperature)`` over those traces (traces without an answer are left out
   before the softmax, as in the authors' aggregator);
4. weighted vote over answers grouped by equivalence (:func:`deepprune.core.voting.majority_vote`;
   ties go to the answer whose first trace finished earliest).

Open choices and what we do:

* **The confidence.** The paper's best scores need an extra model call per trace (P(True), a
  verbal 0-100 rating); deepprune only reads the finished traces, so it uses what they carry.
  ``score=prob`` (default) is the paper's logit-based method, the *response probability*: the
  length-normalised probability of the sampled tokens, ``exp(mean logprob)`` in (0, 1]
  (:func:`deepprune.core.confidence.mean_logprob`). Alternatives: ``score=logprob`` (the mean logprob
  itself, unbounded below) and DeepConf's trace scores from the top-k confidences,
  ``score=mean|lowest|bottom10|tail`` with ``window`` (:func:`deepprune.core.confidence.trace_score`).
  ``prob`` and ``logprob`` need the sampled tokens' logprobs: on traces that carry top-k
  confidences but not them, the run is n/a (use a DeepConf score there).
* **The temperature** is tuned per model and confidence method in the paper (on held-out
  questions). The default ``temperature=0.1`` is set a priori for ``score=prob``: response
  probabilities of one problem's traces differ by a few hundredths to tenths (on the shipped
  dataset: standard deviation ~0.04, range 0.12-0.25 per problem), so a typical weight is within
  a factor ``e^0.4`` of the mean one and the extremes differ by ``e^1`` to ``e^2.5`` (CISC's
  regime: confidence reorders close votes, not clear majorities). ``temperature=inf`` gives every
  trace the same weight: exactly cons@K (tested). A huge *finite* temperature equals cons@K
  except on exact ties, which its tiny weight differences break by confidence instead of by
  finish order.
  The score scale matters: DeepConf scores (about 1-20) want a larger temperature.

Needs per-token confidences (top-k logprobs): on data without them it raises
:class:`~deepprune.core.errors.NotApplicable` (an n/a row in bench), as ``deepconf`` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from deepprune.core.confidence import DEFAULT_WINDOW, SCORES, mean_logprob, trace_score
from deepprune.core.errors import ConfigError
from deepprune.strategies.base import Decision, TraceFinished
from deepprune.strategies.finished_vote import AnsweredScoreVote, sampled_logprobs

__all__ = ["CISC_SCORES", "CISCConfig", "CISCStrategy", "sampled_logprobs", "softmax_weights"]

CISC_SCORES = ("prob", "logprob", *SCORES)
"""``prob`` / ``logprob`` read the sampled tokens' logprobs; the others DeepConf's confidences."""


def softmax_weights(scores: Sequence[float], temperature: float) -> list[float]:
    """``softmax(scores / temperature)``; ``temperature = inf`` gives equal weights ``1/n``.

    >>> [round(w, 4) for w in softmax_weights([0.0, math.log(3)], 1.0)]
    [0.25, 0.75]
    >>> softmax_weights([5.0, -2.0, 0.1], math.inf)
    [0.3333333333333333, 0.3333333333333333, 0.3333333333333333]
    """
    n = len(scores)
    if n == 0:
        return []
    if math.isinf(temperature):
        return [1.0 / n] * n
    x = np.asarray(scores, dtype=np.float64) / temperature
    e = np.exp(x - x.max())
    return [float(v) for v in e / e.sum()]


@dataclass(frozen=True)
class CISCConfig:
    score: str = "prob"
    """Per-trace confidence: prob (response probability) | logprob | mean | lowest | bottom10 | tail."""
    temperature: float = 0.1
    """Softmax temperature over the scores; inf = equal weights (cons@K)."""
    window: int = DEFAULT_WINDOW
    """Window of the DeepConf scores (lowest, bottom10, tail)."""

    def __post_init__(self) -> None:
        if self.score not in CISC_SCORES:
            raise ConfigError("score", self.score, " or ".join(CISC_SCORES))
        if not self.temperature > 0:  # also rejects nan
            raise ConfigError("temperature", self.temperature, "a positive number (inf: equal weights)")
        if self.window < 1:
            raise ConfigError("window", self.window, "a positive integer")


class CISCStrategy(AnsweredScoreVote):
    """All K finish; softmax(confidence / temperature) weights; weighted vote."""

    name = "cisc"
    family: ClassVar[str] = "vote"
    paper: ClassVar[str] = "Taubenfeld et al. 2025, arXiv 2502.06233"

    def __init__(self, config: CISCConfig | None = None) -> None:
        super().__init__()
        self.cfg = config or CISCConfig()

    def score(self, event: TraceFinished) -> float:
        """The configured confidence of one finished trace."""
        if self.cfg.score in ("prob", "logprob"):
            lp = mean_logprob(sampled_logprobs(event, f"{self.name}:score={self.cfg.score}"))
            return math.exp(lp) if self.cfg.score == "prob" else lp
        return trace_score(event.confs if event.confs is not None else (), self.cfg.score, self.cfg.window)

    def result(self) -> Decision:
        weights = softmax_weights(self._scores, self.cfg.temperature)
        vote = self.vote(self._answers, weights)
        return Decision(vote.answer, info={"voters": len(self._answers), "share": vote.share,
                                           "max_weight": max(weights, default=0.0)})
