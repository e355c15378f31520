"""Choose a DeepPrune recovery knob by cross-validation by problem, on both datasets at once.

A tuned knob of the default ``deepprune`` (``recover_max``: recovery stops once that many traces
have finished; ``futile``: recovery gives up on a diffuse problem) must not be chosen on the
problems it is reported on. This script replays every candidate value once (same seeded
orderings for all), then, for each of ``--folds`` folds split by problem (stratified per
dataset), picks on the *training* problems the value with the largest mean token saving whose
training accuracy on *each* dataset stays within ``--max-drop`` points of the reference row's
(``--reference cons``: cons@K; ``oracle``: the perfect judge at the same cut, the bar of issue
10), and scores that value on the held-out problems. Reported: held-out accuracy and tokens vs
cons@K per dataset (every problem is held out once), the value each fold chose, and the value
chosen on all problems (the shipped default). Reproduce the BENCHMARKS.md figures with::

    python benchmarks/cv_recovery.py ../shared/data/traces/qwen25_math_instruct_math100_x8.jsonl default \\
        --orderings 5 --folds 5                                   # futile, against cons@K
    python benchmarks/cv_recovery.py ../shared/data/traces/qwen25_math_instruct_math100_x8.jsonl default \\
        --param recover_max --reference oracle --orderings 20 --folds 5
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

import numpy as np

from deepprune.core.types import ProblemResult
from deepprune.engine.bench import bench
from deepprune.formats.datasets import resolve
from deepprune.formats.loaders import load_traces

GRIDS = {"futile": ("0", "0.1", "0.15", "0.2", "0.25"),
         "recover_max": ("none", "24", "20", "16", "12", "10", "8")}
"""Candidate values per knob; the first is the knob off (the fallback when no value qualifies)."""
ORACLE = "oracle:prefix=tokens:64"


def _same(a: str | None, b: str | None, kind: object) -> bool:
    from deepprune.core.answers import answers_equal

    if a is None or b is None:
        return a is None and b is None
    return bool(answers_equal(b, a, kind))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--orderings", type=int, default=5)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-drop", type=float, default=1.0, help="accuracy points below cons@K allowed")
    ap.add_argument("--criterion", choices=("accuracy", "pooled", "agreement"), default="accuracy",
                    help="accuracy: within --max-drop of cons@K on each dataset's training problems; "
                         "pooled: the same on all training problems together; "
                         "agreement: answers equal to cons@K's on >= --min-agree %% of them")
    ap.add_argument("--min-agree", type=float, default=90.0)
    ap.add_argument("--param", choices=sorted(GRIDS), default="futile")
    ap.add_argument("--grid", nargs="+", help="candidate values (default: the knob's grid; the first is 'off')")
    ap.add_argument("--base", default="", help="parameters every candidate shares, e.g. recover_order=confidence")
    ap.add_argument("--reference", choices=("cons", "oracle"), default="cons",
                    help="the row whose training accuracy a value must stay within --max-drop of")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    grid = list(args.grid or GRIDS[args.param])
    ref = "cons" if args.reference == "cons" else ORACLE
    base = f",{args.base}" if args.base else ""
    candidates = [f"deepprune:{args.param}={v}{base}" for v in grid]
    specs = ["cons"] + ([ORACLE] if ref != "cons" else []) + candidates
    # (dataset, spec) -> problem id -> (mean correct, mean tokens, mean agreement with cons@K's
    # answer on the same ordering), means over orderings
    table: dict[tuple[str, str], dict[str, tuple[float, float, float]]] = {}
    problems: dict[str, list[str]] = {}
    for name in args.datasets:
        ts = load_traces(resolve(name))
        problems[ts.name] = [p.id for p in ts.problems]
        acc: dict[tuple[str, str], list[ProblemResult]] = defaultdict(list)

        def keep(ds: str, label: str, r: int, res: ProblemResult,
                 _acc: dict[tuple[str, str], list[ProblemResult]] = acc) -> None:
            _acc[(label, res.problem_id)].append(res)

        bench([ts], specs, orderings=args.orderings, seed=args.seed, per_problem=keep)
        kind = {p.id: p.kind for p in ts.problems}
        for spec in specs:
            table[(ts.name, spec)] = {
                pid: (float(np.mean([bool(x.correct) for x in acc[(spec, pid)]])),
                      float(np.mean([x.tokens for x in acc[(spec, pid)]])),
                      float(np.mean([_same(x.answer, c.answer, kind[pid])
                                     for x, c in zip(acc[(spec, pid)], acc[("cons", pid)], strict=True)])))
                for pid in problems[ts.name]}

    def score(ds: str, spec: str, pids: list[str]) -> tuple[float, float, float]:
        """(accuracy in points, tokens vs cons@K, % answers equal to cons@K's) on ``pids``."""
        t = table[(ds, spec)]
        c = table[(ds, "cons")]
        accuracy = 100 * float(np.mean([t[p][0] for p in pids]))
        saving = sum(t[p][1] for p in pids) / sum(c[p][1] for p in pids) - 1
        return accuracy, saving, 100 * float(np.mean([t[p][2] for p in pids]))

    def choose(train: dict[str, list[str]]) -> str:
        best, best_saving = candidates[0], 1.0
        for spec in candidates:
            if args.criterion == "pooled":
                def pooled(sp: str) -> float:
                    n = sum(len(pids) for pids in train.values())
                    return sum(score(ds, sp, pids)[0] * len(pids) for ds, pids in train.items()) / n
                ok = pooled(spec) >= pooled(ref) - args.max_drop
            elif args.criterion == "accuracy":
                ok = all(score(ds, spec, pids)[0] >= score(ds, ref, pids)[0] - args.max_drop
                         for ds, pids in train.items())
            else:
                ok = all(score(ds, spec, pids)[2] >= args.min_agree for ds, pids in train.items())
            saving = float(np.mean([score(ds, spec, pids)[1] for ds, pids in train.items()]))
            if ok and saving < best_saving:
                best, best_saving = spec, saving
        return best

    rng = np.random.default_rng(args.seed)
    fold_of = {ds: {p: i % args.folds for i, p in enumerate(rng.permutation(pids))}
               for ds, pids in problems.items()}
    held: dict[str, dict[str, str]] = {ds: {} for ds in problems}  # dataset -> problem -> chosen spec
    chosen_per_fold = []
    for f in range(args.folds):
        train = {ds: [p for p in pids if fold_of[ds][p] != f] for ds, pids in problems.items()}
        spec = choose(train)
        chosen_per_fold.append(spec)
        for ds, pids in problems.items():
            for p in pids:
                if fold_of[ds][p] == f:
                    held[ds][p] = spec
    out = {"command": "python benchmarks/cv_recovery.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "chosen_per_fold": chosen_per_fold, "chosen_on_all": choose(problems), "datasets": {}}
    print(f"chosen per fold: {chosen_per_fold}; on all problems: {out['chosen_on_all']}")
    for ds, pids in problems.items():
        c = table[(ds, "cons")]
        acc = 100 * float(np.mean([table[(ds, held[ds][p])][p][0] for p in pids]))
        tok = sum(table[(ds, held[ds][p])][p][1] for p in pids) / sum(c[p][1] for p in pids) - 1
        cons_acc = score(ds, "cons", pids)[0]
        grid = {spec: score(ds, spec, pids) for spec in specs}
        out["datasets"][ds] = {"cv_accuracy": acc, "cv_tokens_vs_cons": tok, "cons_accuracy": cons_acc,
                               "grid_in_sample": grid}
        print(f"{ds}: held-out accuracy {acc:.1f}% (cons {cons_acc:.1f}%), tokens {100 * tok:+.1f}% vs cons")
        for spec, (a, s, g) in grid.items():
            print(f"    in-sample {spec:28s} {a:5.1f}%  {100 * s:+6.1f}%  = cons {g:5.1f}%")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
