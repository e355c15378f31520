"""``deepprune demo``: benchmark the available strategies on the embedded default dataset."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from deepprune.cli.common import write_json
from deepprune.engine.demo import demo_rows
from deepprune.formats.datasets import resolve
from deepprune.report import plot_pareto, text_table


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="benchmark every strategy on the embedded dataset (no server, no GPU)",
                       description="Replay cons@K, DeepConf, ESC, Adaptive-Consistency, DeepPrune and the "
                                   "oracle on the shipped dataset and compare accuracy and tokens.")
    p.add_argument("--traces", default="default", help="dataset (default: the embedded one)")
    p.add_argument("--orderings", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default="deepprune-demo.png", help="where to write the accuracy-vs-tokens plot")
    p.add_argument("--json", metavar="FILE|-", help="write the bench rows as JSON (- for stdout)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    path = resolve(args.traces)
    rows, skipped = demo_rows(path, orderings=args.orderings, seed=args.seed)
    if args.json != "-":
        print(text_table(rows))
        for name, why in skipped:
            print(f"(skipped {name}: {why})")
    if args.json:
        write_json([r.to_dict() for r in rows], args.json)
    if args.plot:
        sys.stdout.flush()
        out = plot_pareto(rows, args.plot)
        print(f"plot written to {out}", file=sys.stderr)
    return 0
