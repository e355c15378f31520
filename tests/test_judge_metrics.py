"""AUROC within problems: the metric, the judge report, the sweep points, and older JSON files."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from deepprune.core.errors import UndefinedMetricWarning
from deepprune.judges.metrics import auroc, within_problem_auroc


def _brute_force(y: np.ndarray, s: np.ndarray, g: np.ndarray) -> float:
    """Every (positive, negative) comparison inside one problem, one at a time."""
    wins = comparisons = 0.0
    for i, j in itertools.product(range(len(y)), repeat=2):
        if g[i] == g[j] and y[i] == 1 and y[j] == 0:
            comparisons += 1
            wins += 1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0
    return wins / comparisons if comparisons else float("nan")


def _problems(rates: list[float], n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs per problem, the first ``rate * n`` of them positive: labels and problem keys."""
    y = np.concatenate([(np.arange(n) < round(r * n)).astype(int) for r in rates])
    g = np.repeat([f"p{i}" for i in range(len(rates))], n)
    return y, g


def test_a_per_problem_constant_score_is_chance_within_problems_but_not_pooled() -> None:
    rates = [0.9, 0.75, 0.5, 0.3, 0.1]
    y, g = _problems(rates)
    share = np.repeat(rates, 40)  # reads no prefix: the problem's share of agreeing pairs
    assert within_problem_auroc(y, share, g) == 0.5
    assert auroc(y, share) > 0.8


def test_offsets_between_problems_hide_a_perfect_judge_from_the_pooled_auroc() -> None:
    y, g = _problems([0.2, 0.8])
    offset = np.where(g == "p0", 0.6, 0.0)  # the mostly-different problem scored higher overall
    s = 0.3 * y + offset
    assert within_problem_auroc(y, s, g) == 1.0
    assert auroc(y, s) < 0.6


@pytest.mark.parametrize("seed", range(6))
def test_matches_a_brute_force_loop_with_ties_and_one_class_problems(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 160))
    g = rng.choice(["a", "b", "c", "d", "e", "f"], size=n)
    y = (rng.random(n) < rng.uniform(0.2, 0.8)).astype(int)
    y[g == "e"] = 1  # one class only: adds nothing
    y[g == "f"] = 0
    s = rng.integers(0, 5, size=n) / 4.0  # few values: many ties, inside and across problems
    assert within_problem_auroc(y, s, g) == pytest.approx(_brute_force(y, s, g), abs=1e-12)


def test_one_problem_equals_the_pooled_auroc_and_integer_groups_work() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, size=300)
    s = np.round(rng.random(300) + 0.3 * y, 1)
    assert within_problem_auroc(y, s, np.zeros(300, dtype=int)) == pytest.approx(auroc(y, s), abs=1e-12)


def test_undefined_and_bad_inputs() -> None:
    with pytest.warns(UndefinedMetricWarning, match="within problems"):
        assert math.isnan(within_problem_auroc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4], ["a", "a", "b", "b"]))
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(within_problem_auroc([], [], []))
    with pytest.raises(ValueError, match="groups"):
        within_problem_auroc([1, 0], [0.1, 0.2], ["a"])
    with pytest.raises(ValueError, match="NaN"):
        within_problem_auroc([1, 0], [float("nan"), 0.2], ["a", "a"])
