"""The leaderboard as Markdown (GitHub flavour: ``<u>`` and ``<sup>`` render)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from deepprune.core.records import LEADERBOARD_BUDGET
from deepprune.report.leaderboard.board import Leaderboard, Table
from deepprune.report.leaderboard.common import FOOTNOTES, col_title, runs

__all__ = ["render_markdown"]


def _md_cell(text: str) -> str:
    """Markdown-safe cell text from a results file: no raw HTML, no stray column break."""
    return html.escape(text, quote=False).replace("|", "\\|")


def _md_code(text: str, *, in_table: bool = False) -> str:
    """``text`` as a Markdown code span that no backtick inside it can close (in a table, ``|``
    escaped as GitHub's tables need)."""
    text = " ".join(text.split())
    if in_table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or text.startswith(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_table(table: Table, commands: Sequence[str], *, refs: bool) -> list[str]:
    head = ["system"] + [c.label for c in table.columns]
    out = ["| " + " | ".join(_md_cell(h) for h in head) + " |",
           "|" + "|".join(["---"] + ["---:"] * len(table.columns)) + "|"]
    with_latency = table.has_latency
    for row in table.rows:
        label = _md_code(row.label, in_table=True) if table.kind == "measured" else _md_cell(row.label)
        if row.bound:
            label += " (bound)"
        if row.citation:
            label += f" [{row.citation}]"
        if refs:
            label += "".join(f" <sup>[{a + 1 if a == b else f'{a + 1}–{b + 1}'}]</sup>" for a, b in runs(row.commands))
        cells = [label]
        for c in row.cells:
            if c is None:
                cells.append("—")
                continue
            tok = f"**{c.tokens_text}**" if c.best_tokens else c.tokens_text
            acc = f"<u>{c.accuracy_text}</u>" if c.best_accuracy else c.accuracy_text
            if c.tokens_std_1e8:
                tok += f" ±{c.tokens_std_1e8:#.2g}"
            if c.accuracy_std:
                acc += f" ±{100 * c.accuracy_std:.1f}"
            s = f"{tok} {acc} {c.latency_text}" if with_latency else f"{tok} {acc}"
            if c.judge_calls:
                s += f" +{c.judge_calls:,.0f} judge calls"
            if c.errors:
                s += f" ({c.errors} failed)"
            cells.append(s.replace("|", "\\|"))  # numbers and our own markup only
        out.append("| " + " | ".join(cells) + " |")
    return out


def _md_methods(table: Table) -> list[str]:
    """Family and paper of each row that has them (a table of its own: the main one stays as wide as
    the benchmarks)."""
    rows = [r for r in table.rows if r.family or r.paper]
    if not rows:
        return []
    out = ["| system | family | paper |", "|---|---|---|"]
    for r in rows:
        label = _md_code(r.label, in_table=True) if table.kind == "measured" else _md_cell(r.label)
        out.append(f"| {label} | {_md_cell(r.family or '—')} | {_md_cell(r.paper or '—')} |")
    return ["", *out]


def render_markdown(board: Leaderboard) -> str:
    """The same tables as Markdown (GitHub flavour: ``<u>`` and ``<sup>`` render)."""
    out = ["### Measured with deepprune", "",
           f"Each cell: tokens in 1e8 at K = {LEADERBOARD_BUDGET} traces, accuracy, latency vs cons@K (x1.00: as "
           "long as cons@K; — unknown; see the notes). **Bold**: fewest tokens; <u>underlined</u>: highest "
           "accuracy (bounds excluded). ± is the spread over orderings.", ""]
    out += _md_table(board.measured, board.commands, refs=True)
    out += _md_methods(board.measured)
    out.append("")
    for col in board.measured.columns:
        out.append(f"- {_md_cell(col_title(col))}" +
                   (f"; datasheet: `{col.datasheet_name}.md`" if col.datasheet_name else ""))
    if board.commands:
        out += ["", "Commands:", ""]
        out += [f"{n + 1}. {_md_code(cmd)}" for n, cmd in enumerate(board.commands)]
    if board.reference is not None:
        ref = board.reference
        out += ["", "### Reported in paper (not measured here)", ""]
        out += _md_table(ref, (), refs=False)
        out += _md_methods(ref)
        out.append("")
        out += [f"- [{k}] {v.get('title', '')}, arXiv [{v.get('arxiv', '')}]({v.get('url', '')})"
                for k, v in ref.citations.items()]
        out += [f"- {n}" for n in ref.notes]
    out += ["", "Notes:", ""]
    out += [f"- **{h}:** {t}" for k, h, t in FOOTNOTES if k != "reported" or board.reference is not None]
    return "\n".join(out) + "\n"
