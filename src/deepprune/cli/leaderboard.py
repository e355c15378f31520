"""``deepprune leaderboard``: bench JSON results -> the leaderboard page (HTML) and Markdown."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from deepprune.cli.common import check_output
from deepprune.core.errors import ConfigError
from deepprune.report.leaderboard import render_html, render_markdown
from deepprune.report.leaderboard.board import build_leaderboard, load_results


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "leaderboard", help="turn `deepprune bench --json` results into the leaderboard page",
        description="Build the leaderboard from `deepprune bench --json` results: one self-contained, "
                    "sortable HTML page (no network needed) and/or a Markdown table. Rows are strategies, "
                    "column groups are model x dataset, cells are tokens (1e8 @ 512 traces), accuracy and "
                    "latency vs cons@K.")
    p.add_argument("results", nargs="+", metavar="RESULTS.json", help="files written by `deepprune bench --json`")
    p.add_argument("--html", metavar="OUT.html", help="write the HTML page")
    p.add_argument("--markdown", metavar="OUT.md", help="write the Markdown table")
    p.add_argument("--reference", action="store_true",
                   help="add the published rows (DeepPrune / DeepConf papers) as a separate 'reported in paper' "
                        "table")
    p.add_argument("--model", action="append", default=[], metavar="DATASET=MODEL",
                   help="model name for a dataset whose results do not record one (repeatable)")
    p.add_argument("--title", default="deepprune leaderboard", help="page title")
    p.set_defaults(func=cmd_leaderboard)


def _models(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        ds, eq, model = item.partition("=")
        if not eq or not ds.strip() or not model.strip():
            raise ConfigError("--model", item, "DATASET=MODEL")
        out[ds.strip()] = model.strip()
    return out


def cmd_leaderboard(args: argparse.Namespace) -> int:
    if not args.html and not args.markdown:
        raise ConfigError("--html/--markdown", None, "at least one output (--html OUT.html or --markdown OUT.md)")
    check_output(args.html, "--html", inputs=args.results)
    check_output(args.markdown, "--markdown", inputs=args.results)
    board = build_leaderboard(load_results(args.results), reference=args.reference, models=_models(args.model))
    if args.html:
        Path(args.html).write_text(render_html(board, title=args.title), encoding="utf-8")
        print(f"wrote {args.html}")
    if args.markdown:
        Path(args.markdown).write_text(render_markdown(board), encoding="utf-8")
        print(f"wrote {args.markdown}")
    return 0
