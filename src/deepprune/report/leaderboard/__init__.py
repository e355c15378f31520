"""The leaderboard: ``deepprune bench --json`` results -> one self-contained HTML page and Markdown.

* :mod:`~deepprune.report.leaderboard.board` — reads the results and builds the tables (rows are
  systems, column groups model x benchmark), and the shipped reference table;
* :mod:`~deepprune.report.leaderboard.chart` — the accuracy-vs-tokens Pareto chart (inline SVG);
* :mod:`~deepprune.report.leaderboard.html` — the page, by Jinja2 templates with autoescape;
* :mod:`~deepprune.report.leaderboard.markdown` — the same tables in Markdown;
* :mod:`~deepprune.report.leaderboard.common` — footnotes, tooltips and titles both share.

Typical use::

    results = load_results(["bench.json"])
    board = build_leaderboard(results, reference=True)
    Path("leaderboard.html").write_text(render_html(board))
    Path("leaderboard.md").write_text(render_markdown(board))
"""

from __future__ import annotations

from deepprune.report.leaderboard.board import (
    BOUND_STRATEGIES,
    REFERENCE_FORMAT,
    UNKNOWN_MODEL,
    Cell,
    Column,
    Leaderboard,
    Result,
    Row,
    Table,
    build_leaderboard,
    load_reference,
    load_results,
)
from deepprune.report.leaderboard.chart import pareto_front, pareto_svg
from deepprune.report.leaderboard.html import html_table, render_html
from deepprune.report.leaderboard.markdown import render_markdown

__all__ = [
    "BOUND_STRATEGIES",
    "REFERENCE_FORMAT",
    "UNKNOWN_MODEL",
    "Cell",
    "Column",
    "Leaderboard",
    "Result",
    "Row",
    "Table",
    "build_leaderboard",
    "html_table",
    "load_reference",
    "load_results",
    "pareto_front",
    "pareto_svg",
    "render_html",
    "render_markdown",
]
