"""The leaderboard page: one self-contained HTML document rendered by Jinja2 with autoescape.

Templates (shipped in ``deepprune/data``): ``leaderboard.html.j2`` (the page: CSS, sorting
JavaScript), ``leaderboard_body.html.j2`` (its sections) and ``leaderboard_macros.html.j2`` (a
table, the charts, citations, commands and datasheets). Every value from a results file is
escaped by the engine; only the SVG charts (built and escaped by
:mod:`deepprune.report.leaderboard.chart`) are passed in as markup.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jinja2
from markupsafe import Markup

from deepprune.core.protocol import FAMILIES
from deepprune.report.leaderboard.board import Column, Leaderboard, Table
from deepprune.report.leaderboard.chart import pareto_svg
from deepprune.report.leaderboard.common import (
    FOOTNOTES,
    col_sub,
    col_title,
    refs_title,
    runs,
    tooltip,
    version,
)

__all__ = ["html_table", "render_html"]


def _model_groups(columns: Sequence[Column]) -> list[tuple[str, int]]:
    """Consecutive columns of one model: (model, count) per group (the header's first row)."""
    groups: list[tuple[str, int]] = []
    for col in columns:
        if groups and groups[-1][0] == col.model:
            groups[-1] = (col.model, groups[-1][1] + 1)
        else:
            groups.append((col.model, 1))
    return groups


def _rows_using(table: Table, n: int) -> list[str]:
    return [r.label for r in table.rows if n in r.commands]


def _num(x: float | None) -> str:
    return "" if x is None else repr(x)


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment: package templates, autoescape on, undefined names are errors."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("deepprune", "data"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.globals.update(
        col_sub=col_sub, col_title=col_title, families=FAMILIES, footnotes=FOOTNOTES, model_groups=_model_groups,
        num=_num,
        pareto_svg=lambda t, j: Markup(pareto_svg(t, j)),
        refs_title=refs_title, rows_using=_rows_using, runs=runs, tooltip=tooltip, zip=zip)
    return env


def html_table(table: Table, tid: str, commands: Sequence[str]) -> str:
    """One leaderboard table (HTML fragment) with id ``tid``; ``commands`` for the row references."""
    macros: Any = environment().get_template("leaderboard_macros.html.j2").module
    return str(macros.table(table, tid, commands))


def render_html(board: Leaderboard, *, title: str = "deepprune leaderboard") -> str:
    """The whole page: one self-contained HTML document (no external resources)."""
    return environment().get_template("leaderboard.html.j2").render(board=board, title=title, version=version())
