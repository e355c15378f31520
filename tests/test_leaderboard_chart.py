"""The leaderboard's Pareto chart, drawn by matplotlib and exported through its SVG backend."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

from deepprune.report import leaderboard as lb
from deepprune.report.leaderboard.chart import pareto_svg


def _table(points: list[tuple[str, float | None, float | None, bool]]) -> lb.Table:
    rows = tuple(lb.Row(label, (None if tok is None else lb.Cell(tok, acc),), bound=bound)
                 for label, tok, acc, bound in points)
    return lb.Table("measured", "t", (lb.Column("m", "ds"),), rows)


def test_chart_is_matplotlib_svg_with_the_pages_hooks() -> None:
    t = _table([("cons", 0.64, 0.9, False), ("esc", 0.256, 0.9, False), ("oracle", 0.064, 0.95, True),
                ("deepprune:tau=0.5", 0.192, 0.8, False), ("<b>x</b>", None, None, False)])
    svg = pareto_svg(t, 0)
    assert svg.startswith('<svg class="pareto" id="pareto-measured-0" viewBox="0 0 360 240" role="img" '
                          'aria-label="Accuracy vs tokens: m · ds"')
    assert svg.endswith("</svg>") and svg.count("<svg") == 1
    assert "<?xml" not in svg and "<metadata" not in svg and "<style" not in svg  # no page-wide style sheet
    assert "url(" not in svg and "matplotlib.axis" not in svg
    assert "<desc>cons: 0.640 tokens, 90.0%; esc: 0.256 tokens, 90.0%; oracle (bound): 0.0640 tokens, 95.0%;" in svg
    # one tooltip per graded point; labels as <text>, colours from the page's CSS variables
    assert svg.count("<title>") == 1 + 4 and "<title>esc: 0.256 tokens (1e8), 90.0%</title>" in svg
    assert re.search(r"<text [^>]*>deepprune:tau=0\.5</text>", svg)
    assert "var(--front, #d1242f)" in svg and "var(--bound, #8a6d00)" in svg and "var(--accent, #0969da)" in svg
    assert not re.search(r"#0[1-7]0[2-8]0[3-9]", svg)  # no placeholder colour left
    assert ">tokens (1e8 @ 512 traces)</text>" in svg and ">accuracy</text>" in svg and ">90%</text>" in svg


def test_labels_do_not_overlap_and_ids_are_unique_in_a_page() -> None:
    t = _table([(f"strategy-{i}", 0.1 + 0.01 * i, 0.8, False) for i in range(6)])
    svg = pareto_svg(t, 0)
    ys = [float(y) for y in re.findall(r'<text [^>]*y="([0-9.]+)"[^>]*>strategy-\d</text>', svg)]
    assert len(ys) == 6 and len(set(ys)) > 1  # crowded points: labels moved apart
    ref = lb.load_reference()
    page = "".join(pareto_svg(tb, j) for tb in (t, ref) for j in range(len(tb.columns)))
    ids = Counter(re.findall(r' id="([^"]+)"', page))
    assert ids and max(ids.values()) == 1, [k for k, n in ids.items() if n > 1]


def test_empty_chart_and_escaping() -> None:
    svg = pareto_svg(_table([("a", None, None, False)]), 0)
    assert ">no graded results</text>" in svg and "<desc>" not in svg
    svg = pareto_svg(_table([("<script>&", 0.5, 0.5, False)]), 0)
    assert "<script>" not in svg and "&lt;script&gt;&amp;" in svg


def test_matplotlib_is_imported_only_to_draw() -> None:
    code = "import sys, deepprune.report.leaderboard; print(sorted({'matplotlib', 'jinja2'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['jinja2']"  # the page's template engine, but no plotting
