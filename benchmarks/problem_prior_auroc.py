"""How much of a pooled judge AUROC a score that reads no prefix gets: the problem prior.

    python benchmarks/problem_prior_auroc.py TRACES [--truncate tokens:64]

Every within-problem pair of TRACES at the cut (partial traces only, as ``judge eval``) is scored
with its problem's share of agreeing pairs (the label rate of that problem: an oracle quantity,
constant within a problem). Its pooled AUROC shows how far ranking *problems* alone lifts a pooled
figure; its AUROC within problems is 0.5 by construction.
"""

from __future__ import annotations

import argparse

import numpy as np

from deepprune.formats.datasets import resolve
from deepprune.formats.loaders import load_traces
from deepprune.judges.metrics import auroc, within_problem_auroc
from deepprune.judges.pairs import build_pairs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("traces")
    ap.add_argument("--truncate", default="tokens:64")
    args = ap.parse_args(argv)
    data = build_pairs([load_traces(resolve(args.traces))], args.truncate)
    y = np.asarray(data.labels)
    problems = np.asarray(data.pair_problems(), dtype=object)
    rate = {p: float(y[problems == p].mean()) for p in set(problems)}
    score = np.array([rate[p] for p in problems])
    print(f"{args.traces} {args.truncate}: {len(y)} pairs, problem prior pooled AUROC {auroc(y, score):.3f}, "
          f"within problems {within_problem_auroc(y, score, problems):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
