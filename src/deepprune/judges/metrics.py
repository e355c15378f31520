"""Judge quality metrics: plain functions ``(y_true, y_score, *, options)`` over pairs.

They wrap :mod:`sklearn.metrics`; when a metric is undefined (one class only) they return
``nan`` with an :class:`~deepprune.core.errors.UndefinedMetricWarning` instead of raising, so one
degenerate problem never crashes a report. ``y_true`` is 1 for "same final answer", ``y_score``
the judge's P(same).

:func:`auroc` pools all pairs; :func:`within_problem_auroc` compares a same-answer pair only with
different-answer pairs *of the same problem*, which is all DeepPrune ever asks of a judge. The
pooled figure also rewards ranking a problem whose traces mostly agree above one whose traces
mostly differ: on the shipped ``default`` dataset at 64 tokens a score that reads no prefix at
all (the problem's share of agreeing pairs) reaches pooled AUROC 0.84, above every real judge
(0.60-0.65), and exactly 0.5 within problems.

:func:`evaluate_judge` runs a judge over a :class:`~deepprune.judges.pairs.PairDataset` and
returns a :class:`JudgeReport` (AUROC pooled and within problems, TNR at FNR = 0.2, counts,
throughput).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from deepprune.core.errors import UndefinedMetricWarning

if TYPE_CHECKING:
    from deepprune.judges.base import Judge
    from deepprune.judges.pairs import PairDataset

__all__ = ["JudgeReport", "auroc", "evaluate_judge", "roc_points", "tnr_at_fnr", "within_problem_auroc"]

ArrayLike = Sequence[float] | npt.NDArray[Any]


def _prepare(y_true: ArrayLike, y_score: ArrayLike) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    y = np.asarray(y_true).astype(np.int64).ravel()
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.shape[0]} entries, y_score {s.shape[0]}")
    return y, s


def _one_class(y: npt.NDArray[np.int64], what: str) -> bool:
    if len(np.unique(y)) < 2:
        warnings.warn(f"{what} is undefined when y_true has only one class "
                      f"({len(y)} pairs); returning nan", UndefinedMetricWarning, stacklevel=3)
        return True
    return False


def auroc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve of ``y_score`` against ``y_true`` (nan + warning if one class).

    >>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    from sklearn.metrics import roc_auc_score

    y, s = _prepare(y_true, y_score)
    if _one_class(y, "AUROC"):
        return float("nan")
    return float(roc_auc_score(y, s))


def within_problem_auroc(y_true: ArrayLike, y_score: ArrayLike, groups: Sequence[Any] | npt.NDArray[Any]) -> float:
    """AUROC over (same-answer pair, different-answer pair) comparisons inside one problem only.

    ``groups[i]`` is the problem of pair ``i``. Every comparison of a positive with a negative of
    the same problem counts 1 if the positive scores higher, 1/2 on a tie; the result is the sum
    over problems divided by the number of such comparisons (the stratified Mann-Whitney
    statistic, so a problem weighs by its positives x negatives). Problems with one class add
    nothing; nan + warning when no problem has both. A score that is constant within each problem
    gets exactly 0.5, however well it ranks the problems (which pooled :func:`auroc` rewards):

    >>> y, problems = [1, 1, 0, 1, 0, 0], ["a", "a", "a", "b", "b", "b"]
    >>> per_problem = [0.9, 0.9, 0.9, 0.1, 0.1, 0.1]
    >>> within_problem_auroc(y, per_problem, problems), round(auroc(y, per_problem), 3)
    (0.5, 0.667)
    >>> within_problem_auroc(y, [0.8, 0.7, 0.2, 0.3, 0.3, 0.1], problems)
    0.875
    """
    y, s = _prepare(y_true, y_score)
    g = np.asarray(groups).ravel()
    if g.shape != y.shape:
        raise ValueError(f"y_true has {y.shape[0]} entries, groups {g.shape[0]}")
    if np.isnan(s).any():
        raise ValueError("y_score contains NaN")
    _, code = np.unique(g, return_inverse=True)
    wins, comparisons = _mann_whitney_by_group(y, s, code.ravel().astype(np.int64))
    if comparisons == 0:
        warnings.warn(f"the AUROC within problems is undefined when no problem has both classes "
                      f"({len(y)} pairs); returning nan", UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    return wins / comparisons


def _mann_whitney_by_group(y: npt.NDArray[np.int64], s: npt.NDArray[np.float64],
                           code: npt.NDArray[np.int64]) -> tuple[float, float]:
    """``(sum over groups of U, sum over groups of positives x negatives)``, ties counting 1/2.

    One sort by (group, score): a pair's midrank inside its group is the mean position of its
    tie block there, and U of a group = its positives' midranks - n_pos (n_pos + 1) / 2.
    """
    n = len(y)
    if n == 0:
        return 0.0, 0.0
    order = np.lexsort((s, code))
    gs, ss, ys = code[order], s[order], y[order]
    new_group = np.r_[True, gs[1:] != gs[:-1]]
    new_block = new_group | np.r_[True, ss[1:] != ss[:-1]]
    starts = np.flatnonzero(new_block)  # first position of each tie block
    ends = np.r_[starts[1:], n] - 1  # last position of each tie block
    block = np.cumsum(new_block) - 1
    group_first = np.flatnonzero(new_group)[np.cumsum(new_group) - 1]
    midrank = (starts[block] + ends[block]) / 2.0 - group_first + 1.0  # 1-based, inside the group
    n_groups = int(code.max()) + 1
    pos = np.bincount(gs, weights=ys, minlength=n_groups)
    total = np.bincount(gs, minlength=n_groups).astype(np.float64)
    rank_sum = np.bincount(gs, weights=midrank * ys, minlength=n_groups)
    both = (pos > 0) & (pos < total)
    u = rank_sum[both] - pos[both] * (pos[both] + 1) / 2.0
    return float(u.sum()), float((pos[both] * (total[both] - pos[both])).sum())


def roc_points(y_true: ArrayLike, y_score: ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(fpr, tpr)`` of the ROC curve (empty arrays + warning if one class)."""
    from sklearn.metrics import roc_curve

    y, s = _prepare(y_true, y_score)
    if _one_class(y, "the ROC curve"):
        return np.empty(0), np.empty(0)
    fpr, tpr, _ = roc_curve(y, s)
    return fpr.astype(np.float64), tpr.astype(np.float64)


def tnr_at_fnr(y_true: ArrayLike, y_score: ArrayLike, *, fnr: float = 0.2) -> float:
    """True-negative rate at the threshold whose false-negative rate is at most ``fnr``.

    "Negative" = different final answers (label 0); predicting "same" above a threshold. The
    threshold is the highest one that still keeps at least ``1 - fnr`` of the same-answer pairs
    above it; the result is the fraction of different-answer pairs below it (what a pruner
    may keep apart while wrongly separating at most ``fnr`` of the redundant pairs).

    >>> tnr_at_fnr([0, 0, 1, 1, 1, 1, 1], [0.1, 0.9, 0.2, 0.5, 0.6, 0.7, 0.8], fnr=0.2)
    0.5
    """
    from sklearn.metrics import roc_curve

    if not 0.0 <= fnr <= 1.0:
        raise ValueError(f"fnr must be in [0, 1], got {fnr}")
    y, s = _prepare(y_true, y_score)
    if _one_class(y, "TNR at FNR"):
        return float("nan")
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    ok = tpr >= 1.0 - fnr - 1e-12
    return float(1.0 - fpr[ok].min())


@dataclass(frozen=True)
class JudgeReport:
    """One judge on one pair dataset."""

    judge: str
    dataset: str
    truncation: str
    auroc: float
    """Pooled over all pairs of all problems (inflated when problems differ in how often their
    traces agree; see :func:`within_problem_auroc`)."""
    within_auroc: float
    """AUROC within problems (:func:`within_problem_auroc`): the figure that matters for DeepPrune,
    which only compares traces of one problem. nan in a report written before it existed."""
    tnr_at_fnr: float
    """TNR at FNR = :attr:`fnr`."""
    fnr: float
    pairs: int
    positives: int
    negatives: int
    problems: int
    prefixes: int
    seconds: float
    """Wall time of ``predict_proba`` over all pairs (one batch per problem)."""
    cpu_seconds: float
    """CPU time of this process meanwhile (all threads; on a shared machine the honest cost)."""
    pairs_per_s: float
    traces_per_s: float
    """Distinct prefixes scored per second of judge time."""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> JudgeReport:
        """A report from :meth:`to_dict`'s output (keys it does not know, e.g. ``command``, are
        ignored; one written before ``within_auroc`` existed gets nan there)."""
        known = {f.name for f in fields(cls)}
        return cls(**{"within_auroc": float("nan"), **{k: v for k, v in d.items() if k in known}})


def evaluate_judge(judge: Judge, data: PairDataset, *, name: str | None = None, dataset: str = "",
                   fnr: float = 0.2, batch: str = "problem") -> tuple[JudgeReport, npt.NDArray[np.float64]]:
    """Score every pair of ``data`` with ``judge``; return the report and the scores.

    ``batch="problem"`` calls ``predict_proba`` once per problem (as DeepPrune does, so caches
    behave as in use); ``"all"`` once for the whole dataset.
    """
    pairs = data.pairs()
    scores = np.empty(len(pairs), dtype=np.float64)
    t0 = time.perf_counter()
    c0 = time.process_time()
    if batch == "all":
        scores[:] = judge.predict_proba(pairs)
    else:
        owners = np.asarray(data.pair_problems(), dtype=object)
        for problem in data.problems:
            idx = np.flatnonzero(owners == problem)
            if len(idx):
                scores[idx] = judge.predict_proba([pairs[i] for i in idx])
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    bal = data.balance()
    report = JudgeReport(
        judge=str(name or getattr(judge, "name", type(judge).__name__)), dataset=dataset or ",".join(data.sources),
        truncation=data.truncation, auroc=auroc(data.labels, scores),
        within_auroc=within_problem_auroc(data.labels, scores, data.pair_problems()),
        tnr_at_fnr=tnr_at_fnr(data.labels, scores, fnr=fnr), fnr=fnr, pairs=bal.pairs,
        positives=bal.positives, negatives=bal.negatives, problems=bal.problems, prefixes=bal.prefixes,
        seconds=seconds, cpu_seconds=cpu, pairs_per_s=bal.pairs / seconds if seconds > 0 else float("inf"),
        traces_per_s=bal.prefixes / seconds if seconds > 0 else float("inf"),
    )
    return report, scores
