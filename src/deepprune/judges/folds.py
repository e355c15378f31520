"""Problem -> fold assignment for cross-validation by problem (a seeded hash of the problem key).

Kept apart from :mod:`~deepprune.judges.crossval` so that feature selection in
:mod:`~deepprune.judges.trained` can use the same folds without importing the cross-validation
driver (which imports ``trained``).
"""

from __future__ import annotations

from collections.abc import Iterable

from deepprune.core.errors import ConfigError
from deepprune.judges.pairs import _hash_unit

__all__ = ["FOLD_SEED", "problem_folds"]

FOLD_SEED = 7
"""Seed of the problem -> fold hash (the one the published figures in BENCHMARKS.md used)."""


def problem_folds(problems: Iterable[str], folds: int = 5, *, seed: int = FOLD_SEED) -> dict[str, int]:
    """Problem key -> fold in ``range(folds)``, by a seeded hash of the key.

    >>> f = problem_folds([f"d/{i}" for i in range(100)], 5)
    >>> sorted(set(f.values()))
    [0, 1, 2, 3, 4]
    """
    if folds < 2:
        raise ConfigError("folds", folds, ">= 2")
    return {p: min(folds - 1, int(_hash_unit(seed, p) * folds)) for p in dict.fromkeys(problems)}
