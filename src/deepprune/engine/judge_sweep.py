"""Prefix-length sweep: judge AUROC and DeepPrune's token reduction against where the prefix ends.

The earlier the judge decides, the more a pruned trace saves, and the less the judge has seen.
For each dataset and each truncation rule this measures, on the same pairs and the same replays:

* the prefix: median tokens, share of all generated tokens, traces already finished at the cut;
* each judge's **AUROC** over all within-problem pairs pooled across problems, its **AUROC within
  problems** (:func:`~deepprune.judges.metrics.within_problem_auroc`: a pair compared only with
  pairs of its own problem, what DeepPrune needs; the pooled figure can be inflated by problem
  difficulty) and TNR at FNR = 0.2 (registered judges need no training; ``trained`` is the trained judge under **k-fold cross-validation by
  problem**: each problem's pairs are scored by the judge trained without that problem);
* **DeepPrune** with each judge replayed over every problem (the trained judge again the one that
  never saw the problem): accuracy and generated tokens against cons@K on the same problems and
  orderings, and the ``oracle`` row (a perfect judge at the same cut: the most any judge can save).

``deepprune judge sweep`` is the command; :func:`deepprune.report.plot_sweep` draws the chart and
:func:`deepprune.report.markdown_sweep` the tables.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from deepprune.core.errors import ConfigError
from deepprune.core.prefix import Truncation
from deepprune.core.protocol import StrategyFactory
from deepprune.core.records import BenchRow
from deepprune.core.types import Problem, TraceSet
from deepprune.engine.replay import aggregate, replay_orderings
from deepprune.engine.tasks import blocking
from deepprune.judges.base import Judge, Pair
from deepprune.judges.metrics import auroc, tnr_at_fnr, within_problem_auroc
from deepprune.judges.pairs import build_pairs
from deepprune.strategies.cons import ConsensusStrategy
from deepprune.strategies.deepprune import DeepPruneConfig, DeepPruneStrategy
from deepprune.strategies.oracle import OracleStrategy

if TYPE_CHECKING:
    from deepprune.judges.crossval import CrossValResult
    from deepprune.judges.training import JudgeTrainingArgs

__all__ = ["ORACLE", "TRAINED", "SweepPoint", "prefix_sweep", "prefix_sweep_async"]

TRAINED = "trained"
"""Judge name meaning "the trained judge, cross-validated by problem"."""
ORACLE = "oracle"


@dataclass(frozen=True)
class SweepPoint:
    """One judge (or the oracle) at one truncation on one dataset."""

    dataset: str
    truncation: str
    judge: str
    """A registered judge name, ``"trained"`` (cross-validated) or ``"oracle"`` (no judge)."""
    prefix_tokens: float
    """Median generated tokens up to the cut (a trace that ended earlier counts its length)."""
    prefix_share: float
    """Prefix tokens of all traces / all generated tokens."""
    finished_before_cut: float
    """Fraction of traces that ended before the cut (their final answer is in the prefix)."""
    whole_or_answered: float
    """Fraction of traces whose prefix is whole or already shows the final answer: their pairs are
    left out of the AUROC (judge figures are on partial traces only)."""
    auroc: float | None
    """Over every within-problem pair, pooled across problems (None for the oracle)."""
    within_auroc: float | None
    """AUROC within problems (:func:`~deepprune.judges.metrics.within_problem_auroc`; None for the
    oracle and in points written before it existed). For ``trained`` it needs no fold mean: it
    never compares scores of two folds' judges."""
    tnr_at_fnr: float | None
    accuracy: float
    """DeepPrune with this judge, mean over orderings."""
    tokens_per_problem: float
    reduction: float
    """1 - tokens / cons@K tokens on the same problems."""
    cons_accuracy: float
    cons_tokens_per_problem: float
    judge_calls_per_problem: float
    pairs: int
    negatives: int
    problems: int
    orderings: int
    fold_mean_auroc: float | None = None
    """Trained judge only: mean of the per-fold AUROCs."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SweepPoint:
        """A point from :meth:`to_dict`'s output (``--json``'s ``points``). Fields added since a
        file was written get None (``within_auroc``) or nan (``whole_or_answered``); unknown keys
        are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{**_ADDED_LATER, **{k: v for k, v in d.items() if k in known}})


_ADDED_LATER: dict[str, Any] = {"within_auroc": None, "whole_or_answered": float("nan")}
"""Defaults of :class:`SweepPoint` fields that older ``judge sweep --json`` files lack."""


async def _replay(ts: TraceSet, factory_for: Callable[[str], StrategyFactory], *, orderings: int,
                  seed: int) -> BenchRow:
    """Replay ``ts`` with the strategy ``factory_for(problem key)`` over the orderings: the row.

    Problems sharing a factory (a cross-validation fold's judge) run one after the other.
    """
    def choose(p: Problem) -> StrategyFactory:
        return factory_for(f"{ts.name}/{p.id}")

    groups: dict[int, list[Problem]] = {}
    for p in ts.problems:
        groups.setdefault(id(choose(p)), []).append(p)
    order = [p for group in groups.values() for p in group]
    runs = await replay_orderings(ts, factory_for=choose, problems=order, orderings=orderings, seed=seed)
    return aggregate(runs, traceset=ts, strategy="")


def _always(factory: StrategyFactory) -> Callable[[str], StrategyFactory]:
    return lambda _key: factory


def _per_problem(cv: CrossValResult, factories: dict[int, StrategyFactory]) -> Callable[[str], StrategyFactory]:
    return lambda key: factories[id(cv.judge_for(key))]


def _scores(judge: Judge, pairs: Sequence[Pair]) -> np.ndarray:
    return np.asarray(judge.predict_proba(pairs), dtype=np.float64)


async def prefix_sweep_async(
    tracesets: Sequence[TraceSet],
    truncations: Sequence[str],
    judges: Sequence[str] = ("lexical", TRAINED),
    *,
    folds: int = 5,
    orderings: int = 1,
    seed: int = 0,
    tau: float = 0.5,
    training: JudgeTrainingArgs | None = None,
    make: Callable[[str], Judge] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[SweepPoint]:
    """Measure every judge at every truncation on every dataset (see the module docstring).

    ``training``: :class:`~deepprune.judges.training.JudgeTrainingArgs` of the ``trained`` judge.
    ``make(name)`` builds a registered judge (default :func:`~deepprune.judges.registry.make_judge`;
    ``minilm`` shares one prefix encoder with the trained judge so each prefix is encoded once).
    :func:`prefix_sweep` is the same without a running event loop.
    """
    from deepprune.judges.registry import make_judge

    rules = [Truncation.parse(t) for t in truncations]
    if not rules:
        raise ConfigError("truncations", "none", "at least one rule, e.g. tokens:64")
    encoder = None
    trained_encodes = TRAINED in judges and getattr(training, "encoder", "minilm") != "none"
    if "minilm" in judges or trained_encodes:
        from deepprune.judges.learned import PrefixEncoder

        encoder = PrefixEncoder()

    def build(name: str) -> Judge:
        if make is not None:
            return make(name)
        if name == "minilm" and encoder is not None:
            from deepprune.judges.learned import MiniLMJudge

            return MiniLMJudge(encoder=encoder)
        return make_judge(name)

    points: list[SweepPoint] = []
    for ts in tracesets:
        cons = await _replay(ts, lambda _k: ConsensusStrategy, orderings=orderings, seed=seed)
        n = len(ts.problems)
        total = sum(t.n_tokens for p in ts.problems for t in ts.traces_of(p.id))
        for rule in rules:
            label = str(rule)
            data = build_pairs([ts], rule)
            if len(data) == 0:
                raise ConfigError(f"truncation {rule} on", ts.name,
                                  "problems with at least two traces each that are still partial at the cut "
                                  f"({data.balance()}); choose an earlier cut")
            prefix_tok = [r.n_tokens for r in data.prefixes]
            common = dict(
                dataset=ts.name, truncation=label,
                prefix_tokens=float(np.median(prefix_tok)),
                prefix_share=sum(prefix_tok) / total if total else float("nan"),
                finished_before_cut=float(np.mean([r.complete for r in data.prefixes])),
                whole_or_answered=data.balance().whole_share,
                cons_accuracy=cons.accuracy, cons_tokens_per_problem=cons.tokens / n,
                pairs=len(data), negatives=int(len(data) - data.labels.sum()), problems=n,
                orderings=orderings)
            cfg = DeepPruneConfig(tau=tau, prefix=rule, recover=0)  # judges compared on the paper's rule
            oracle = functools.partial(OracleStrategy, prefix=rule)
            orc = await _replay(ts, _always(oracle), orderings=orderings, seed=seed)
            points.append(SweepPoint(judge=ORACLE, auroc=None, within_auroc=None, tnr_at_fnr=None,
                                     accuracy=orc.accuracy, tokens_per_problem=orc.tokens / n, reduction=1 - orc.tokens / cons.tokens,
                                     judge_calls_per_problem=0.0, **common))  # type: ignore[arg-type]
            for name in judges:
                fold_mean = None
                if name == TRAINED:
                    from deepprune.judges.crossval import cross_validate

                    cv = cross_validate(data, training, folds=folds, encoder=encoder)
                    scores, fold_mean = cv.scores, cv.fold_mean_auroc
                    per_fold: dict[int, StrategyFactory] = {id(j): functools.partial(DeepPruneStrategy, j, cfg) for j in cv.judges if j is not None}
                    factory_for = _per_problem(cv, per_fold)
                else:
                    judge = build(name)
                    scores = _scores(judge, data.pairs())
                    one = functools.partial(DeepPruneStrategy, judge, cfg)
                    factory_for = _always(one)
                rep = await _replay(ts, factory_for, orderings=orderings, seed=seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    a, t = auroc(data.labels, scores), tnr_at_fnr(data.labels, scores)
                    w = within_problem_auroc(data.labels, scores, data.pair_problems())
                points.append(SweepPoint(judge=name, auroc=a, within_auroc=w, tnr_at_fnr=t, accuracy=rep.accuracy,
                                         tokens_per_problem=rep.tokens / n, reduction=1 - rep.tokens / cons.tokens,
                                         judge_calls_per_problem=rep.judge_calls / n, fold_mean_auroc=fold_mean,
                                         **common))  # type: ignore[arg-type]
                if progress is not None:
                    progress(f"{ts.name} {label} {name}: AUROC {a:.3f} (within problems {w:.3f}), tokens {-100 * points[-1].reduction + 0.0:+.1f}%, "
                             f"accuracy {100 * rep.accuracy:.1f}% (cons {100 * cons.accuracy:.1f}%)")
    return points


prefix_sweep = blocking(
    prefix_sweep_async, "prefix_sweep",
    "Measure every judge at every truncation on every dataset: ``asyncio.run`` of "
    ":func:`prefix_sweep_async` (one event loop for every replay).")
