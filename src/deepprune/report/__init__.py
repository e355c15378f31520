"""Every human-facing output: text and Markdown tables, charts, live-run lines.

* :mod:`deepprune.report.tables` — bench rows, judge reports and the prefix sweep as text/Markdown;
* :mod:`deepprune.report.plots` — charts on explicit matplotlib figures (no global backend switch;
  matplotlib is imported only when a chart is drawn);
* :mod:`deepprune.report.live` — the lines ``deepprune run`` prints.
"""

from __future__ import annotations

from deepprune.report.live import live_row_line, live_summary_text
from deepprune.report.plots import plot_auroc_sweep, plot_pareto, plot_roc, plot_sweep
from deepprune.report.tables import judge_table, markdown_sweep, markdown_table, text_table

__all__ = ["judge_table", "live_row_line", "live_summary_text", "markdown_sweep", "markdown_table",
           "plot_auroc_sweep", "plot_pareto", "plot_roc", "plot_sweep", "text_table"]
