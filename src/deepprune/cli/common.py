"""Argument helpers shared by subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deepprune.datasets import resolve
from deepprune.formats.loaders import FORMATS, load_traces, parse_mapping
from deepprune.formats.tracefile import ReadReport
from deepprune.tokens import ServerTokenizer
from deepprune.types import TraceSet

__all__ = ["add_trace_input_args", "load_trace_args", "write_json"]


def add_trace_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="auto", choices=FORMATS,
                   help="trace file format (default: detect)")
    p.add_argument("--map", default=None, metavar="OURS=THEIRS,...",
                   help="field mapping for --format generic, e.g. problem_id=qid,text=response,gold=answer")
    p.add_argument("--tokenizer", metavar="URL", default=None,
                   help="count tokens of files without counts (Qwen-style) with the real tokenizer of a "
                        "llama.cpp server at URL (POST /tokenize) instead of the approx:regex-v1 rule")
    p.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="bad records: fail (default) or skip them, counted and reported")


def load_trace_args(paths: Sequence[str], args: argparse.Namespace) -> list[TraceSet]:
    """Load every TRACES argument (a path or a shipped dataset name such as ``default``)."""
    mapping = parse_mapping(args.map) if args.map else None
    counter = ServerTokenizer(args.tokenizer) if getattr(args, "tokenizer", None) else None
    out = []
    for raw in paths:
        report = ReadReport()
        ts = load_traces(resolve(raw), args.format, mapping=mapping, on_error=args.on_error, report=report,
                         counter=counter)
        if report.skipped:
            print(f"deepprune: skipped {len(report.skipped)} bad record(s) in {raw}:", file=sys.stderr)
            for msg in report.skipped[:20]:
                print(f"  {msg}", file=sys.stderr)
            if len(report.skipped) > 20:
                print(f"  ... and {len(report.skipped) - 20} more", file=sys.stderr)
        out.append(ts)
    return out


def write_json(obj: Any, dest: str) -> None:
    """Write JSON to a file, or to stdout when ``dest`` is ``-``."""
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    if dest == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(dest).write_text(text + "\n", encoding="utf-8")
