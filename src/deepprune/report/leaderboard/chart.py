"""The leaderboard's accuracy-vs-tokens Pareto chart: an inline SVG per column, labels placed
so that they overlap neither each other nor the points."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from deepprune.core.records import LEADERBOARD_BUDGET
from deepprune.leaderboard import Table, _fmt_tokens

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


def pareto_svg(table: Table, j: int, *, width: int = 360, height: int = 240) -> str:
    """An accuracy-vs-tokens chart for column group ``j`` of ``table`` (static SVG markup)."""
    col = table.columns[j]
    pts: list[tuple[str, float, float, bool]] = []
    for row in table.rows:
        c = row.cells[j]
        if c is not None and c.tokens_1e8 is not None and c.accuracy is not None:
            pts.append((row.label, c.tokens_1e8, 100 * c.accuracy, row.bound))
    esc = html.escape
    title = f"Accuracy vs tokens: {col.label}"
    head = (f'<svg class="pareto" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>')
    if not pts:
        return head + (f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="axis">'
                       "no graded results</text></svg>")
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

    parts = [head, f'<desc>{esc(_chart_desc(pts))}</desc>']
    for t in xt:
        parts.append(f'<line class="grid" x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{mt}" y2="{height - mb}"/>'
                     f'<text class="axis" x="{sx(t):.1f}" y="{height - mb + 13}" text-anchor="middle">'
                     f"{_fmt_tick(t)}</text>")
    for t in yt:
        parts.append(f'<line class="grid" x1="{ml}" x2="{width - mr}" y1="{sy(t):.1f}" y2="{sy(t):.1f}"/>'
                     f'<text class="axis" x="{ml - 4}" y="{sy(t) + 3:.1f}" text-anchor="end">{_fmt_tick(t)}%</text>')
    parts.append(f'<text class="axis" x="{(ml + width - mr) / 2}" y="{height - 4}" text-anchor="middle">'
                 f"tokens (1e8 @ {LEADERBOARD_BUDGET} traces)</text>")
    parts.append(f'<text class="axis" transform="translate(10 {(mt + height - mb) / 2}) rotate(-90)" '
                 'text-anchor="middle">accuracy</text>')
    sys_idx = [i for i, p in enumerate(pts) if not p[3]]
    front = [sys_idx[i] for i in pareto_front([(pts[k][1], pts[k][2]) for k in sys_idx])]
    if len(front) > 1:
        d = " ".join(f"{sx(pts[i][1]):.1f},{sy(pts[i][2]):.1f}" for i in front)
        parts.append(f'<polyline class="front" points="{d}"/>')
    centers = [(sx(p[1]), sy(p[2])) for p in pts]
    dots = [(x - 5, y - 5, x + 5, y + 5) for x, y in centers]
    placed: list[tuple[float, float, float, float]] = []
    for i in sorted(range(len(pts)), key=lambda k: (-pts[k][2], pts[k][1])):
        label, x, y, bound = pts[i]
        cx, cy = centers[i]
        cls = "pt bound" if bound else ("pt front-pt" if i in front else "pt")
        parts.append(f'<circle class="{cls}" cx="{cx:.1f}" cy="{cy:.1f}" r="4">'
                     f"<title>{esc(label)}: {_fmt_tokens(x)} tokens (1e8), {y:.1f}%</title></circle>")
        text = label if len(label) <= 26 else label[:25] + "…"
        lx, ly = _place_label(cx, cy, 6.0 * len(text), placed, [d for k, d in enumerate(dots) if k != i],
                              (ml, mt, width - 2, height - mb))
        placed.append((lx, ly - 9, lx + 6.0 * len(text), ly + 2))
        parts.append(f'<text class="lbl" x="{lx:.1f}" y="{ly:.1f}">{esc(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


Box = tuple[float, float, float, float]


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
