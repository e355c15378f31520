"""RPC: Reasoning-Pruning Perplexity Consistency, a probability-weighted vote over finished traces.

Zhou et al., *A Theoretical Study on Bridging Internal Probability and Self-Consistency for LLM
Reasoning* (NeurIPS 2025; arXiv 2510.15444, earlier arXiv 2502.00511). Self-consistency estimates
an answer's probability by counting samples (slow to converge); ranking by the model's own
probability converges fast but is biased. RPC combines the two:

* **Perplexity Consistency (PC)**: the score of an answer is the sum of the internal
  probabilities of the *distinct* reasoning paths that reach it,
  ``S(a) = sum over unique traces t with answer a of p(t)``;
* **Reasoning Pruning (RP)**: low-probability paths add noise to that sum and are removed first.
  The probabilities of one problem's traces are modelled as a mixture of two Weibull
  distributions (a high- and a low-probability component), fitted by maximum likelihood; a trace
  is pruned when it is likelier under the low component **and** its probability is below the
  mean of all traces' probabilities.

The paper reports self-consistency's accuracy with about half the samples.

Algorithm here (all K traces finish, cost = cons@K), following the authors' public code:

1. launch K traces, let every one finish;
2. ``p(t) = exp(mean logprob of the sampled tokens)``, the length-normalised path probability
   (inverse perplexity; :func:`deepprune.core.confidence.mean_logprob`), for every finished trace;
3. ``prune=weibull`` (default): fit ``w1 * Weibull(k1, lam1) + (1 - w1) * Weibull(k2, lam2)`` to
   the ``p(t)`` by maximum likelihood (:func:`fit_weibull_mixture`: L-BFGS-B from
   ``(0.5, 1, 1, 1.5, 2)``, ``w1`` in [0.2, 0.8], shapes and scales >= 0.01; component 1 is the
   one with the larger mean), and prune every trace with
   ``P(low | p) > P(high | p)`` and ``p < mean(p)`` (:func:`prune_low_probability`);
4. among the kept traces with an answer, a trace whose text repeats an earlier one's is dropped
   (PC sums over *unique* paths); each other votes with weight ``p(t)``; weighted vote over
   answers grouped by equivalence (ties: the answer whose first trace finished earliest).

Choices and simplifications (documented in docs/strategies.md):

* ``p(t)`` is the **mean**-logprob probability, as in the authors' code. The total sequence
  probability ``exp(sum logprob)`` of a long trace underflows and ranks traces by length, so it is
  not offered.
* The fit uses every finished trace (with or without an answer), as the authors' code does. With
  fewer than 3 distinct probabilities there is nothing to fit and nothing is pruned. The
  likelihood floors each density at 1e-300 so that the optimiser never sees ``log 0``.
* ``prune=mean`` is a simpler rule without the fit (prune every trace below the mean
  probability); ``prune=none`` is Perplexity Consistency alone.
* If no kept trace has an answer while a pruned one has, the vote falls back to PC over every
  finished trace (``info["fallback_vote"]``); the trace with the highest probability is never
  pruned, so this needs it to have no answer.

Needs the sampled tokens' logprobs (recorded with the top-k confidences by ``deepprune collect``;
sent by a live server asked for top-k logprobs): on data without confidences it raises
:class:`~deepprune.core.errors.NotApplicable` (an n/a row in bench), as ``deepconf`` does, and so it
does on traces that carry confidences but not the sampled logprobs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from deepprune.core.confidence import mean_logprob
from deepprune.core.errors import ConfigError
from deepprune.strategies.base import Decision, TraceFinished
from deepprune.strategies.finished_vote import FinishedVoteStrategy, sampled_logprobs

__all__ = ["PRUNE_RULES", "RPCConfig", "RPCStrategy", "fit_weibull_mixture", "prune_low_probability"]

PRUNE_RULES = ("weibull", "mean", "none")

_FLOOR = 1e-300


def _weibull_pdf(x: npt.NDArray[np.float64], k: float, lam: float) -> npt.NDArray[np.float64]:
    z = x / lam
    out: npt.NDArray[np.float64] = (k / lam) * z ** (k - 1) * np.exp(-(z**k))
    return out


def _weibull_mean(k: float, lam: float) -> float:
    return lam * math.gamma(1 + 1 / k)


def fit_weibull_mixture(x: Sequence[float] | npt.NDArray[np.float64]) -> tuple[float, float, float, float, float]:
    """Maximum-likelihood fit of ``w1 * Weibull(k1, lam1) + (1 - w1) * Weibull(k2, lam2)`` to
    ``x`` (positive values), as in RPC's public code: L-BFGS-B from ``(0.5, 1, 1, 1.5, 2)``,
    ``w1`` in [0.2, 0.8], shapes and scales >= 0.01. Returns ``(w1, k1, lam1, k2, lam2)`` with
    component 1 the one with the larger mean (the high-probability paths).
    """
    # scipy and threadpoolctl come with scikit-learn; imported when first needed
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    data = np.asarray(x, dtype=np.float64)

    def nll(params: npt.NDArray[np.float64]) -> float:
        w1, k1, lam1, k2, lam2 = (float(v) for v in params)
        pdf = w1 * _weibull_pdf(data, k1, lam1) + (1 - w1) * _weibull_pdf(data, k2, lam2)
        pdf = np.where(np.isfinite(pdf), pdf, _FLOOR)
        return -float(np.sum(np.log(np.maximum(pdf, _FLOOR))))

    # one BLAS thread: on a 5-parameter problem OpenBLAS's threads only contend (20x slower on
    # a busy 2-core machine)
    with np.errstate(all="ignore"), warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
        warnings.simplefilter("ignore")
        res = minimize(nll, np.array([0.5, 1.0, 1.0, 1.5, 2.0]), method="L-BFGS-B",
                       bounds=[(0.2, 0.8), (0.01, None), (0.01, None), (0.01, None), (0.01, None)])
    w1, k1, lam1, k2, lam2 = (float(v) for v in res.x)
    if _weibull_mean(k1, lam1) < _weibull_mean(k2, lam2):
        w1, k1, lam1, k2, lam2 = 1 - w1, k2, lam2, k1, lam1
    return w1, k1, lam1, k2, lam2


def prune_low_probability(probs: Sequence[float], rule: str = "weibull") -> list[bool]:
    """Which traces Reasoning Pruning removes (True = pruned), in input order.

    ``weibull``: fitted two-Weibull mixture, pruned when the low component is the likelier one
    and ``p < mean(p)``; ``mean``: pruned when ``p < mean(p)``; ``none``: nothing. The trace with
    the highest probability is never pruned.

    >>> prune_low_probability([0.9, 0.5, 0.8], "mean")
    [False, True, False]
    >>> prune_low_probability([0.9, 0.5, 0.8], "none")
    [False, False, False]
    """
    if rule not in PRUNE_RULES:
        raise ConfigError("prune", rule, " or ".join(PRUNE_RULES))
    p = np.asarray(probs, dtype=np.float64)
    if rule == "none" or p.size == 0:
        return [False] * int(p.size)
    below = p < p.mean()
    if rule == "mean":
        return [bool(b) for b in below]
    if np.unique(p).size < 3:
        return [False] * int(p.size)
    w1, k1, lam1, k2, lam2 = fit_weibull_mixture(p)
    with np.errstate(all="ignore"):
        high = w1 * _weibull_pdf(p, k1, lam1)
        low = (1 - w1) * _weibull_pdf(p, k2, lam2)
    return [bool(b and lo > hi) for b, hi, lo in zip(below, high, low, strict=True)]


@dataclass(frozen=True)
class RPCConfig:
    prune: str = "weibull"
    """Reasoning Pruning rule: weibull (the paper's fitted mixture) | mean | none (PC alone)."""
    dedup: bool = True
    """Count a trace whose text repeats an earlier one's once (PC sums over unique paths)."""

    def __post_init__(self) -> None:
        if self.prune not in PRUNE_RULES:
            raise ConfigError("prune", self.prune, " or ".join(PRUNE_RULES))


class RPCStrategy(FinishedVoteStrategy):
    """All K finish; prune low-probability traces; vote weighted by path probability."""

    name = "rpc"
    family: ClassVar[str] = "vote"
    paper: ClassVar[str] = "Zhou et al. 2025, arXiv 2510.15444"

    def __init__(self, config: RPCConfig | None = None) -> None:
        super().__init__()
        self.cfg = config or RPCConfig()
        self._done: list[tuple[str | None, str, float]] = []

    def on_finished(self, event: TraceFinished) -> None:
        prob = math.exp(mean_logprob(sampled_logprobs(event, self.name)))
        self._done.append((event.answer, event.text, prob))

    def _vote(self, keep: Sequence[bool]) -> tuple[list[str], list[float]]:
        seen: set[str] = set()
        answers: list[str] = []
        weights: list[float] = []
        for (answer, text, prob), kept in zip(self._done, keep, strict=True):
            if not kept or answer is None:
                continue
            if self.cfg.dedup:
                if text in seen:
                    continue
                seen.add(text)
            answers.append(answer)
            weights.append(prob)
        return answers, weights

    def result(self) -> Decision:
        pruned = prune_low_probability([prob for _, _, prob in self._done], self.cfg.prune)
        answers, weights = self._vote([not x for x in pruned])
        fallback = False
        if not answers and any(a is not None for a, _, _ in self._done):
            answers, weights = self._vote([True] * len(self._done))
            fallback = True
        vote = self.vote(answers, weights)
        return Decision(vote.answer, info={"pruned": sum(pruned), "voters": len(answers), "share": vote.share,
                                           "fallback_vote": fallback})
