"""Accuracy of vote strategies against cons@K, paired by ordering, at several budgets K.

Vote strategies that let every trace finish cost exactly cons@K's tokens; what differs is the
answer. With few problems the spread of accuracy over orderings (which traces form the K-subset)
hides small differences, so this script replays each strategy on the *same* seeded orderings as
cons@K and reports the mean per-ordering difference in accuracy, its standard error over
orderings, and how many orderings were better / worse. (Orderings share problems and traces, so
the standard error is a rough guide, not an independent-sample one.) Reproduce the BENCHMARKS.md
figures with::

    python benchmarks/paired_votes.py default --budgets 4,8,16 --orderings 20 \\
        -s deepconf -s cisc -s self-certainty -s rpc
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from deepprune.engine.replay import replay_orderings
from deepprune.formats.datasets import resolve
from deepprune.formats.loaders import load_traces
from deepprune.strategies.registry import build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("traces", help="trace file or shipped dataset name (default)")
    ap.add_argument("--budgets", default="4,8,16", help="comma-separated K values")
    ap.add_argument("--orderings", type=int, default=20)
    ap.add_argument("-s", "--strategy", action="append", default=[], help="strategy spec (repeatable)")
    args = ap.parse_args()
    ts = load_traces(resolve(args.traces))
    n = len(ts.problems)
    specs = args.strategy or ["cisc", "self-certainty", "rpc"]
    print(f"{ts.name}: {n} problems, {args.orderings} orderings; difference in accuracy vs cons@K (points)")
    for k in (int(x) for x in args.budgets.split(",")):
        correct: dict[str, list[int]] = {}
        for spec in ["cons", *specs]:
            runs = asyncio.run(replay_orderings(ts, build(spec), orderings=args.orderings, budget=k))
            correct[spec] = [sum(bool(r.correct) for r in run) for run in runs]
        cons_acc = 100 * statistics.fmean(correct["cons"]) / n
        print(f"K={k}: cons {cons_acc:.1f}%")
        for spec in specs:
            d = [a - b for a, b in zip(correct[spec], correct["cons"], strict=True)]
            mean = 100 * statistics.fmean(d) / n
            se = 100 * statistics.stdev(d) / len(d) ** 0.5 / n if len(d) > 1 else 0.0
            print(f"  {spec:<24} {mean:+.2f} (se {se:.2f}); better/worse orderings "
                  f"{sum(x > 0 for x in d)}/{sum(x < 0 for x in d)}")


if __name__ == "__main__":
    main()
