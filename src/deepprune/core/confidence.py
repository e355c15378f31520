"""DeepConf confidence measures (arXiv 2508.15260), pure numpy.

* **Token confidence** ``C_i = -(1/k) * sum of the top-k log-probabilities`` at position ``i``
  (k = 20 in the paper): higher = a more peaked next-token distribution.
* **Group confidence**: the mean of ``C_i`` over a sliding window of ``window`` tokens
  (2048, stride 1). A trace shorter than the window has one group: its mean.
* **Trace scores** (:data:`SCORES`): ``mean`` (all tokens), ``bottom10`` (mean of the lowest 10%
  of group confidences), ``lowest`` (the lowest group), ``tail`` (mean of the last ``window``
  tokens).

Two more per-trace measures for the confidence-weighted votes (``cisc``, ``self-certainty``,
``rpc``):

* :func:`mean_logprob`: the mean log-probability of the *sampled* tokens (the log of the
  length-normalised sequence probability; ``exp`` of it is CISC's "response probability" and
  RPC's path probability);
* :func:`self_certainty`: Kang et al.'s self-certainty (mean KL divergence from the uniform
  distribution), computed over the top-k alternatives only, which is ``C_i - log k`` per token.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from deepprune.core.errors import ConfigError

__all__ = ["DEFAULT_TOP_K", "DEFAULT_WINDOW", "SCORES", "group_confidences", "mean_logprob", "self_certainty",
           "token_confidence", "trace_score"]

DEFAULT_WINDOW = 2048
DEFAULT_TOP_K = 20
"""Alternatives per token behind a stored confidence (``deepprune collect --top-logprobs 20``)."""
SCORES = ("lowest", "bottom10", "mean", "tail")


def token_confidence(top_logprobs: Sequence[float]) -> float:
    """DeepConf token confidence from one position's top-k log-probabilities.

    >>> round(token_confidence([-0.1, -2.0, -3.9]), 3)
    2.0
    """
    if len(top_logprobs) == 0:
        return 0.0
    return -float(sum(top_logprobs)) / len(top_logprobs)


def group_confidences(confs: Sequence[float] | npt.NDArray[np.float64], window: int = DEFAULT_WINDOW) -> npt.NDArray[np.float64]:
    """Sliding-window means (stride 1), shape ``(max(1, n - window + 1),)``.

    >>> group_confidences([1.0, 2.0, 3.0, 4.0], window=2).tolist()
    [1.5, 2.5, 3.5]
    >>> group_confidences([1.0, 3.0], window=4).tolist()
    [2.0]
    """
    c = np.asarray(confs, dtype=np.float64)
    if window < 1:
        raise ConfigError("window", window, "a positive integer")
    if c.size == 0:
        return np.zeros(1)
    if c.size < window:
        return np.array([c.mean()])
    cs = np.concatenate([[0.0], np.cumsum(c)])
    out: npt.NDArray[np.float64] = (cs[window:] - cs[:-window]) / window
    return out


def trace_score(confs: Sequence[float] | npt.NDArray[np.float64], score: str = "lowest",
                window: int = DEFAULT_WINDOW) -> float:
    """One trace's DeepConf score (see :data:`SCORES`).

    ``bottom10`` averages the lowest ``ceil(10%)`` (at least one) group confidences.

    >>> trace_score([4.0, 1.0, 3.0, 5.0], "lowest", window=2)
    2.0
    >>> trace_score([4.0, 1.0, 3.0, 5.0], "tail", window=2)
    4.0
    """
    c = np.asarray(confs, dtype=np.float64)
    if score == "mean":
        return float(c.mean()) if c.size else 0.0
    if score == "tail":
        return float(c[-window:].mean()) if c.size else 0.0
    groups = group_confidences(c, window)
    if score == "lowest":
        return float(groups.min())
    if score == "bottom10":
        n = max(1, int(np.ceil(0.1 * groups.size)))
        return float(np.sort(groups)[:n].mean())
    raise ConfigError("score", score, " or ".join(SCORES))


def mean_logprob(logprobs: Sequence[float] | npt.NDArray[np.float64]) -> float:
    """Mean log-probability of the sampled tokens: ``log`` of the length-normalised sequence
    probability ``p(trace)^(1/n)`` (0.0 for an empty trace, i.e. probability 1).

    >>> mean_logprob([-0.5, -1.5, 0.0])
    -0.6666666666666666
    """
    lp = np.asarray(logprobs, dtype=np.float64)
    return float(lp.mean()) if lp.size else 0.0


def self_certainty(confs: Sequence[float] | npt.NDArray[np.float64], k: int = DEFAULT_TOP_K) -> float:
    """Self-certainty (Kang et al., arXiv 2502.18581) from the DeepConf token confidences, over
    the top-k alternatives.

    The paper's self-certainty of a trace is the mean over its tokens of
    ``KL(U || p_i) = -log V - (1/V) * sum_j log p_i(j)``, the sum over the whole vocabulary
    (size ``V``). Servers return only the top-k log-probabilities, so the uniform distribution
    and the sum run over those ``k`` tokens instead (not renormalised):
    ``-log k - (1/k) * sum_{top-k} log p_i(j) = C_i - log k`` with ``C_i`` DeepConf's token
    confidence. Its ranking of traces is therefore the ranking by mean confidence (DeepConf's
    ``mean`` score); ``k`` only shifts the value. ``k`` must be the number of alternatives behind
    the stored confidences (20 for ``deepprune collect``).

    >>> round(self_certainty([3.0, 4.0], k=20), 4)   # 3.5 - log 20
    0.5043
    """
    if k < 1:
        raise ConfigError("k", k, "a positive integer (top-k alternatives per token)")
    c = np.asarray(confs, dtype=np.float64)
    return (float(c.mean()) if c.size else 0.0) - float(np.log(k))
