"""DeepPrune's accuracy levers against cons@K and the oracle row, on the same traces and orderings.

For each dataset and strategy: accuracy (mean over orderings), generated tokens vs cons@K, the
share of problems whose answer equals cons@K's on the same ordering (less noisy than accuracy on
40 problems), how often recovery fired (problems with at least one resumed trace) and how many
traces it resumed. Reproduce the BENCHMARKS.md table with::

    python benchmarks/bench_recovery.py default ../shared/data/traces/qwen25_math_instruct_math100_x8.jsonl \
        --orderings 10
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

from deepprune.core.answers import answers_equal
from deepprune.core.types import ProblemResult
from deepprune.engine.bench import bench
from deepprune.formats.datasets import resolve
from deepprune.formats.loaders import load_traces

STRATEGIES = (
    "cons",
    "oracle:prefix=tokens:64",
    "deepprune-paper",                                     # as published: words:25, tau 0.5, no recovery
    "deepprune:tau=0.5,recover=0",                         # lexical judge at 64 tokens, no recovery
    "deepprune:recover=0",                                 # the new default without recovery
    "deepprune:recover=1",
    "deepprune",                                           # the default: tau 0.2, tokens:64, recover=2
    "deepprune:verifiers=0,recover_batch=need",            # the default before verifiers and doubling rounds
    "deepprune:recover_batch=one",                         # recovery one trace at a time
    "deepprune:recover=3",
    "deepprune:judge=noisy-oracle,auroc=0.9,recover=0",    # a simulated AUROC-0.9 judge, no recovery
    "deepprune:judge=noisy-oracle,auroc=0.9",              # the same judge with recovery
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--orderings", type=int, default=10)
    ap.add_argument("-s", "--strategy", action="append", dest="strategies")
    ap.add_argument("--json", help="write the rows as JSON here")
    args = ap.parse_args(argv)
    specs = list(args.strategies or STRATEGIES)
    if "cons" not in specs:
        specs.insert(0, "cons")
    out = []
    for name in args.datasets:
        ts = load_traces(resolve(name))
        kinds = {p.id: p.kind for p in ts.problems}
        results: dict[tuple[str, int], dict[str, ProblemResult]] = defaultdict(dict)

        def keep(ds: str, label: str, r: int, res: ProblemResult,
                 _results: dict[tuple[str, int], dict[str, ProblemResult]] = results) -> None:
            _results[(label, r)][res.problem_id] = res

        rows = bench([ts], specs, orderings=args.orderings, per_problem=keep)
        cons_tokens = next(r.tokens for r in rows if r.strategy == "cons")
        print(f"\n{ts.name}: {len(ts.problems)} problems, {args.orderings} orderings")
        print(f"{'strategy':52s} {'accuracy':>9s} {'tokens':>8s} {'= cons':>7s} {'fired':>6s} {'resumed':>8s} "
              f"{'rounds':>7s} {'latency':>8s}")
        for row in rows:
            same = total = fired = resumed = rounds = 0
            for r in range(args.orderings):
                mine, cons = results[(row.strategy, r)], results[("cons", r)]
                for pid, res in mine.items():
                    c = cons[pid].answer
                    total += 1
                    same += (res.answer is None and c is None) or (
                        res.answer is not None and c is not None and answers_equal(c, res.answer, kinds[pid]))
                    n = int(res.info.get("recovered", 0) or 0)
                    fired += n > 0
                    resumed += n
                    rounds += int(res.info.get("recovery_rounds", 0) or 0)
            rec = {"dataset": ts.name, "strategy": row.strategy, "accuracy": row.accuracy,
                   "accuracy_std": row.accuracy_std, "tokens": row.tokens,
                   "vs_cons": row.tokens / cons_tokens - 1, "same_as_cons": same / total,
                   "recovery_fired": fired / total, "resumed_per_problem": resumed / total,
                   "recovery_rounds_per_problem": rounds / total, "latency": row.latency,
                   "orderings": args.orderings}
            out.append(rec)
            print(f"{row.strategy:52s} {100 * row.accuracy:8.1f}% {100 * rec['vs_cons']:+7.1f}% "
                  f"{100 * rec['same_as_cons']:6.1f}% {100 * rec['recovery_fired']:5.1f}% "
                  f"{rec['resumed_per_problem']:8.2f} {rec['recovery_rounds_per_problem']:7.2f} "
                  f"{'—' if row.latency is None else f'x{row.latency:.2f}':>8s}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"command": "python benchmarks/bench_recovery.py " + " ".join(sys.argv[1:] if argv is None else argv),
                       "rows": out}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
