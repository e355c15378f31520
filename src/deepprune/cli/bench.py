"""``deepprune bench``: replay strategies over trace datasets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from deepprune.cli.common import (
    PLOT_SUFFIXES,
    add_trace_input_args,
    check_output,
    int_at_least,
    load_trace_args,
    write_json,
)
from deepprune.core.errors import ConfigError, DataError
from deepprune.engine.bench import bench, check_traceset
from deepprune.report import markdown_table, plot_pareto, text_table
from deepprune.strategies.registry import StrategySpec, available, build


def add_parser(sub: Any) -> None:
    names = ", ".join(available())
    p = sub.add_parser("bench", help="replay strategies over recorded traces (accuracy vs tokens)",
                       description="Replay strategies over trace datasets and compare accuracy and "
                                   f"generated tokens with cons@K. Strategies: {names}.")
    p.add_argument("traces", nargs="+", metavar="TRACES", help="trace files or shipped dataset names (default)")
    p.add_argument("--strategy", "-s", action="append", metavar="NAME[:k=v,...]",
                   help="strategy to run (repeatable); default: cons and oracle")
    p.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="run every strategy that takes KEY once per value (accuracy-vs-tokens curve)")
    p.add_argument("--orderings", type=int_at_least(1), default=1, help="seeded trace orderings to average over")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--budget", type=int_at_least(1), default=None, help="K: traces per problem (default: all)")
    p.add_argument("--json", metavar="FILE|-", help="write the rows as JSON (- for stdout)")
    p.add_argument("--markdown", metavar="FILE", help="write the tables as Markdown")
    p.add_argument("--plot", metavar="FILE.png", help="write the accuracy-vs-tokens plot")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none either when stderr is not a terminal)")
    add_trace_input_args(p)
    p.set_defaults(func=cmd_bench)


def _unknown_key(exc: ConfigError, spec: StrategySpec, key: str) -> bool:
    """True when ``exc`` is the registry's "no such parameter" error for ``key`` (not a bad value)."""
    return exc.field == f"parameters of strategy {spec.name!r}" and isinstance(exc.value, list) and key in exc.value


def expand_sweeps(specs: list[StrategySpec], sweeps: list[str]) -> list[StrategySpec]:
    """Apply each ``key=v1,v2`` sweep to the strategies that accept ``key``.

    Every value is checked: a value a strategy rejects is an error, and so is a key that none of
    the strategies takes (nothing is dropped silently).
    """
    for sweep in sweeps:
        key, eq, values = sweep.partition("=")
        key = key.strip()
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not eq or not key or not vals:
            raise ConfigError("--sweep", sweep, "KEY=V1,V2,...")
        out: list[StrategySpec] = []
        used = False
        for spec in specs:
            variants = [spec.with_param(key, v) for v in vals]
            try:
                build(variants[0])
            except ConfigError as exc:
                if not _unknown_key(exc, spec, key):
                    raise ConfigError(f"--sweep {key} of strategy {spec.name!r}", vals[0], exc.expected) from exc
                out.append(spec)  # this strategy has no such parameter
                continue
            for v in variants[1:]:
                try:
                    build(v)
                except ConfigError as exc:
                    raise ConfigError(f"--sweep {key} of strategy {spec.name!r}", dict(v.params)[key],
                                      exc.expected) from exc
            used = True
            out.extend(variants)
        if not used:
            raise ConfigError("--sweep", key, "a parameter of one of the strategies (" +
                              ", ".join(s.label for s in specs) + "); see docs/strategies.md")
        specs = out
    return specs


def cmd_bench(args: argparse.Namespace) -> int:
    if args.orderings < 1:
        raise ConfigError("--orderings", args.orderings, "at least 1")
    specs = [StrategySpec.parse(s) for s in (args.strategy or ["cons", "oracle"])]
    for spec in specs:
        build(spec)  # fail fast on bad names / parameters
    specs = expand_sweeps(specs, args.sweep)
    inputs = [t for t in args.traces if Path(t).exists()]
    check_output(args.json, "--json", inputs=inputs)
    check_output(args.markdown, "--markdown", inputs=inputs)
    check_output(args.plot, "--plot", inputs=inputs, suffixes=PLOT_SUFFIXES)
    skipped: list[str] = []
    datasets = [check_traceset(ts, on_error=args.on_error, skipped=skipped)
                for ts in load_trace_args(args.traces, args)]
    for msg in skipped:
        print(f"deepprune: skipped {msg}", file=sys.stderr)
    for ts in datasets:
        if not ts.problems:
            raise DataError(f"{ts.name}: no problem has traces: nothing to measure",
                            path=ts.header.get("source_path"))
    total = sum(len(ts.problems) for ts in datasets) * len(specs) * args.orderings
    # a bar only on a terminal: redirected to a file or a pipe it would write an update line ten
    # times a second (a log grows by kilobytes and says nothing the table does not)
    bar = tqdm(total=total, unit="problem", file=sys.stderr, desc="bench",
               disable=args.no_progress or total < 200 or not sys.stderr.isatty())
    rows = bench(datasets, specs, orderings=args.orderings, seed=args.seed, budget=args.budget,
                 raise_on_error=args.on_error != "skip", progress=bar.update)
    bar.close()
    command = args.command_line
    if args.json != "-":
        print(text_table(rows))
    if args.json:
        write_json([dict(r.to_dict(), command=command) for r in rows], args.json)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(markdown_table(rows))
    if args.plot:
        plot_pareto(rows, args.plot, sweep_keys=[sw.partition("=")[0].strip() for sw in args.sweep])
    return 0
