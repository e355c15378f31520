"""``deepprune determinacy``: how much of the final answer a prefix cut decides (the ceiling of any
judge at that cut), measured with fresh continuations from the traces' own model."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from pathlib import Path
from typing import Any

from deepprune.cli.common import check_output, int_at_least, positive_float, progress_bar, write_json
from deepprune.core.errors import ConfigError
from deepprune.core.types import TraceSet
from deepprune.engine.determinacy import (
    Continuation,
    DeterminacyReport,
    determinacy_report,
    read_continuations,
    run_continuations,
)
from deepprune.engine.probing import parse_cuts
from deepprune.formats.datasets import resolve
from deepprune.formats.loaders import load_traces
from deepprune.sources.openai_client import EndpointConfig

__all__ = ["add_parser", "format_report"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "determinacy",
        help="how much of the final answer the first N tokens decide: the ceiling of any judge at a cut",
        description="For the first --traces-per-problem traces of each problem of TRACES, sample --continuations "
                    "fresh continuations of the trace's first N tokens (--at tokens:N) from the server (the trace's "
                    "own request with the prefix to continue, the trace file's sampling and system prompt, a seed "
                    "of its own) and report how often they end at the recorded answer, and the AUROC of the "
                    "continuation judge (the ceiling of any judge of the prefixes) beside the lexical judge and "
                    "the problem prior, pooled and within problems. --out keeps the continuations (resumable). "
                    "'deepprune determinacy report TRACES RUNS.jsonl... --at tokens:N' reports saved "
                    "continuations without a server.",
    )
    p.add_argument("traces", metavar="TRACES", help="trace file, or a dataset name ('default' = the embedded one); "
                                                    "'report' followed by TRACES RUNS.jsonl... reports saved runs")
    p.add_argument("runs", nargs="*", metavar="RUNS", help=argparse.SUPPRESS)
    p.add_argument("--at", required=True, metavar="tokens:N", help="the cut, in generated tokens, e.g. tokens:64")
    p.add_argument("--traces-per-problem", type=int_at_least(1), default=4,
                   help="continue the first K traces of each problem (default 4)")
    p.add_argument("--continuations", type=int_at_least(1), default=3,
                   help="fresh continuations per trace (default 3)")
    p.add_argument("--limit", type=int_at_least(1), default=None, help="only the first N problems")
    p.add_argument("--out", default=None, help="continuations file (.jsonl), written as they end; resumed when "
                                               "it exists (default: nothing is written)")
    p.add_argument("--json", default=None, metavar="F|-", help="the report as JSON to a file ('-': stdout)")
    p.add_argument("--bootstrap", type=int_at_least(0), default=1000,
                   help="problem resamples for the within-problem AUROC intervals (default 1000; 0: none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("server (run only)")
    g.add_argument("--base-url", default=None, metavar="URL", help="OpenAI-compatible base URL")
    g.add_argument("--model", default=None, help="model name the server knows (the traces' own model)")
    g.add_argument("--api-key", default=None, help="API key (default: $OPENAI_API_KEY); never logged or saved")
    g.add_argument("--completions", action="store_true", help="use /completions instead of /chat/completions")
    g.add_argument("--system-prompt", default=None, help="chat system prompt (default: the trace file's)")
    g.add_argument("--temperature", type=float, default=None, help="default: the trace file's sampling (else 0.8)")
    g.add_argument("--top-p", type=float, default=None, help="default: the trace file's sampling (else 0.95)")
    g.add_argument("--max-tokens", type=int_at_least(1), default=None,
                   help="the traces' token cap; a continuation gets at most this minus N (default: the file's, "
                        "else 512)")
    g.add_argument("--concurrency", type=int_at_least(1), default=16, help="streams open at once (default 16)")
    g.add_argument("--stall-timeout", type=positive_float, default=600.0,
                   help="seconds without a token before a stream counts as stalled (default 600)")
    g.add_argument("--retries", type=int_at_least(0), default=3, help="retries before the first token (default 3)")
    p.set_defaults(func=cmd_determinacy)


def _cut(spec: str) -> int:
    cuts = parse_cuts(spec)
    if len(cuts) != 1:
        raise ConfigError("--at", spec, "one cut, tokens:N")
    return cuts[0]


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}%"


def _f(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f" [{ci[0]:.3f}, {ci[1]:.3f}]"


def format_report(rep: DeterminacyReport) -> str:
    """The report as Markdown tables."""
    n_c = max((r.continuations_per_trace for r in rep.rows), default=0)
    lines = [f"Determinacy of {rep.traces} at tokens:{rep.at} ({n_c} continuation(s) per trace)", "",
             "| half | traces | whole at the cut | determinacy | from scratch | pairs (positive) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rep.rows:
        lines.append(f"| {r.half} | {r.traces} | {r.whole}/{r.in_scope} ({_pct(r.whole_share)}) | "
                     f"{_pct(r.determinacy)} | {_pct(r.from_scratch)} | {r.pairs} ({r.positives}) |")
    lines += ["", "AUROC, pooled / within problems (label: recorded answers agree):", "",
              "| half | problem prior | lexical | " + " | ".join(f"continuations c={c}" for c in range(1, n_c + 1))
              + " |", "|---|---:|---:|" + "---:|" * n_c]
    for r in rep.rows:
        cells = [f"{_f(r.auroc_problem_prior)} / -", f"{_f(r.auroc_lexical)} / {_f(r.within_lexical)}"
                 + _ci(r.within_lexical_ci95)]
        for c in range(r.continuations_per_trace):
            cells.append(f"{_f(r.auroc_continuations[c])} / {_f(r.within_continuations[c])}"
                         + (_ci(r.within_continuations_ci95) if c == r.continuations_per_trace - 1 else ""))
        lines.append(f"| {r.half} | " + " | ".join(cells) + " |")
    lines += ["", "The continuation judge at the largest c approaches the best AUROC any judge of the two prefixes "
              "can reach (within problems: what clustering one problem's traces needs; [95% interval over "
              "problems])."]
    return "\n".join(lines)


def _load(name: str) -> tuple[Path, TraceSet]:
    src = resolve(name)
    return src, load_traces(src)


def _emit(rep: DeterminacyReport, args: argparse.Namespace) -> None:
    if args.json != "-":
        print(format_report(rep))
    if args.json:
        write_json(rep.to_json(), args.json)


def cmd_determinacy(args: argparse.Namespace) -> int:
    at = _cut(args.at)
    if args.traces == "report":
        return _cmd_report(args, at)
    if args.runs:
        raise ConfigError("TRACES", " ".join([args.traces, *args.runs]),
                          "one trace file (or 'report TRACES RUNS.jsonl...' to report saved continuations)")
    if not args.base_url or not args.model:
        raise ConfigError("--base-url/--model", None, "both, to sample continuations (or use "
                                                      "'deepprune determinacy report TRACES RUNS.jsonl')")
    src, ts = _load(args.traces)
    check_output(args.out, "--out", inputs=[src], suffixes=(".jsonl",))
    check_output(args.json, "--json", inputs=[src])
    sampling = ts.header.get("sampling", {})
    sampling = sampling if isinstance(sampling, dict) else {}
    system_prompt = args.system_prompt if args.system_prompt is not None else ts.header.get("system_prompt")
    config = EndpointConfig(
        base_url=args.base_url, model=args.model, api_key=args.api_key, chat=not args.completions,
        system_prompt=system_prompt or None,
        temperature=args.temperature if args.temperature is not None else float(sampling.get("temperature", 0.8)),
        top_p=args.top_p if args.top_p is not None else float(sampling.get("top_p", 0.95)),
        top_logprobs=0, max_concurrency=args.concurrency, stall_timeout_s=args.stall_timeout, retries=args.retries)
    cap = args.max_tokens if args.max_tokens is not None else int(sampling.get("max_tokens", 512))
    with progress_bar("continuing", "continuation", disabled=args.no_progress) as progress:
        summary, conts = asyncio.run(run_continuations(
            ts, config, at, source=src, traces_per_problem=args.traces_per_problem,
            continuations=args.continuations, limit=args.limit, recorded_cap=cap, out=args.out,
            progress=progress))
    print(f"deepprune determinacy: {summary.written} continuations run ({summary.skipped_existing} already there), "
          f"{summary.whole} traces whole at the cut (skipped), {summary.tokens} tokens in {summary.wall_s:.0f} s"
          + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    rep = determinacy_report(ts, conts, at, name=args.traces, traces_per_problem=args.traces_per_problem,
                             limit=args.limit, bootstrap=args.bootstrap)
    _emit(rep, args)
    return 0


def _cmd_report(args: argparse.Namespace, at: int) -> int:
    if len(args.runs) < 2:
        raise ConfigError("report", " ".join(args.runs), "TRACES RUNS.jsonl [RUNS.jsonl ...]")
    name, *runs = args.runs
    _, ts = _load(name)
    check_output(args.json, "--json", inputs=[resolve(name), *runs])
    conts: list[Continuation] = []
    for path in runs:
        header, cs = read_continuations(path)
        if header is not None and header.get("at") != at:
            raise ConfigError("--at", args.at, f"the cut of {path} (tokens:{header.get('at')})")
        conts.extend(cs)
    rep = determinacy_report(ts, conts, at, name=name, traces_per_problem=args.traces_per_problem,
                             limit=args.limit, bootstrap=args.bootstrap)
    _emit(rep, args)
    return 0
