"""Judges for simulation and tests: the noisy oracle and a constant judge.

The **noisy-oracle judge** knows the recorded final answers (replay only: it asks the strategy's
``RunContext``, passed as :attr:`Pair.context`, for the replay's
:class:`~deepprune.core.protocol.AnswerPeek`) and emits scores whose AUROC against
the true labels is a chosen value. It answers "how good must a judge be for DeepPrune to pay
off?" without training one.

Construction (the equal-variance binormal model). For a pair with true label ``y`` (1 = the two
traces reach equivalent final answers; two traces without an answer count as the same outcome,
as in the ``oracle`` strategy), the latent score is ``z = mu * y + e`` with ``e ~ N(0, 1)`` and
``mu = sqrt(2) * Phi^-1(auroc)``, so that ``P(z_pos > z_neg) = Phi(mu / sqrt(2)) = auroc``
exactly (in expectation over the noise). The reported probability is ``Phi(z - mu / 2)``: a
monotone map (AUROC unchanged) that puts the midpoint between the classes at 0.5, so at
``tau = 0.5`` both error rates equal ``Phi(-mu / 2)``. ``auroc = 1`` gives exactly 1.0 / 0.0
(the perfect judge); ``auroc = 0.5`` gives pure noise.

The noise ``e`` of a pair is a deterministic function of (``seed``, the run's seed, the problem
id, the two trace ids): the same pair always gets the same score within a run, whatever order
the strategy asks in, and runs are reproducible.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr, ndtri

from deepprune.core.answers import group_answers
from deepprune.core.errors import ConfigError, NotApplicable
from deepprune.judges.base import Judge, Pair

__all__ = ["ConstantJudge", "NoisyOracleJudge", "auroc_to_mu"]


def auroc_to_mu(auroc: float) -> float:
    """Class separation ``mu`` of the binormal model with the given AUROC (inf for 1.0).

    >>> round(auroc_to_mu(0.76025), 3)
    1.0
    """
    if not 0.5 <= auroc <= 1.0:
        raise ConfigError("auroc", auroc, "in [0.5, 1.0]")
    if auroc == 1.0:
        return math.inf
    return float(math.sqrt(2.0) * ndtri(auroc))


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser, vectorised (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _M1
        x = x ^ (x >> np.uint64(27))
        x = x * _M2
        x = x ^ (x >> np.uint64(31))
    return x


def _uniform(key: int, lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Deterministic uniforms in (0, 1) for each (key, lo, hi)."""
    with np.errstate(over="ignore"):
        x = _mix(np.full(lo.shape, key & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64) ^ _mix(lo.astype(np.uint64) + np.uint64(1)))
        x = _mix(x ^ _mix(hi.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(7)))
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


class NoisyOracleJudge(Judge):
    """Scores with a chosen AUROC against the recorded answers (simulation only).

    Parameters
    ----------
    auroc : float in [0.5, 1.0], default 0.9
        The AUROC the scores reach against the true same-answer labels.
    seed : int, default 0
        Extra seed for the noise (combined with the run's seed).

    Pairs must carry ``ids`` (trace ids) and ``context`` (the strategy's ``RunContext``, whose
    ``answer_peek`` exists only in replay); otherwise :class:`~deepprune.core.errors.NotApplicable`
    says this judge cannot run live.
    """

    name = "noisy-oracle"

    def __init__(self, auroc: float = 0.9, seed: int = 0) -> None:
        self.auroc = auroc
        self.seed = seed
        self._groups: OrderedDict[int, tuple[Any, list[int]]] = OrderedDict()

    def _group_of(self, ctx: Any, ids: Sequence[int]) -> list[int]:
        entry = self._groups.get(id(ctx))
        if entry is None or entry[0] is not ctx:
            peek = ctx.require_answer_peek("the noisy-oracle judge")
            answers = [peek.answer(i) for i in range(ctx.budget)]
            entry = (ctx, group_answers(answers, ctx.problem.kind))
            self._groups[id(ctx)] = entry
            while len(self._groups) > 64:
                self._groups.popitem(last=False)
        groups = entry[1]
        return [groups[i] for i in ids]

    def predict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        mu = auroc_to_mu(self.auroc)
        if not pairs:
            return np.zeros(0, dtype=np.float64)
        ctx = pairs[0].context
        if ctx is None or getattr(ctx, "answer_peek", None) is None or any(p.ids is None for p in pairs):
            raise NotApplicable(
                "the noisy-oracle judge reads the recorded answers and only runs on replayed traces "
                "(pairs need trace ids and a replay RunContext); use a real judge (e.g. judge=lexical) live"
            )
        ids_a = [p.ids[0] for p in pairs]  # type: ignore[index]
        ids_b = [p.ids[1] for p in pairs]  # type: ignore[index]
        ga = np.asarray(self._group_of(ctx, ids_a))
        gb = np.asarray(self._group_of(ctx, ids_b))
        label: npt.NDArray[np.float64] = (ga == gb).astype(np.float64)
        if math.isinf(mu):
            return label
        a = np.asarray(ids_a, dtype=np.int64)
        b = np.asarray(ids_b, dtype=np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        key = zlib.crc32(f"{self.seed}/{getattr(ctx, 'seed', 0)}/{ctx.problem.id}".encode())
        noise = ndtri(_uniform(key, lo, hi))
        return np.asarray(ndtr(mu * label + noise - mu / 2.0), dtype=np.float64)


class ConstantJudge(Judge):
    """Always the same probability ``p`` (``p=0``: never "same", DeepPrune becomes cons@K).

    >>> ConstantJudge(0.0).predict_proba([Pair("a", "b")]).tolist()
    [0.0]
    """

    name = "constant"

    def __init__(self, p: float = 0.0) -> None:
        self.p = p

    def predict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        if not 0.0 <= self.p <= 1.0:
            raise ConfigError("p", self.p, "in [0, 1]")
        return np.full(len(pairs), float(self.p), dtype=np.float64)
