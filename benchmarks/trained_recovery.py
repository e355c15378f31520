"""DeepPrune with the trained judge (cross-validated by problem) under recovery, trust and a budget.

For each dataset, the trained judge is cross-validated by problem at ``--prefix`` (each problem
is replayed with the judge trained without it, as ``deepprune judge sweep`` does), then DeepPrune
is replayed with that judge under each configuration below, beside cons@K on the same orderings.
It asks whether a trained judge's probabilities are good enough for ``trust=q`` (merges at or
above ``q`` count as votes and are never resumed) to cut recovery's cost. Reproduce the
BENCHMARKS.md figures with::

    python benchmarks/trained_recovery.py default ../shared/data/traces/qwen25_math_instruct_math100_x8.jsonl \\
        --orderings 5
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import time

from deepprune.core.prefix import Truncation
from deepprune.core.protocol import StrategyFactory
from deepprune.engine.judge_sweep import _per_problem, _replay
from deepprune.formats.datasets import resolve
from deepprune.formats.loaders import load_traces
from deepprune.judges.crossval import cross_validate
from deepprune.judges.learned import PrefixEncoder
from deepprune.judges.pairs import build_pairs
from deepprune.judges.training import JudgeTrainingArgs
from deepprune.strategies.cons import ConsensusStrategy
from deepprune.strategies.deepprune import DeepPruneConfig, DeepPruneStrategy

CONFIGS = {
    "tau=0.5,recover=0 (the paper's rule)": dict(tau=0.5, recover=0),
    "tau=0.2,recover=2": dict(tau=0.2, recover=2),
    "tau=0.5,recover=2": dict(tau=0.5, recover=2),
    "tau=0.5,recover=2,trust=0.7": dict(tau=0.5, recover=2, trust=0.7),
    "tau=0.5,recover=2,trust=0.8": dict(tau=0.5, recover=2, trust=0.8),
    "tau=0.5,recover=2,trust=0.9": dict(tau=0.5, recover=2, trust=0.9),
    "tau=0.2,recover=2,recover_max=16": dict(tau=0.2, recover=2, recover_max=16),
    "tau=0.5,recover=2,trust=0.8,recover_max=16": dict(tau=0.5, recover=2, trust=0.8, recover_max=16),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--orderings", type=int, default=5)
    ap.add_argument("--prefix", default="tokens:64")
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args(argv)
    rule = Truncation.parse(args.prefix)
    encoder = PrefixEncoder()
    for name in args.datasets:
        ts = load_traces(resolve(name))
        t0 = time.perf_counter()
        cv = cross_validate(build_pairs([ts], rule), JudgeTrainingArgs(), folds=args.folds, encoder=encoder)
        cons = asyncio.run(_replay(ts, lambda _k: ConsensusStrategy, orderings=args.orderings, seed=0))
        print(f"\n{ts.name} at {rule}: trained judge, {args.folds}-fold CV by problem, mean fold AUROC "
              f"{cv.fold_mean_auroc:.3f}, AUROC within problems {cv.within_auroc:.3f} "
              f"({time.perf_counter() - t0:.0f} s); cons@K {100 * cons.accuracy:.1f}%")
        for label, kw in CONFIGS.items():
            cfg = DeepPruneConfig(prefix=rule, **kw)  # type: ignore[arg-type]
            per: dict[int, StrategyFactory] = {id(j): functools.partial(DeepPruneStrategy, j, cfg) for j in cv.judges if j is not None}
            row = asyncio.run(_replay(ts, _per_problem(cv, per), orderings=args.orderings, seed=0))
            print(f"  {label:45s} {100 * row.accuracy:5.1f}%  tokens {100 * (row.tokens / cons.tokens - 1):+6.1f}%",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
