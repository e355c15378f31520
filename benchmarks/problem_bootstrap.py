"""How far can a dataset resolve an accuracy bar? Paired bootstrap over problems.

Each strategy is replayed on the same seeded orderings as a reference row (default: the oracle at
tokens:64, the bar of issue 10 is "oracle - 1 point"); per problem, its correctness is averaged
over the orderings; then problems are resampled with replacement (``--resamples``, seeded) and
the mean paired difference (strategy - reference, in points) is recomputed. Reported: the
difference, its 95% percentile interval, and the share of resamples in which the strategy is
within 1 point of the reference (the bar holds). With 40 problems one problem is 2.5 points,
so an interval several points wide says the dataset cannot decide a 1-point bar. Reproduce the
BENCHMARKS.md figures with::

    python benchmarks/problem_bootstrap.py default ../shared/data/traces/qwen25_math_instruct_math100_x8.jsonl \\
        --orderings 20 -s deepprune -s deepprune:recover_max=16 -s deepprune:recover_max=12 -s cons
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from deepprune.core.types import ProblemResult
from deepprune.engine.bench import bench
from deepprune.formats.datasets import resolve
from deepprune.formats.loaders import load_traces


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("-s", "--strategy", action="append", dest="strategies", required=True)
    ap.add_argument("--reference", default="oracle:prefix=tokens:64")
    ap.add_argument("--orderings", type=int, default=20)
    ap.add_argument("--resamples", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    specs = [args.reference, *[s for s in args.strategies if s != args.reference]]
    for name in args.datasets:
        ts = load_traces(resolve(name))
        correct: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))

        def keep(ds: str, label: str, r: int, res: ProblemResult,
                 _c: dict[str, dict[str, list[bool]]] = correct) -> None:
            _c[label][res.problem_id].append(bool(res.correct))

        bench([ts], specs, orderings=args.orderings, seed=args.seed, per_problem=keep)
        pids = [p.id for p in ts.problems]
        ref = np.asarray([np.mean(correct[args.reference][p]) for p in pids])
        rng = np.random.default_rng(args.seed)
        idx = rng.integers(0, len(pids), size=(args.resamples, len(pids)))
        print(f"\n{ts.name}: {len(pids)} problems, {args.orderings} orderings, {args.resamples} resamples; "
              f"reference {args.reference} {100 * ref.mean():.1f}%")
        print(f"{'strategy':40s} {'accuracy':>9s} {'diff':>7s} {'95% interval':>16s} {'P(>= ref - 1)':>14s}")
        for spec in specs[1:]:
            mine = np.asarray([np.mean(correct[spec][p]) for p in pids])
            d = 100 * (mine - ref)
            boot = d[idx].mean(axis=1)
            lo, hi = np.percentile(boot, [2.5, 97.5])
            print(f"{spec:40s} {100 * mine.mean():8.1f}% {d.mean():+6.1f} [{lo:+6.1f}, {hi:+6.1f}] "
                  f"{100 * float(np.mean(boot >= -1.0)):13.0f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
