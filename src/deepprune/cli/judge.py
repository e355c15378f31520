"""``deepprune judge``: build pair datasets, train the judge, evaluate judges on held-out problems.

* ``judge pairs TRACES... --out FILE`` — within-problem pairs with prefixes and labels
  (``deepprune/pairs-v1``), class balance printed.
* ``judge train --traces TRACES... --out DIR`` — split by problem, train on the training side,
  report on the test side, save the judge directory.
* ``judge eval --judge NAME|DIR ... --traces TRACES...`` — AUROC (pooled and within problems), TNR
  at FNR = 0.2, pairs, positives, negatives, pairs/s for each judge; ``--plot`` draws their ROC
  curves on one chart.
* ``judge sweep TRACES... --truncate tokens:16 tokens:64 ...`` — AUROC of each judge and DeepPrune's
  token reduction and accuracy with it, against prefix length (Markdown tables, ``--json``, ``--plot``).

"AUROC within problems" (``auroc-within``) compares a same-answer pair only with different-answer
pairs of its own problem, which is all DeepPrune asks of a judge; the pooled AUROC can be inflated
by problem difficulty (a score that reads no prefix, the problem's share of agreeing pairs, gets
pooled AUROC 0.84 on ``default`` at 64 tokens, above every real judge, and 0.5 within problems).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from deepprune.cli.common import (
    PLOT_SUFFIXES,
    add_trace_input_args,
    check_output,
    int_at_least,
    load_trace_args,
    write_json,
)
from deepprune.core.errors import ConfigError
from deepprune.judges.base import Judge
from deepprune.judges.leakage import check_held_out
from deepprune.judges.metrics import JudgeReport, evaluate_judge
from deepprune.judges.pairs import PairDataset, build_pairs
from deepprune.judges.registry import available_judges, make_judge
from deepprune.judges.training import JudgeTrainingArgs
from deepprune.report import judge_table

DEFAULT_TRUNCATION = "words:25"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("judge", help="pair datasets, train and evaluate judges",
                       description="Judges predict P(two traces end in the same answer) from their prefixes.")
    jsub = p.add_subparsers(dest="judge_command", metavar="SUBCOMMAND")

    pp = jsub.add_parser("pairs", help="build a pair dataset (prefixes + labels) from traces")
    pp.add_argument("traces", nargs="+", metavar="TRACES", help="trace files or shipped dataset names")
    pp.add_argument("--out", required=True, help="output file (.jsonl or .jsonl.gz)")
    _add_pair_args(pp)
    pp.add_argument("--split", choices=("all", "train", "test"), default="all")
    add_trace_input_args(pp)
    pp.set_defaults(func=cmd_pairs)

    pt = jsub.add_parser("train", help="train the MiniLM + MLP judge (focal loss, oversampling) on CPU")
    pt.add_argument("--traces", nargs="+", required=True, metavar="TRACES")
    pt.add_argument("--out", required=True, help="directory to write the judge into")
    _add_pair_args(pt)
    d = JudgeTrainingArgs()
    pt.add_argument("--encoder", choices=("minilm", "minilm-full", "none"), default=d.encoder,
                    help="minilm: MiniLM cosine + text features (default); minilm-full: also the embedding "
                         "interactions; none: text features only")
    pt.add_argument("--features", choices=("auto", "all", "similarity"), default=d.features,
                    help="pair features for the head: all; similarity (without the prefix-level lengths and "
                         "counts); auto (default): whichever scores higher in a 3-fold CV by problem")
    pt.add_argument("--loss", choices=("focal", "ce"), default=d.loss)
    pt.add_argument("--focal-alpha", type=float, default=d.focal_alpha,
                    help=f"weight of the same-answer class (default {d.focal_alpha})")
    pt.add_argument("--focal-gamma", type=float, default=d.focal_gamma, help=f"default {d.focal_gamma}")
    pt.add_argument("--oversample", type=float, default=d.oversample,
                    help=f"minority-class repetition factor, 1 = off (default {d.oversample})")
    pt.add_argument("--epochs", type=int, default=d.epochs)
    pt.add_argument("--lr", type=float, default=d.lr)
    pt.add_argument("--hidden", type=int, default=d.hidden, help="MLP hidden units (0 = logistic)")
    pt.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads")
    pt.add_argument("--json", metavar="FILE|-", help="write the test report as JSON")
    add_trace_input_args(pt)
    pt.set_defaults(func=cmd_train)

    pe = jsub.add_parser("eval", help="AUROC / TNR@FNR=0.2 of judges on held-out problems",
                         description=_WITHIN_HELP)
    pe.add_argument("--judge", "-j", action="append", required=True, metavar="NAME[:k=v,...]|DIR",
                    help="judge name (" + ", ".join(available_judges()) + ") or trained judge directory; "
                         "repeatable")
    src = pe.add_mutually_exclusive_group(required=True)
    src.add_argument("--traces", nargs="+", metavar="TRACES")
    src.add_argument("--pairs", metavar="FILE", help="a saved pair dataset instead of traces")
    _add_pair_args(pe, truncate_default=None)
    pe.add_argument("--split", choices=("test", "train", "all"), default="test",
                    help="which problems (default: test, the held-out side of the split)")
    pe.add_argument("--max-problems", type=int, default=None,
                    help="a seeded sample of at most this many problems (slow judges)")
    pe.add_argument("--sample-pairs", type=int, default=None, metavar="N",
                    help="a seeded sample of N pairs, half same / half different where possible (slow judges; "
                         "AUROC and TNR do not depend on the class ratio)")
    pe.add_argument("--json", metavar="FILE|-", help="write the reports as JSON")
    pe.add_argument("--plot", metavar="FILE.png", help="ROC curves of all judges on one chart")
    add_trace_input_args(pe)
    pe.set_defaults(func=cmd_eval)
    ps = jsub.add_parser("sweep", help="judge AUROC and DeepPrune's token reduction against prefix length",
                         description="For each truncation: every judge's AUROC over all within-problem pairs "
                                     "(the trained judge cross-validated by problem) and DeepPrune replayed with it "
                                     "against cons@K and the oracle (a perfect judge at the same cut). "
                                     + _WITHIN_HELP)
    ps.add_argument("traces", nargs="+", metavar="TRACES", help="trace files or shipped dataset names")
    ps.add_argument("--truncate", nargs="+", default=list(SWEEP_DEFAULT), metavar="words:K|tokens:N",
                    help="prefix rules to sweep (default: " + " ".join(SWEEP_DEFAULT) + ")")
    ps.add_argument("--judge", "-j", action="append", metavar="NAME", default=None,
                    help="a registered judge name, or 'trained' (the trained judge, k-fold cross-validated by "
                         "problem); repeatable (default: lexical, minilm, trained)")
    ps.add_argument("--folds", type=int, default=5, help="cross-validation folds for 'trained' (default 5)")
    ps.add_argument("--orderings", type=int, default=1, help="seeded trace orderings per replay (default 1)")
    ps.add_argument("--seed", type=int_at_least(0), default=0)
    ps.add_argument("--tau", type=float, default=0.5,
                    help="DeepPrune's clustering threshold (default 0.5); the sweep replays DeepPrune on the "
                         "paper's rule (no recovery of pruned traces, deepprune:recover=0) so that judge "
                         "errors show in its accuracy")
    ps.add_argument("--epochs", type=int, default=JudgeTrainingArgs().epochs, help="trained judge epochs")
    ps.add_argument("--threads", type=int, default=JudgeTrainingArgs().threads, help="torch CPU threads")
    ps.add_argument("--json", metavar="FILE|-", help="write the sweep points as JSON")
    ps.add_argument("--plot", metavar="FILE.png", help="AUROC / tokens saved / accuracy against prefix length")
    add_trace_input_args(ps)
    ps.set_defaults(func=cmd_sweep)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


_WITHIN_HELP = ("AUROC is shown pooled over all pairs and within problems ('AUROC within problems', "
                "auroc-within: a same-answer pair compared only with different-answer pairs of its own "
                "problem). DeepPrune only compares traces of one problem, so the within-problem figure is the "
                "relevant one; the pooled AUROC can be inflated by problem difficulty (on 'default' at "
                "tokens:64 a score that reads no prefix, the problem's share of agreeing pairs, gets pooled "
                "AUROC 0.84, above every real judge, and 0.5 within problems).")
SWEEP_DEFAULT = ("tokens:16", "tokens:32", "tokens:64", "tokens:128", "tokens:256")


def _add_pair_args(p: argparse.ArgumentParser, truncate_default: str | None = DEFAULT_TRUNCATION) -> None:
    p.add_argument("--truncate", default=truncate_default, metavar="words:K|tokens:N",
                   help="prefix rule (default: " + (truncate_default or
                                                    f"the trained judge's, else {DEFAULT_TRUNCATION}") + ")")
    p.add_argument("--max-pairs-per-problem", type=int_at_least(1), default=None,
                   help="seeded sample of pairs per problem")
    p.add_argument("--test-fraction", type=float, default=0.3, help="share of problems held out (default 0.3)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="split and sampling seed")
    p.add_argument("--include-whole", action="store_true",
                   help="keep pairs whose prefix is the whole trace or already shows its final answer "
                        "(left out by default: they measure nothing about prediction)")


def _pairs_from_traces(args: argparse.Namespace, paths: list[str], truncation: str) -> PairDataset:
    sets = load_trace_args(paths, args)
    return build_pairs(sets, truncation, max_pairs_per_problem=args.max_pairs_per_problem, seed=args.seed,
                       partial_only=not getattr(args, "include_whole", False))


def _inputs(paths: list[str]) -> list[str]:
    return [p for p in paths if Path(p).exists()]


def cmd_pairs(args: argparse.Namespace) -> int:
    check_output(args.out, "--out", inputs=_inputs(args.traces))
    data = _pairs_from_traces(args, args.traces, args.truncate)
    if args.split != "all":
        train, test = data.split(test_fraction=args.test_fraction, seed=args.seed)
        data = train if args.split == "train" else test
    data.save(args.out)
    print(f"{args.out}: {data.balance()} (truncation {data.truncation})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from deepprune.judges.trained import train_judge

    targs = JudgeTrainingArgs(encoder=args.encoder, features=args.features, loss=args.loss, focal_alpha=args.focal_alpha, focal_gamma=args.focal_gamma,
                              oversample=args.oversample, epochs=args.epochs, lr=args.lr, hidden=args.hidden,
                              threads=args.threads, seed=args.seed)
    check_output(args.out, "--out", inputs=_inputs(args.traces), directory=True)
    check_output(args.json, "--json", inputs=_inputs(args.traces))
    t0 = time.perf_counter()
    data = _pairs_from_traces(args, args.traces, args.truncate)
    train, test = data.split(test_fraction=args.test_fraction, seed=args.seed)
    print(f"train: {train.balance()}", file=sys.stderr)
    print(f"test:  {test.balance()}", file=sys.stderr)
    judge = train_judge(train, targs)
    judge.info_.update(test_fraction=args.test_fraction, split_seed=args.seed,
                       total_seconds=round(time.perf_counter() - t0, 2), command=args.command_line)
    out = judge.save(args.out)
    report, _ = evaluate_judge(judge, test, name=str(out))
    judge.info_["test_report"] = report.to_dict()
    judge.save(out)
    print(f"saved {out} (trained in {judge.info_['train_seconds']:.0f} s wall, "
          f"{judge.info_['train_cpu_seconds']:.0f} s CPU)")
    print(judge_table([report]))
    if args.json:
        write_json(report.to_dict(), args.json)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from deepprune.strategies.registry import StrategySpec

    inputs = _inputs(args.traces or [args.pairs])
    check_output(args.json, "--json", inputs=inputs)
    check_output(args.plot, "--plot", inputs=inputs, suffixes=PLOT_SUFFIXES)
    judges: list[tuple[str, Judge]] = []
    for raw in args.judge:
        if Path(raw).exists():
            name, params = raw, {}
        else:
            spec = StrategySpec.parse(raw)
            name, params = spec.name, dict(spec.params)
        judge = make_judge(name, params)
        if params:
            raise ConfigError(f"parameters of judge {name!r}", sorted(params), "keys this judge knows")
        judges.append((raw, judge))
    if args.pairs:
        data = PairDataset.load(args.pairs)
        if args.truncate and args.truncate != data.truncation:
            raise ConfigError("--truncate", args.truncate, f"the pair file's own rule ({data.truncation})")
    else:
        truncation = args.truncate or next(
            (getattr(j, "truncation", "") for _, j in judges if getattr(j, "truncation", "")), DEFAULT_TRUNCATION)
        data = _pairs_from_traces(args, args.traces, truncation)
    if args.split != "all":
        train, test = data.split(test_fraction=args.test_fraction, seed=args.seed)
        data = test if args.split == "test" else train
    if args.max_problems is not None and len(data.problems) > args.max_problems:
        import numpy as np

        rng = np.random.default_rng(args.seed)
        keep = rng.choice(len(data.problems), size=args.max_problems, replace=False)
        data = data.subset([data.problems[i] for i in sorted(keep)])
    if args.sample_pairs is not None and args.sample_pairs < len(data):
        data = data.sample_pairs(args.sample_pairs, seed=args.seed)
    for raw, judge in judges:
        check_held_out(raw, judge, data.problems, strict=args.split == "test")
    print(f"{args.split}: {data.balance()} (truncation {data.truncation})", file=sys.stderr)
    reports: list[JudgeReport] = []
    curves: list[tuple[str, Any, Any]] = []
    for raw, judge in judges:
        report, scores = evaluate_judge(judge, data, name=raw)
        reports.append(report)
        curves.append((raw, data.labels, scores))
        print(f"  {raw}: AUROC {report.auroc:.3f}, within problems {report.within_auroc:.3f} "
              f"({report.seconds:.1f} s)", file=sys.stderr)
    if args.json != "-":
        print(judge_table(reports))
    if args.json:
        write_json([dict(r.to_dict(), command=args.command_line) for r in reports], args.json)
    if args.plot:
        from deepprune.report import plot_roc

        plot_roc(curves, args.plot, title=f"{','.join(data.sources)} ({args.split}, {data.truncation})",
                 groups=data.pair_problems())
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from deepprune.engine.judge_sweep import prefix_sweep
    from deepprune.report import markdown_sweep

    judges = args.judge or ["lexical", "minilm", "trained"]
    for name in judges:
        if name != "trained" and name not in available_judges():
            raise ConfigError("--judge", name, "trained or one of " + ", ".join(available_judges()))
    check_output(args.json, "--json", inputs=_inputs(args.traces))
    check_output(args.plot, "--plot", inputs=_inputs(args.traces), suffixes=PLOT_SUFFIXES)
    sets = load_trace_args(args.traces, args)
    training = JudgeTrainingArgs(epochs=args.epochs, threads=args.threads, seed=args.seed)
    points = prefix_sweep(sets, args.truncate, judges, folds=args.folds, orderings=args.orderings,
                          seed=args.seed, tau=args.tau, training=training,
                          progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.json != "-":
        print(markdown_sweep(points))
    if args.json:
        write_json({"command": args.command_line, "points": [p.to_dict() for p in points]}, args.json)
    if args.plot:
        from deepprune.report import plot_sweep

        print(f"wrote {plot_sweep(points, args.plot)}", file=sys.stderr)
    return 0
