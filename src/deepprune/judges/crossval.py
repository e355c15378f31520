"""Cross-validation of the trained judge by problem: every problem scored by a judge that never saw it.

With a few hundred different-answer pairs a single held-out split moves by several AUROC points
from one seed to the next; k-fold by problem uses every problem once as test data. A problem's
fold is a seeded hash of its key (like :func:`~deepprune.judges.pairs.split_problems`), so it
does not depend on the other problems or on their order.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deepprune.judges.folds import FOLD_SEED, problem_folds
from deepprune.judges.learned import PrefixEncoder
from deepprune.judges.metrics import auroc, within_problem_auroc
from deepprune.judges.pairs import PairDataset
from deepprune.judges.trained import TrainedJudge, train_judge
from deepprune.judges.training import JudgeTrainingArgs

__all__ = ["FOLD_SEED", "CrossValResult", "cross_validate", "problem_folds"]

@dataclass(frozen=True, eq=False)
class CrossValResult:
    """Out-of-fold scores of every pair, and the judge of each fold."""

    scores: npt.NDArray[np.float64]
    """P(same) of each pair of the dataset, from the judge of the pair's fold."""
    fold_of: dict[str, int]
    """Problem key -> fold."""
    judges: tuple[TrainedJudge | None, ...]
    """The judge trained without fold ``f`` (None when fold ``f`` holds no problem)."""
    fold_aurocs: tuple[float, ...]
    """Pooled AUROC within each non-empty fold (nan where a fold has one class only)."""
    within_auroc: float
    """AUROC within problems of all out-of-fold :attr:`scores`
    (:func:`~deepprune.judges.metrics.within_problem_auroc`). It never compares scores of two
    folds' judges, so unlike the pooled AUROC it needs no per-fold mean."""

    @property
    def fold_mean_auroc(self) -> float:
        return float(np.nanmean(self.fold_aurocs)) if self.fold_aurocs else float("nan")

    def judge_for(self, problem: str) -> TrainedJudge:
        """The judge that never saw ``problem``."""
        judge = self.judges[self.fold_of[problem]]
        assert judge is not None
        return judge


def cross_validate(data: PairDataset, args: JudgeTrainingArgs | None = None, *, folds: int = 5,
                   encoder: PrefixEncoder | None = None, seed: int = FOLD_SEED) -> CrossValResult:
    """Train one judge per fold on the other folds' problems and score the fold's pairs with it."""
    fold_of = problem_folds(data.problems, folds, seed=seed)
    pair_fold = np.asarray([fold_of[p] for p in data.pair_problems()], dtype=np.int64)
    scores = np.full(len(data), np.nan)
    pairs = data.pairs()
    judges: list[TrainedJudge | None] = []
    per_fold: list[float] = []
    for f in range(folds):
        held = [p for p in data.problems if fold_of[p] == f]
        if not held:
            judges.append(None)
            continue
        train = data.subset([p for p in data.problems if fold_of[p] != f])
        judge = train_judge(train, args, encoder=encoder)
        judges.append(judge)
        idx = np.flatnonzero(pair_fold == f)
        if len(idx):
            scores[idx] = judge.predict_proba(_take(pairs, idx))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                per_fold.append(auroc(data.labels[idx], scores[idx]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        within = within_problem_auroc(data.labels, scores, data.pair_problems())
    return CrossValResult(scores, fold_of, tuple(judges), tuple(per_fold), within)


def _take(items: Sequence[object], idx: npt.NDArray[np.int64]) -> list:  # type: ignore[type-arg]
    return [items[i] for i in idx.tolist()]
