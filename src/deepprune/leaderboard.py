"""The leaderboard: ``deepprune bench --json`` results -> one self-contained HTML page and Markdown.

Rows are systems (a strategy as written on the command line, e.g. ``oracle:prefix=tokens:64``);
column groups are model x benchmark; each cell holds tokens in the published leaderboard's unit
(1e8 generated tokens at K = 512 traces per problem) and accuracy. Within a column the fewest
tokens are bold and the highest accuracy underlined, among rows that are real systems (bounds
such as ``oracle`` are shown but never marked best).

The published rows (:func:`load_reference`, a cited data file shipped with the package) form a
separate table, "reported in paper"; they are never mixed with measured rows.

Typical use::

    results = load_results(["bench.json"])
    board = build_leaderboard(results, reference=True)
    Path("leaderboard.html").write_text(render_html(board))
    Path("leaderboard.md").write_text(render_markdown(board))

The page needs no network: CSS, JavaScript (sorting) and the SVG charts are inline.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata, resources
from pathlib import Path
from string import Template

from deepprune.core.records import LEADERBOARD_BUDGET, read_row
from deepprune.datasets import DEFAULT_DATASET, shipped
from deepprune.errors import DataError, FormatError

__all__ = [
    "BOUND_STRATEGIES",
    "REFERENCE_FORMAT",
    "Cell",
    "Column",
    "Leaderboard",
    "Result",
    "Row",
    "Table",
    "build_leaderboard",
    "load_reference",
    "load_results",
    "pareto_front",
    "pareto_svg",
    "render_html",
    "render_markdown",
]

log = logging.getLogger(__name__)

REFERENCE_FORMAT = "deepprune/reference-leaderboard-v1"
"""The ``format`` tag of the shipped reference table (``data/reference_leaderboard.json``)."""

BOUND_STRATEGIES = frozenset({"oracle"})
"""Strategy names that are bounds computed with knowledge of the recorded answers, not systems
one could deploy: shown (marked "bound") but never marked best."""

UNKNOWN_MODEL = "unknown model"


# --------------------------------------------------------------------------------------------
# Input: bench JSON rows


@dataclass(frozen=True)
class Result:
    """One row of ``deepprune bench --json`` output (one strategy on one dataset), as the
    leaderboard sees it: validated by :func:`deepprune.core.records.read_row`, the same rules as
    :meth:`deepprune.core.records.BenchRow.from_dict`.

    Only ``dataset``, ``strategy``, ``accuracy`` and ``tokens`` are required; the rest default
    to "unknown" so that results from older or hand-written files still load.
    """

    dataset: str
    strategy: str
    accuracy: float | None
    """Fraction correct, 0..1 (None when the dataset has no gold answers)."""
    tokens: float
    """Generated tokens over all problems (mean over orderings)."""
    leaderboard_tokens_1e8: float | None = None
    """Tokens scaled to K = 512 traces per problem, in 1e8 (computed from ``tokens`` and
    ``traces_per_problem`` when absent)."""
    accuracy_std: float | None = None
    tokens_std: float | None = None
    tokens_per_problem: float | None = None
    reduction: float | None = None
    """1 - tokens / cons tokens on the same dataset."""
    problems: int | None = None
    traces_per_problem: float | None = None
    orderings: int | None = None
    judge_calls: float | None = None
    judge_tokens: float | None = None
    model: str | None = None
    token_count: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    errors: int | None = None
    command: str | None = None
    source: str = ""
    """The file this row came from, and its index there (for error messages)."""
    index: int = 0

    @property
    def name(self) -> str:
        """The strategy's registered name (``oracle`` for ``oracle:prefix=tokens:64``)."""
        return self.strategy.split(":", 1)[0].strip()

    @property
    def where(self) -> str:
        return f"{self.source}[{self.index}]"


def _result(rec: object, path: str, i: int) -> Result:
    v = read_row(rec, path=path, index=i)  # validates every field; DataError names file and field
    k, lb = v["traces_per_problem"], v["leaderboard_tokens_1e8"]
    if lb is None and k:
        lb = v["tokens"] * LEADERBOARD_BUDGET / k / 1e8
    return Result(
        dataset=v["dataset"], strategy=v["strategy"], accuracy=v["accuracy"], tokens=v["tokens"],
        leaderboard_tokens_1e8=lb, accuracy_std=v["accuracy_std"], tokens_std=v["tokens_std"],
        tokens_per_problem=v["tokens_per_problem"], reduction=v["reduction"], problems=v["problems"],
        traces_per_problem=k, orderings=v["orderings"], judge_calls=v["judge_calls"],
        judge_tokens=v["judge_tokens"], model=v["model"], token_count=v["token_count"],
        params=tuple(v["params"].items()), errors=v["errors"], command=v["command"], source=path, index=i,
    )


def load_results(paths: Iterable[str | Path]) -> list[Result]:
    """Read ``deepprune bench --json`` files (a JSON list of rows, or ``{"rows": [...]}``).

    Raises :class:`~deepprune.errors.DataError` naming the file and the field of the first
    malformed row.
    """
    out: list[Result] = []
    for p in paths:
        path = str(p)
        try:
            text = Path(p).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataError("file not found", path=path) from None
        except OSError as exc:
            raise DataError(f"cannot read: {exc.strerror or exc}", path=path) from None
        except UnicodeDecodeError:
            raise DataError("not a text file (not UTF-8); pass the JSON written by `deepprune bench ... --json "
                            "FILE`", path=path) from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON: {exc.msg} (write it with `deepprune bench ... --json FILE`)",
                            path=path, line=exc.lineno) from None
        except (ValueError, RecursionError) as exc:
            why = "JSON nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise DataError(f"not valid bench JSON: {why}", path=path) from None
        if isinstance(doc, Mapping) and isinstance(doc.get("rows"), list):
            doc = doc["rows"]
        if not isinstance(doc, list):
            raise FormatError(f"expected a JSON list of bench rows, got {type(doc).__name__}", path=path)
        if not doc:
            raise DataError("no rows: nothing to rank (write it with `deepprune bench ... --json FILE`)", path=path)
        for i, rec in enumerate(doc):
            na = rec.get("not_applicable") if isinstance(rec, Mapping) else None
            if na:
                # the strategy could not run on that dataset (e.g. DeepConf without logprobs):
                # it has no figures to rank; say so instead of dropping it silently
                log.warning("%s: row %d (%s on %s) is n/a and is left out: %s", path, i,
                            rec.get("strategy"), rec.get("dataset"), na)
                continue
            out.append(_result(rec, path, i))
    return out


# --------------------------------------------------------------------------------------------
# The table model


@dataclass(frozen=True)
class Column:
    """A column group: one model on one benchmark (with what is known about the data)."""

    model: str
    benchmark: str
    problems: int | None = None
    traces_per_problem: float | None = None
    orderings: tuple[int, ...] = ()
    token_count: str | None = None
    datasheet_name: str | None = None
    """The shipped dataset whose datasheet describes this benchmark, if any."""
    datasheet: str | None = None
    """The datasheet's Markdown text."""

    @property
    def label(self) -> str:
        return f"{self.model} · {self.benchmark}"


@dataclass(frozen=True)
class Cell:
    """One system on one column group."""

    tokens_1e8: float | None
    accuracy: float | None
    """0..1."""
    tokens_text: str = "—"
    accuracy_text: str = "—"
    tokens_std_1e8: float | None = None
    accuracy_std: float | None = None
    tokens: float | None = None
    tokens_per_problem: float | None = None
    reduction: float | None = None
    judge_calls: float | None = None
    judge_tokens: float | None = None
    orderings: int | None = None
    errors: int | None = None
    command: int | None = None
    """Index into :attr:`Leaderboard.commands`."""
    best_tokens: bool = False
    best_accuracy: bool = False


@dataclass(frozen=True)
class Row:
    """A system: one strategy (measured) or one published method (reported)."""

    label: str
    cells: tuple[Cell | None, ...]
    bound: bool = False
    citation: str | None = None
    """Key into :attr:`Table.citations` (reported rows)."""

    @property
    def commands(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(c.command for c in self.cells if c is not None and c.command is not None))


@dataclass(frozen=True)
class Table:
    """One table of the page: measured rows, or the rows reported in the papers."""

    kind: str
    """``"measured"`` or ``"reported"``."""
    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    citations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Leaderboard:
    measured: Table
    reference: Table | None
    commands: tuple[str, ...]
    """Distinct commands that produced the measured rows, in order of first use."""
    sources: tuple[str, ...]
    """The input files."""


def _fmt_tokens(x: float | None) -> str:
    if x is None:
        return "—"
    if x == 0:
        return "0"
    return f"{x:#.3g}".rstrip(".") if abs(x) >= 1e-4 else f"{x:.2e}"


def _fmt_acc(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _mark_best(rows: Sequence[Row], n_cols: int) -> tuple[Row, ...]:
    """Fewest tokens and highest accuracy per column, among non-bound rows (ties all marked)."""
    out = list(rows)
    for j in range(n_cols):
        cand = [(i, r.cells[j]) for i, r in enumerate(out) if not r.bound and r.cells[j] is not None]
        toks = [c.tokens_1e8 for _, c in cand if c is not None and c.tokens_1e8 is not None]
        accs = [c.accuracy for _, c in cand if c is not None and c.accuracy is not None]
        tmin = min(toks) if toks else None
        amax = max(accs) if accs else None
        for i, c in cand:
            assert c is not None
            bt = tmin is not None and c.tokens_1e8 is not None and math.isclose(c.tokens_1e8, tmin, rel_tol=1e-12)
            ba = amax is not None and c.accuracy is not None and math.isclose(c.accuracy, amax, rel_tol=1e-12)
            if bt or ba:
                cells = list(out[i].cells)
                cells[j] = replace(c, best_tokens=bt, best_accuracy=ba)
                out[i] = replace(out[i], cells=tuple(cells))
    return tuple(out)


def _datasheet(dataset: str) -> tuple[str | None, str | None]:
    name = DEFAULT_DATASET if dataset == "default" else dataset
    for ds in shipped():
        if ds.name == name and ds.datasheet is not None:
            try:
                return ds.name, ds.datasheet.read_text(encoding="utf-8")
            except OSError as exc:  # a broken installation: say so, keep going
                log.warning("cannot read datasheet %s: %s", ds.datasheet, exc)
    return None, None


def build_leaderboard(results: Sequence[Result], *, reference: bool = False,
                      models: Mapping[str, str] | None = None) -> Leaderboard:
    """Group results into the leaderboard: one row per strategy label, one column group per
    (model, dataset) in order of first appearance.

    ``models`` maps dataset names to a model name for rows whose ``model`` is null. A
    (model, dataset, strategy) given twice is an error naming both places.
    """
    models = models or {}
    col_keys: dict[tuple[str, str], list[Result]] = {}
    row_labels: dict[str, None] = {}
    seen: dict[tuple[str, str, str], Result] = {}
    commands: dict[str, int] = {}
    for r in results:
        model = r.model or models.get(r.dataset) or UNKNOWN_MODEL
        key = (model, r.dataset)
        prev = seen.get((model, r.dataset, r.strategy))
        if prev is not None:
            raise DataError(f"strategy {r.strategy!r} on {r.dataset!r} ({model}) also appears at {prev.where}; "
                            "pass each result once (remove one of the files or rows)",
                            path=r.source, field=f"[{r.index}]")
        seen[(model, r.dataset, r.strategy)] = r
        col_keys.setdefault(key, []).append(r)
        row_labels.setdefault(r.strategy, None)
        if r.command:
            commands.setdefault(r.command, len(commands))
    columns: list[Column] = []
    model_order = {m: i for i, m in enumerate(dict.fromkeys(m for m, _ in col_keys))}
    # columns of one model side by side (the model header spans them), else in input order
    for (model, dataset), rs in sorted(col_keys.items(), key=lambda kv: model_order[kv[0][0]]):
        sheet_name, sheet = _datasheet(dataset)
        ks = {r.traces_per_problem for r in rs if r.traces_per_problem is not None}
        ps = {r.problems for r in rs if r.problems is not None}
        tcs = {r.token_count for r in rs if r.token_count}
        if len(ps) > 1 or len(ks) > 1:
            log.warning("%s on %s: rows disagree on problems %s / traces per problem %s", model, dataset,
                        sorted(ps), sorted(ks))
        columns.append(Column(
            model=model, benchmark=dataset,
            problems=max(ps) if ps else None,
            traces_per_problem=max(ks) if ks else None,
            orderings=tuple(sorted({r.orderings for r in rs if r.orderings is not None})),
            token_count=", ".join(sorted(tcs)) or None,
            datasheet_name=sheet_name, datasheet=sheet,
        ))
    rows: list[Row] = []
    for label in row_labels:
        cells: list[Cell | None] = []
        bound = False
        for col in columns:
            res = seen.get((col.model, col.benchmark, label))
            if res is None:
                cells.append(None)
                continue
            bound = bound or res.name in BOUND_STRATEGIES
            k = res.traces_per_problem
            std_1e8 = (res.tokens_std * LEADERBOARD_BUDGET / k / 1e8) if (res.tokens_std is not None and k) else None
            cells.append(Cell(
                tokens_1e8=res.leaderboard_tokens_1e8, accuracy=res.accuracy,
                tokens_text=_fmt_tokens(res.leaderboard_tokens_1e8), accuracy_text=_fmt_acc(res.accuracy),
                tokens_std_1e8=std_1e8, accuracy_std=res.accuracy_std, tokens=res.tokens,
                tokens_per_problem=res.tokens_per_problem, reduction=res.reduction, judge_calls=res.judge_calls,
                judge_tokens=res.judge_tokens, orderings=res.orderings, errors=res.errors,
                command=commands.get(res.command) if res.command else None,
            ))
        rows.append(Row(label=label, cells=tuple(cells), bound=bound))
    measured = Table(kind="measured", title="Measured with deepprune", columns=tuple(columns),
                     rows=_mark_best(rows, len(columns)))
    return Leaderboard(measured=measured, reference=load_reference() if reference else None,
                       commands=tuple(commands), sources=tuple(dict.fromkeys(r.source for r in results)))


def _ref_tokens_text(x: float) -> str:
    # As printed in the paper: two decimals below 10, one above.
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def load_reference(path: str | Path | None = None) -> Table:
    """The published leaderboard rows (default: the cited file shipped with the package)."""
    p = Path(path) if path is not None else Path(str(resources.files("deepprune") / "data" /
                                                      "reference_leaderboard.json"))
    where = str(p)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read the reference leaderboard: {exc}", path=where) from None
    if not isinstance(doc, Mapping) or doc.get("format") != REFERENCE_FORMAT:
        raise FormatError(f"expected format {REFERENCE_FORMAT!r}", path=where, field="format")
    try:
        columns = tuple(Column(model=str(c["model"]), benchmark=str(c["benchmark"])) for c in doc["columns"])
        citations = {str(k): {str(a): str(b) for a, b in v.items()} for k, v in doc["citations"].items()}
        rows = []
        for i, r in enumerate(doc["rows"]):
            if len(r["cells"]) != len(columns):
                raise DataError(f"{len(r['cells'])} cells for {len(columns)} columns", path=where,
                                field=f"rows[{i}].cells")
            if r["citation"] not in citations:
                raise DataError(f"unknown citation {r['citation']!r}", path=where, field=f"rows[{i}].citation")
            cells: list[Cell | None] = []
            for c in r["cells"]:
                if c is None:
                    cells.append(None)
                    continue
                tok, acc = float(c[0]), float(c[1]) / 100
                cells.append(Cell(tokens_1e8=tok, accuracy=acc, tokens_text=_ref_tokens_text(tok),
                                  accuracy_text=_fmt_acc(acc)))
            rows.append(Row(label=str(r["method"]), cells=tuple(cells), citation=str(r["citation"])))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"malformed reference leaderboard: {exc!r}", path=where) from None
    return Table(kind="reported", title=str(doc.get("title", "Reported in paper")), columns=columns,
                 rows=_mark_best(rows, len(columns)), citations=citations,
                 notes=tuple(str(n) for n in doc.get("notes", ())))


# --------------------------------------------------------------------------------------------
# Pareto chart (inline SVG)


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

FOOTNOTES = (
    ("tokens", "What counts as a token",
     "every generated token of every trace up to the point it stopped: warm-up traces, pruned prefixes and "
     "terminated traces included. Prompt tokens are not counted. Judge calls and judge input tokens are "
     "reported separately (under the tokens, when a strategy uses a judge), never folded in or hidden. "
     "Each column says how tokens were counted (a tokenizer, or a documented approximation)."),
    ("unit", f"Tokens in 1e8 @ {LEADERBOARD_BUDGET}",
     f"the published leaderboard's unit: generated tokens summed over all problems of the benchmark, "
     f"scaled to K = {LEADERBOARD_BUDGET} traces per problem (tokens x {LEADERBOARD_BUDGET} / K / 1e8, "
     "K = traces recorded per problem), in units of 1e8. It is not normalised for the number of problems "
     "or trace length: compare rows within a column, not across columns."),
    ("cons", f"cons@{LEADERBOARD_BUDGET}",
     f"self-consistency: all K traces finish and their final answers are majority-voted (answers grouped "
     f"by mathematical equivalence). The published baseline uses K = {LEADERBOARD_BUDGET}; the measured "
     "`cons` row is cons@K on the K recorded traces, the reference every reduction is measured against."),
    ("orderings", "Orderings and spread",
     "replayed results depend on the order in which traces arrive. Each measured figure is the mean over "
     "seeded orderings (ordering r uses seed + r); ± is the population standard deviation across orderings "
     "(shown when more than one ordering was run)."),
    ("best", "Marks",
     "bold: fewest tokens in the column; underlined: highest accuracy in the column, among the rows of the "
     "same table that are real systems. Rows marked bound (oracle: knows the recorded final answers) show "
     "what a perfect pruner could reach on the same traces; they are never marked best."),
    ("reported", "Reported in paper",
     "rows copied from the publications cited, not measured by deepprune; their token accounting is not "
     "fully specified and may differ. They form their own table and are never mixed with measured rows."),
)


def _tooltip(row: Row, col: Column, c: Cell, commands: Sequence[str]) -> str:
    bits = [f"{row.label} on {col.label}"]
    if c.tokens is not None:
        bits.append(f"{c.tokens:,.0f} generated tokens in total")
    if c.tokens_per_problem is not None:
        bits.append(f"{c.tokens_per_problem:,.1f} per problem")
    if c.reduction is not None:
        bits.append(f"{-100 * c.reduction + 0.0:+.1f}% tokens vs cons")
    if c.judge_calls:
        bits.append(f"{c.judge_calls:,.0f} judge calls, {c.judge_tokens or 0:,.0f} judge tokens")
    if c.orderings:
        bits.append(f"{c.orderings} ordering(s)")
    if c.errors:
        bits.append(f"{c.errors} problem(s) failed")
    if c.command is not None:
        bits.append(f"command [{c.command + 1}]: {commands[c.command]}")
    return "\n".join(bits)


def _pm(x: float | None, fmt: str) -> str:
    return "" if not x else f'<span class="pm">±{format(x, fmt)}</span>'


def _html_table(table: Table, tid: str, commands: Sequence[str]) -> str:
    esc = html.escape
    cols = table.columns
    models: list[tuple[str, int]] = []
    for col in cols:
        if models and models[-1][0] == col.model:
            models[-1] = (col.model, models[-1][1] + 1)
        else:
            models.append((col.model, 1))
    out = [f'<div class="scroll" role="region" aria-labelledby="{tid}-cap" tabindex="0">',
           f'<table class="lb {table.kind}" id="{tid}" data-status="{tid}-status">',
           f'<caption id="{tid}-cap">{esc(table.title)}</caption>', "<thead>"]
    out.append('<tr><td class="corner" rowspan="2"></td>' + "".join(
        f'<th scope="colgroup" colspan="{2 * n}" class="model">{esc(m)}</th>' for m, n in models) + "</tr>")
    out.append("<tr>" + "".join(
        f'<th scope="colgroup" colspan="2" class="bench" title="{esc(_col_title(c))}">{esc(c.benchmark)}'
        f"{_col_sub(c)}</th>" for c in cols) + "</tr>")
    sub = ['<th scope="col" class="sys-h"><button type="button" data-col="0" data-type="text" '
           'data-first="ascending" data-label="system">system<span class="arrow" aria-hidden="true"></span>'
           "</button></th>"]
    for j, column in enumerate(cols):
        for k, (name, first) in enumerate((("tokens", "ascending"), ("accuracy", "descending"))):
            label = f"{column.label} {name}"
            sub.append(f'<th scope="col" class="{name[:3]}-h"><button type="button" data-col="{1 + 2 * j + k}" '
                       f'data-type="num" data-first="{first}" data-label="{esc(label)}" '
                       f'aria-label="sort by {esc(label)}">{"tokens" if k == 0 else "acc."}'
                       '<span class="arrow" aria-hidden="true"></span></button></th>')
    out.append("<tr>" + "".join(sub) + "</tr></thead><tbody>")
    for i, row in enumerate(table.rows):
        tags = ""
        if row.bound:
            tags += ' <span class="tag" title="a bound, not a deployable system">bound</span>'
        if row.citation:
            cit = table.citations.get(row.citation, {})
            tags += (f' <a class="cite" href="#{tid}-cite-{esc(row.citation)}" '
                     f'title="{esc(cit.get("title", ""))}">[{esc(row.citation)}]</a>')
        refs = "".join(f' <a class="cmdref" href="#cmd-{a + 1}" title="{esc(_refs_title(commands, a, b))}">'
                       f"<sup>[{a + 1 if a == b else f'{a + 1}–{b + 1}'}]</sup></a>"
                       for a, b in _runs(row.commands))
        out.append(f'<tr data-i="{i}" class="{"bound" if row.bound else ""}"><th scope="row" data-v="{esc(row.label)}">'
                   f"<code>{esc(row.label)}</code>{tags}{refs}</th>")
        for col, c in zip(cols, row.cells, strict=True):
            if c is None:
                out.append('<td class="na tok">—</td><td class="na acc">—</td>')
                continue
            tip = esc(_tooltip(row, col, c, commands))
            tv = "" if c.tokens_1e8 is None else f"{c.tokens_1e8!r}"
            av = "" if c.accuracy is None else f"{c.accuracy!r}"
            tok = esc(c.tokens_text)
            if c.best_tokens:
                tok = f'<strong class="best">{tok}</strong><span class="sr"> (fewest tokens)</span>'
            acc = esc(c.accuracy_text)
            if c.best_accuracy:
                acc = f'<u class="best">{acc}</u><span class="sr"> (highest accuracy)</span>'
            extra = _pm(c.tokens_std_1e8, "#.2g")
            if c.reduction is not None and abs(c.reduction) > 1e-12:
                extra += f'<span class="vs">{-100 * c.reduction:+.1f}% vs cons</span>'
            if c.judge_calls:
                extra += f'<span class="judge">+{c.judge_calls:,.0f} judge calls</span>'
            if c.errors:
                extra += f'<span class="judge">{c.errors} problem(s) failed</span>'
            out.append(f'<td class="tok" data-v="{tv}" title="{tip}">{tok}{extra}</td>'
                       f'<td class="acc" data-v="{av}" title="{tip}">{acc}'
                       f'{_pm(None if c.accuracy_std is None else 100 * c.accuracy_std, ".1f")}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    out.append(f'<p class="status" id="{tid}-status" role="status" aria-live="polite"></p>')
    return "\n".join(out)


def _runs(ns: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive numbers as (first, last) runs: [0, 1, 2, 5] -> [(0, 2), (5, 5)]."""
    out: list[tuple[int, int]] = []
    for n in sorted(set(ns)):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def _refs_title(commands: Sequence[str], a: int, b: int) -> str:
    return commands[a] if a == b else f"commands {a + 1} to {b + 1} (see Commands and datasets)"


def _col_title(c: Column) -> str:
    bits = [c.label]
    if c.problems is not None:
        bits.append(f"{c.problems} problems")
    if c.traces_per_problem is not None:
        bits.append(f"K = {c.traces_per_problem:g} traces per problem")
    if c.token_count:
        bits.append(f"tokens counted as {c.token_count}")
    return ", ".join(bits)


def _col_sub(c: Column) -> str:
    bits = []
    if c.problems is not None:
        bits.append(f"{c.problems} problems")
    if c.traces_per_problem is not None:
        bits.append(f"K={c.traces_per_problem:g}")
    return f'<span class="sub">{html.escape(" · ".join(bits))}</span>' if bits else ""


def _charts(table: Table, tid: str) -> str:
    figs = []
    for j, col in enumerate(table.columns):
        figs.append(f'<figure class="chart" id="{tid}-chart-{j}">{pareto_svg(table, j)}'
                    f"<figcaption>{html.escape(col.label)}</figcaption></figure>")
    return '<div class="charts">' + "".join(figs) + "</div>"


def _provenance(board: Leaderboard) -> str:
    esc = html.escape
    out = ['<section id="provenance"><h2>Commands and datasets</h2>']
    if board.commands:
        out.append("<ol class=\"commands\">")
        for n, cmd in enumerate(board.commands):
            users = [r.label for r in board.measured.rows if n in r.commands]
            out.append(f'<li id="cmd-{n + 1}"><pre><code>{esc(cmd)}</code></pre>'
                       f'<span class="users">rows: {esc(", ".join(users))}</span></li>')
        out.append("</ol>")
    else:
        out.append("<p>The input rows carry no command.</p>")
    out.append('<dl class="datasets">')
    for col in board.measured.columns:
        out.append(f"<dt>{esc(col.label)}</dt><dd>{esc(_col_title(col))}"
                   + (f"; orderings: {', '.join(map(str, col.orderings))}" if col.orderings else ""))
        if col.datasheet is not None:
            out.append(f'<details><summary>datasheet ({esc(col.datasheet_name or "")}.md, shipped with '
                       f'deepprune)</summary><pre class="sheet">{esc(col.datasheet)}</pre></details>')
        else:
            out.append(' <span class="muted">(no datasheet shipped for this dataset)</span>')
        out.append("</dd>")
    out.append("</dl>")
    if board.sources:
        out.append("<p class=\"muted\">Input files: " + ", ".join(f"<code>{esc(s)}</code>" for s in board.sources)
                   + "</p>")
    out.append("</section>")
    return "\n".join(out)


def _citations(table: Table, tid: str) -> str:
    esc = html.escape
    items = "".join(
        f'<li id="{tid}-cite-{esc(k)}">[{esc(k)}] {esc(v.get("title", ""))}, arXiv '
        f'<a href="{esc(v.get("url", ""))}">{esc(v.get("arxiv", ""))}</a></li>' for k, v in table.citations.items())
    notes = "".join(f"<li>{esc(n)}</li>" for n in table.notes)
    return f'<ul class="cites">{items}</ul>' + (f'<ul class="notes">{notes}</ul>' if notes else "")


def _version() -> str:
    try:
        return metadata.version("deepprune")
    except metadata.PackageNotFoundError:
        return "unknown"


def _template() -> Template:
    text = (resources.files("deepprune") / "data" / "leaderboard_template.html").read_text(encoding="utf-8")
    return Template(text)


def render_html(board: Leaderboard, *, title: str = "deepprune leaderboard") -> str:
    """The whole page: one self-contained HTML document (no external resources)."""
    esc = html.escape
    body = ['<section id="measured"><h2>Measured <span class="muted">(deepprune bench, replayed traces)</span></h2>',
            '<div class="board"><div class="tablebox">', _html_table(board.measured, "measured", board.commands),
            '</div><div class="chartbox"><h3>Accuracy vs tokens</h3>', _charts(board.measured, "measured"),
            "</div></div></section>"]
    if board.reference is not None:
        body += ['<section id="reported" class="reported"><h2>Reported in paper '
                 '<span class="muted">(not measured here)</span></h2>',
                 _html_table(board.reference, "reported", ()), _citations(board.reference, "reported"),
                 "<h3>Accuracy vs tokens, as reported</h3>", _charts(board.reference, "reported"), "</section>"]
    notes = "".join(f'<li id="fn-{k}"><strong>{esc(h)}:</strong> {esc(t)}</li>' for k, h, t in FOOTNOTES
                    if k != "reported" or board.reference is not None)
    body += [f'<section id="footnotes"><h2>How to read this</h2><ol class="footnotes">{notes}</ol></section>',
             _provenance(board)]
    return _template().substitute(title=esc(title), body="\n".join(body), version=esc(_version()))


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
    for row in table.rows:
        label = _md_code(row.label, in_table=True) if table.kind == "measured" else _md_cell(row.label)
        if row.bound:
            label += " (bound)"
        if row.citation:
            label += f" [{row.citation}]"
        if refs:
            label += "".join(f" <sup>[{a + 1 if a == b else f'{a + 1}–{b + 1}'}]</sup>" for a, b in _runs(row.commands))
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
            s = f"{tok} {acc}"
            if c.judge_calls:
                s += f" +{c.judge_calls:,.0f} judge calls"
            if c.errors:
                s += f" ({c.errors} failed)"
            cells.append(s.replace("|", "\\|"))  # numbers and our own markup only
        out.append("| " + " | ".join(cells) + " |")
    return out


def render_markdown(board: Leaderboard) -> str:
    """The same tables as Markdown (GitHub flavour: ``<u>`` and ``<sup>`` render)."""
    out = ["### Measured with deepprune", "",
           f"Each cell: tokens in 1e8 at K = {LEADERBOARD_BUDGET} traces, accuracy. **Bold**: fewest tokens; "
           "<u>underlined</u>: highest accuracy (bounds excluded). ± is the spread over orderings.", ""]
    out += _md_table(board.measured, board.commands, refs=True)
    out.append("")
    for col in board.measured.columns:
        out.append(f"- {_md_cell(_col_title(col))}" +
                   (f"; datasheet: `{col.datasheet_name}.md`" if col.datasheet_name else ""))
    if board.commands:
        out += ["", "Commands:", ""]
        out += [f"{n + 1}. {_md_code(cmd)}" for n, cmd in enumerate(board.commands)]
    if board.reference is not None:
        ref = board.reference
        out += ["", "### Reported in paper (not measured here)", ""]
        out += _md_table(ref, (), refs=False)
        out.append("")
        out += [f"- [{k}] {v.get('title', '')}, arXiv [{v.get('arxiv', '')}]({v.get('url', '')})"
                for k, v in ref.citations.items()]
        out += [f"- {n}" for n in ref.notes]
    out += ["", "Notes:", ""]
    out += [f"- **{h}:** {t}" for k, h, t in FOOTNOTES if k != "reported" or board.reference is not None]
    return "\n".join(out) + "\n"
