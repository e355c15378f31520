"""Scoring functions of the confidence-weighted votes (cisc, self-certainty, rpc) on constructed
logprobs, hand-computed; parameter validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepprune.core.confidence import mean_logprob, self_certainty, token_confidence
from deepprune.core.errors import ConfigError
from deepprune.strategies.cisc import softmax_weights
from deepprune.strategies.registry import build
from deepprune.strategies.rpc import fit_weibull_mixture, prune_low_probability
from deepprune.strategies.self_certainty import borda_weights


def test_self_certainty_is_kl_from_uniform_over_the_top_k() -> None:
    # two positions, top-3 probabilities each (not renormalised)
    top = [[0.7, 0.2, 0.1], [0.5, 0.25, 0.25]]
    kl = [sum((1 / 3) * math.log((1 / 3) / p) for p in row) for row in top]  # KL(U_3 || p) per token
    confs = [token_confidence([math.log(p) for p in row]) for row in top]
    assert self_certainty(confs, k=3) == pytest.approx(sum(kl) / 2)
    # a flat top-k is the least certain: KL = 0 when p is uniform over the k tokens
    assert self_certainty([token_confidence([math.log(0.25)] * 4)], k=4) == pytest.approx(0.0)


def test_mean_logprob_is_the_log_of_the_length_normalised_probability() -> None:
    lp = [math.log(0.5), math.log(0.8), math.log(1.0)]
    assert math.exp(mean_logprob(lp)) == pytest.approx((0.5 * 0.8 * 1.0) ** (1 / 3))
    assert mean_logprob([]) == 0.0


def test_softmax_weights() -> None:
    w = softmax_weights([1.0, 0.8, 0.8], 0.1)
    z = math.exp(10) + 2 * math.exp(8)
    assert w == pytest.approx([math.exp(10) / z, math.exp(8) / z, math.exp(8) / z])
    assert sum(softmax_weights([-1e6, 3.0], 1e-3)) == pytest.approx(1.0)  # stable at extreme scales
    assert softmax_weights([], 1.0) == []
    assert softmax_weights([0.3, 0.9], math.inf) == [0.5, 0.5]


def test_borda_weights() -> None:
    assert borda_weights([0.1, 0.3, 0.2, 0.0], 1.0) == [2.0, 4.0, 3.0, 1.0]
    assert borda_weights([0.1, 0.3, 0.2, 0.0], 0.0) == [1.0] * 4
    assert borda_weights([0.1, 0.3], 2.0) == [1.0, 4.0]
    assert borda_weights([], 1.0) == []


def test_weibull_mixture_recovers_two_modes() -> None:
    rng = np.random.default_rng(0)
    hi = rng.weibull(30.0, 60) * 0.9
    lo = rng.weibull(8.0, 40) * 0.4
    w1, _k1, lam1, _k2, lam2 = fit_weibull_mixture(np.concatenate([hi, lo]))
    assert lam1 == pytest.approx(0.9, abs=0.05) and lam2 == pytest.approx(0.4, abs=0.05)
    assert w1 == pytest.approx(0.6, abs=0.1)
    pruned = prune_low_probability(np.concatenate([hi, lo]).tolist())
    assert not any(pruned[:60]) and all(pruned[60:])


def test_pruning_keeps_the_most_likely_trace_and_small_samples() -> None:
    assert prune_low_probability([0.5]) == [False]
    assert prune_low_probability([0.5, 0.4]) == [False, False]  # < 3 distinct values: nothing to fit
    assert prune_low_probability([0.5, 0.5, 0.5, 0.5]) == [False] * 4
    for rule in ("weibull", "mean"):
        probs = [0.9, 0.1, 0.12, 0.5, 0.88, 0.2]
        assert not prune_low_probability(probs, rule)[0]


@pytest.mark.parametrize("spec,field", [
    ("cisc:temperature=0", "temperature"), ("cisc:temperature=-1", "temperature"),
    ("cisc:temperature=nan", "temperature"), ("cisc:score=median", "score"), ("cisc:window=0", "window"),
    ("self-certainty:p=-1", "p"), ("self-certainty:k=0", "k"), ("rpc:prune=ransac", "prune"),
    ("rpc:dedup=maybe", "dedup"), ("rpc:temperature=1", "temperature"),
])
def test_parameters_are_validated(spec: str, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        build(spec)
