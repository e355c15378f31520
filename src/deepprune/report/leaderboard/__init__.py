"""Rendering the leaderboard (:mod:`deepprune.leaderboard` reads the results and builds the tables).

* :mod:`~deepprune.report.leaderboard.chart` — the accuracy-vs-tokens Pareto chart (inline SVG);
* :mod:`~deepprune.report.leaderboard.html` — the page, by Jinja2 templates with autoescape;
* :mod:`~deepprune.report.leaderboard.markdown` — the same tables in Markdown;
* :mod:`~deepprune.report.leaderboard.common` — footnotes, tooltips and titles both share.
"""

from __future__ import annotations

from deepprune.report.leaderboard.chart import pareto_front, pareto_svg
from deepprune.report.leaderboard.html import html_table, render_html
from deepprune.report.leaderboard.markdown import render_markdown

__all__ = ["html_table", "pareto_front", "pareto_svg", "render_html", "render_markdown"]
