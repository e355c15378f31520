"""``deepprune probe``: record answer probes (the model's answer mid-trace) into a trace file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from deepprune.cli.collect import add_endpoint_args, endpoint_from_args
from deepprune.cli.common import check_output, progress_bar
from deepprune.engine.probing import parse_cuts, probe_file
from deepprune.formats.datasets import resolve
from deepprune.sources.probe import PROBE_MAX_TOKENS

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "probe",
        help="record answer probes (the model's answer after N tokens of each trace) into a trace file",
        description="For each trace of TRACES and each cut of --at (tokens:N, strictly before the trace's end), "
                    "send the problem, the trace's first N tokens and a 'final answer' cue to the server (greedy, "
                    "at most --probe-tokens tokens) and write the trace file again with the probed answers "
                    "(field 'probes') to --out, in the input's order. Resumable: run the same command again "
                    "after a kill. Strategies that probe (e.g. deepprune:probe=on) replay from these.",
    )
    p.add_argument("traces", help="trace file, or a dataset name ('default' = the embedded one)")
    p.add_argument("--at", required=True, action="append", metavar="tokens:N[,M,...]",
                   help="cut points in generated tokens, e.g. tokens:32,64,128 (repeatable)")
    p.add_argument("--out", required=True, help="output trace file (.jsonl or .jsonl.gz); resumed when it exists")
    p.add_argument("--probe-tokens", type=int, default=PROBE_MAX_TOKENS,
                   help=f"most tokens a probe generates (default {PROBE_MAX_TOKENS})")
    p.add_argument("--limit", type=int, default=None, help="only the first N problems")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_endpoint_args(p)
    p.set_defaults(func=cmd_probe)


def cmd_probe(args: argparse.Namespace) -> int:
    src = resolve(args.traces)
    check_output(args.out, "--out", inputs=[src], suffixes=(".jsonl", ".gz"))
    cuts = parse_cuts(args.at)
    config = endpoint_from_args(args)
    with progress_bar("probing", "trace", disabled=args.no_progress) as progress:
        s = asyncio.run(probe_file(src, args.out, config, cuts, max_tokens=args.probe_tokens,
                                   limit=args.limit, progress=progress))
    print(f"deepprune probe: {s.traces} traces written ({s.skipped_existing} already there), {s.probes} probes, "
          f"{s.past_end} cuts at or past a trace's end, {s.tokens} probe tokens in {s.wall_s:.0f} s -> {args.out}",
          file=sys.stderr)
    return 0
