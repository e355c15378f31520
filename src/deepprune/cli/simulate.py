"""``deepprune simulate``: a simulated cons@512 trace set from real answer distributions, and the
DeepPrune-vs-judge-AUROC sweep (clearly labelled as simulation)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from deepprune.cli.common import write_json
from deepprune.core.errors import ConfigError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "simulate", help="SIMULATION at cons@512 scale: DeepPrune token reduction / accuracy vs judge AUROC",
        description="Build a simulated trace set from the answer distributions of a DeepConf re-run "
                    "(qwen3_deepconf_brumo_hmmt: 512 traces per problem, real mean lengths) and replay "
                    "cons, oracle and DeepPrune with the noisy-oracle judge at several AUROCs.")
    p.add_argument("source", metavar="DIR", help="the qwen3_deepconf_brumo_hmmt folder (or its prob_analysis)")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated lengths and trace order")
    p.add_argument("--length-cv", type=float, default=0.4, help="coefficient of variation of trace lengths")
    p.add_argument("--write", metavar="FILE.jsonl.gz", help="save the simulated trace set (deepprune/traces-v1)")
    p.add_argument("--aurocs", default="0.6,0.7,0.8,0.85,0.9,0.95,1.0", help="judge AUROCs to sweep")
    p.add_argument("--prefix", default="tokens:512", help="truncation rule (the traces have no text: tokens:N)")
    p.add_argument("--variant", action="append", default=None, metavar="K=V[,K=V]",
                   help="extra DeepPrune parameters, one curve each (default: defaults and vote=largest)")
    p.add_argument("--orderings", type=int, default=5)
    p.add_argument("--no-sweep", action="store_true", help="only build (and --write) the trace set")
    p.add_argument("--plot", metavar="FILE.png")
    p.add_argument("--markdown", metavar="FILE")
    p.add_argument("--json", metavar="FILE|-")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    from deepprune.engine.simulate import auroc_sweep, simulate_traceset
    from deepprune.formats.tracefile import write_traces
    from deepprune.report import markdown_table, plot_auroc_sweep, text_table

    try:
        aurocs = [float(a) for a in args.aurocs.split(",") if a.strip()]
    except ValueError as exc:
        raise ConfigError("--aurocs", args.aurocs, "comma-separated numbers in [0.5, 1]") from exc
    ts = simulate_traceset(args.source, seed=args.seed, length_cv=args.length_cv)
    print(f"SIMULATION {ts.name}: {len(ts.problems)} problems x "
          f"{ts.n_traces // max(1, len(ts.problems))} traces (answers as recorded, lengths simulated)",
          file=sys.stderr)
    if args.write:
        write_traces(ts, args.write)
    if args.no_sweep:
        return 0
    variants = args.variant if args.variant is not None else ["", "vote=largest"]
    rows = auroc_sweep(ts, aurocs, orderings=args.orderings, seed=args.seed, prefix=args.prefix, extra=variants)
    command = args.command_line
    if args.json != "-":
        print(text_table(rows))
    if args.json:
        write_json([dict(r.to_dict(), command=command, simulation=True) for r in rows], args.json)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write("SIMULATION (answers as recorded, lengths simulated)\n\n" + markdown_table(rows))
    if args.plot:
        plot_auroc_sweep(rows, args.plot)
    return 0
