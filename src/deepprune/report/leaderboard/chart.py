"""The leaderboard's accuracy-vs-tokens Pareto chart: one inline SVG per column, drawn with
matplotlib on its own :class:`~matplotlib.figure.Figure` (no pyplot, no backend switch; matplotlib
is imported when a chart is drawn) and exported through matplotlib's SVG backend.

Labels are placed so that they overlap neither each other nor the points (:func:`_place_label`).
Colours are the page's CSS variables (``var(--accent)`` ...), so the charts follow its light and
dark themes; each point carries a ``<title>`` tooltip and the chart a ``<title>`` and ``<desc>``.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from deepprune.core.records import LEADERBOARD_BUDGET
from deepprune.report.leaderboard.board import Table, _fmt_tokens

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["pareto_front", "pareto_svg"]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated by another (fewer-or-equal tokens and higher
    accuracy), ordered by tokens. Points are ``(tokens, accuracy)``.

    >>> pareto_front([(1.0, 0.5), (2.0, 0.9), (3.0, 0.8), (0.5, 0.5)])
    [3, 1]
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (the first <= lo, the last >= hi)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


# Placeholder colours, replaced in the SVG by the page's CSS variables (with fallbacks for a
# chart viewed on its own). Distinct values that nothing else in the chart uses.
_COLOURS = {
    "#010203": "var(--accent, #0969da)",
    "#020304": "var(--front, #d1242f)",
    "#030405": "var(--bound, #8a6d00)",
    "#040506": "var(--bg, #ffffff)",
    "#050607": "var(--fg, #1f2328)",
    "#060708": "var(--muted, #59636e)",
    "#070809": "var(--grid, #e6e9ec)",
}
_C = {v.split("(--")[1].split(",")[0]: k for k, v in _COLOURS.items()}  # "accent" -> "#010203"
Box = tuple[float, float, float, float]
_CHAR_W = 6.0
"""Width of one label character at 10 px (a monospace font: 0.6 em)."""


def pareto_svg(table: Table, j: int, *, width: int = 360, height: int = 240) -> str:
    """An accuracy-vs-tokens chart for column group ``j`` of ``table`` (static SVG markup)."""
    col = table.columns[j]
    pts: list[tuple[str, float, float, bool]] = []
    for row in table.rows:
        c = row.cells[j]
        if c is not None and c.tokens_1e8 is not None and c.accuracy is not None:
            pts.append((row.label, c.tokens_1e8, 100 * c.accuracy, row.bound))
    title = f"Accuracy vs tokens: {col.label}"
    ident = f"pareto-{table.kind}-{j}"
    fig = _figure(width, height)
    if not pts:
        fig.text(0.5, 0.5, "no graded results", ha="center", va="center", fontsize=10, color=_C["muted"])
        return _export(fig, ident, title, "", width, height, {})
    ml, mr, mt, mb = 50, 10, 10, 34
    xs = [p[1] for p in pts]
    ys = [p[2] for p in pts]
    xt = _nice_ticks(0.0, max(xs) * 1.08 or 1.0)
    ylo, yhi = min(ys), max(ys)
    pad = max(2.0, (yhi - ylo) * 0.15)
    yt = _nice_ticks(max(0.0, ylo - pad), min(100.0, yhi + pad), 4)
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    if y1 <= y0:
        y1 = y0 + 1

    def sx(x: float) -> float:
        return ml + (x - x0) / (x1 - x0) * (width - ml - mr)

    def sy(y: float) -> float:
        return height - mb - (y - y0) / (y1 - y0) * (height - mt - mb)

    ax = fig.add_axes((ml / width, mb / height, (width - ml - mr) / width, (height - mt - mb) / height))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xticks(xt, [_fmt_tick(t) for t in xt])
    ax.set_yticks(yt, [f"{_fmt_tick(t)}%" for t in yt])
    ax.set_facecolor("none")
    ax.grid(True, color=_C["grid"], linewidth=1)
    ax.set_axisbelow(True)
    ax.tick_params(length=0, labelsize=10, labelcolor=_C["muted"], pad=4)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.text((ml + width - mr) / 2 / width, 4 / height, f"tokens (1e8 @ {LEADERBOARD_BUDGET} traces)",
             ha="center", va="baseline", fontsize=10, color=_C["muted"])
    fig.text(10 / width, (height - (mt + height - mb) / 2) / height, "accuracy", rotation=90, ha="center",
             va="center", fontsize=10, color=_C["muted"])
    sys_idx = [i for i, p in enumerate(pts) if not p[3]]
    front = [sys_idx[i] for i in pareto_front([(pts[k][1], pts[k][2]) for k in sys_idx])]
    if len(front) > 1:
        ax.plot([pts[i][1] for i in front], [pts[i][2] for i in front], color=_C["front"], linewidth=1.2,
                dashes=(4, 3), zorder=2)
    centers = [(sx(p[1]), sy(p[2])) for p in pts]
    dots = [(x - 5, y - 5, x + 5, y + 5) for x, y in centers]
    placed: list[Box] = []
    tips: dict[str, str] = {}
    for i in sorted(range(len(pts)), key=lambda k: (-pts[k][2], pts[k][1])):
        label, x, y, bound = pts[i]
        cx, cy = centers[i]
        colour = _C["front"] if i in front else _C["accent"]
        gid = f"{ident}-pt{i}"
        ax.plot([x], [y], marker="o", markersize=8, linestyle="none", zorder=3, gid=gid, clip_on=False,
                markerfacecolor="none" if bound else colour, markeredgecolor=_C["bound"] if bound else _C["bg"],
                markeredgewidth=1.5 if bound else 1.0)
        tips[gid] = f"{label}: {_fmt_tokens(x)} tokens (1e8), {y:.1f}%"
        text = label if len(label) <= 26 else label[:25] + "…"
        lx, ly = _place_label(cx, cy, _CHAR_W * len(text), placed, [d for k, d in enumerate(dots) if k != i],
                              (ml, mt, width - 2, height - mb))
        placed.append((lx, ly - 9, lx + _CHAR_W * len(text), ly + 2))
        fig.text(lx / width, 1 - ly / height, text, ha="left", va="baseline", fontsize=10, color=_C["fg"],
                 family="monospace", gid=f"{ident}-lbl{i}")
    return _export(fig, ident, title, _chart_desc(pts), width, height, tips)


def _figure(width: int, height: int) -> Figure:
    from matplotlib.figure import Figure

    # at 72 dpi one point is one SVG user unit: the chart's coordinates are the viewBox's
    return Figure(figsize=(width / 72, height / 72), dpi=72, facecolor="none")


_SVG_OPEN = re.compile(r"<svg\b[^>]*>")
_DROP = re.compile(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<metadata>.*?</metadata>|<!--.*?-->"
                   r"|<defs>\s*<style[^>]*>.*?</style>\s*</defs>", re.S)


def _export(fig: Figure, ident: str, title: str, desc: str, width: int, height: int,
            tips: dict[str, str]) -> str:
    """``fig`` as inline SVG markup: matplotlib's SVG, with the page's classes, title, description,
    point tooltips and colours, without the XML prologue, metadata and global style sheet."""
    import matplotlib

    buf = io.StringIO()
    # text as <text> (selectable, small, styled by the page); ids salted per chart (unique in a page)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": ident,
                                "font.monospace": ["DejaVu Sans Mono"], "font.sans-serif": ["DejaVu Sans"]}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, transparent=True)
    svg = _DROP.sub("", buf.getvalue()).strip()
    # matplotlib's own group ids (figure_1, axes_1, ...) repeat in every chart of a page: dropped;
    # ours (points, labels) and the salted clip-path and marker ids stay
    ours = r'<g id="(?!' + re.escape(ident) + r')[^"]*"'
    svg = re.sub(ours + r"\s*/>", "", re.sub(ours + ">", "<g>", svg))
    svg = re.sub(r"\s*\n\s*", " ", svg).replace("> <", "><")
    # nothing needs clipping (the axes' limits are ticks that cover every point): no clip paths,
    # so the page has no url() references at all
    svg = re.sub(r'<defs><clipPath id="[^"]*">.*?</clipPath></defs>| clip-path="url\(#[^)]*\)"', "", svg)
    esc = html.escape
    head = (f'<svg class="pareto" id="{ident}" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}" '
            f'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><title>{esc(title)}</title>'
            + (f"<desc>{esc(desc)}</desc>" if desc else ""))
    svg = _SVG_OPEN.sub(lambda _: head, svg, count=1)
    for gid, tip in tips.items():
        svg = svg.replace(f'<g id="{gid}">', f'<g id="{gid}" class="pt"><title>{esc(tip)}</title>', 1)
    for placeholder, var in _COLOURS.items():
        svg = svg.replace(placeholder, var)
    return svg



def _place_label(cx: float, cy: float, w: float, labels: Sequence[Box], dots: Sequence[Box],
                 area: Box) -> tuple[float, float]:
    """Text position (x, baseline y) for a label of width ``w`` next to the point (cx, cy): the
    first candidate spot inside ``area`` that covers no other label or point, else the spot with
    the least overlap."""
    spots = [(cx + 6, cy + 3), (cx + 6, cy - 5), (cx + 6, cy + 11), (cx - 6 - w, cy + 3), (cx - 6 - w, cy - 5),
             (cx - 6 - w, cy + 11), (cx - w / 2, cy - 8), (cx - w / 2, cy + 15)]

    def overlap(a: Box, b: Box) -> float:
        return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))

    best: tuple[float, float, float] | None = None
    for lx, ly in spots:
        box = (lx, ly - 9, lx + w, ly + 2)
        outside = (max(0.0, area[0] - box[0]) + max(0.0, box[2] - area[2]) + max(0.0, area[1] - box[1])
                   + max(0.0, box[3] - area[3])) * 20
        cost = outside + sum(overlap(box, b) for b in labels) + sum(overlap(box, d) for d in dots)
        if cost == 0:
            return lx, ly
        if best is None or cost < best[0]:
            best = (cost, lx, ly)
    assert best is not None
    return best[1], best[2]


def _fmt_tick(t: float) -> str:
    return f"{t:g}"


def _chart_desc(pts: Sequence[tuple[str, float, float, bool]]) -> str:
    return "; ".join(f"{p[0]}{' (bound)' if p[3] else ''}: {_fmt_tokens(p[1])} tokens, {p[2]:.1f}%" for p in pts)


# --------------------------------------------------------------------------------------------
# Rendering
