"""The leaderboard: ``deepprune bench --json`` results -> one self-contained HTML page and Markdown.

Rows are systems (a strategy as written on the command line, e.g. ``oracle:prefix=tokens:64``);
column groups are model x benchmark; each cell holds tokens in the published leaderboard's unit
(1e8 generated tokens at K = 512 traces per problem), accuracy and latency against cons@K (replay's
decode steps until the decision, over cons@K's; "—" where unknown). Within a column the fewest
tokens are bold and the highest accuracy underlined, among rows that are real systems (bounds
such as ``oracle`` are shown but never marked best).

The published rows (:func:`load_reference`, a cited data file shipped with the package) form a
separate table, "reported in paper"; they are never mixed with measured rows.

Typical use::

    results = load_results(["bench.json"])
    board = build_leaderboard(results, reference=True)
    Path("leaderboard.html").write_text(render_html(board))
    Path("leaderboard.md").write_text(render_markdown(board))

This module reads the results and builds the tables; the other modules of
:mod:`deepprune.report.leaderboard` render them (the page by Jinja2 templates with autoescape, the
inline SVG charts, Markdown). The page needs no network: CSS, JavaScript (sorting) and the SVG
charts are inline.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path

from deepprune.core.errors import DataError, FormatError
from deepprune.core.records import LEADERBOARD_BUDGET, read_row
from deepprune.formats.datasets import DEFAULT_DATASET, shipped

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
    leaderboard sees it: the :class:`~deepprune.core.records.BenchRow` fields it shows, read by
    :func:`deepprune.core.records.read_row` (the validation of
    :meth:`~deepprune.core.records.BenchRow.from_dict`) and taken over as they are, by name.

    Only ``dataset``, ``strategy``, ``accuracy`` and ``tokens`` are required; the rest default
    to "unknown" (None) so that results from older or hand-written files still load; a field
    added here must be a bench-row field of the same name (``tests/test_leaderboard.py`` checks).
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
    family: str | None = None
    """``vote``, ``stop-early`` or ``prune`` (:data:`deepprune.core.protocol.FAMILIES`); None in rows
    written before bench recorded it (shown as "—": run bench again to fill it in)."""
    paper: str | None = None
    """The method the strategy implements (a short citation), likewise."""
    steps_per_problem: float | None = None
    """Replay: mean decode steps per problem until the decision (None: live, or a row written
    before bench recorded it)."""
    latency: float | None = None
    """``steps_per_problem`` over cons@K's on the same dataset (1.0: as long as cons@K); None
    where unknown (live rows, no cons run, rows written before bench recorded it)."""
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
    # the row's own fields as read_row gave them (the BenchRow fields the leaderboard shows)
    own = {name: v[name] for name in _ROW_FIELDS}
    return Result(**own, leaderboard_tokens_1e8=lb, params=tuple(v["params"].items()), source=path, index=i)


_ROW_FIELDS = tuple(f.name for f in fields(Result) if f.name not in ("leaderboard_tokens_1e8", "params", "source",
                                                                       "index"))
"""The fields of :class:`Result` taken from the bench row as they are (all bench-row fields)."""


def load_results(paths: Iterable[str | Path]) -> list[Result]:
    """Read ``deepprune bench --json`` files (a JSON list of rows, or ``{"rows": [...]}``).

    Raises :class:`~deepprune.core.errors.DataError` naming the file and the field of the first
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
    latency: float | None = None
    """Mean decode steps until the decision over cons@K's on the same data (replay's lock-step
    clock; None: unknown, e.g. live rows and the rows reported in papers)."""
    latency_text: str = "—"
    steps_per_problem: float | None = None


@dataclass(frozen=True)
class Row:
    """A system: one strategy (measured) or one published method (reported)."""

    label: str
    cells: tuple[Cell | None, ...]
    bound: bool = False
    citation: str | None = None
    """Key into :attr:`Table.citations` (reported rows)."""
    family: str | None = None
    """How it saves tokens: ``vote``, ``stop-early`` or ``prune`` (None: unknown)."""
    paper: str | None = None
    """The method it implements, a short citation (None: none or unknown)."""

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

    @property
    def has_latency(self) -> bool:
        """Whether any cell knows its latency (the papers' table never does: no column then)."""
        return any(c is not None and c.latency is not None for row in self.rows for c in row.cells)


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


def _fmt_latency(x: float | None) -> str:
    """As the bench table writes it: ``x1.06`` (— when unknown)."""
    return "—" if x is None else f"x{x:.2f}"


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
        family = paper = None
        for col in columns:
            res = seen.get((col.model, col.benchmark, label))
            if res is None:
                cells.append(None)
                continue
            bound = bound or res.name in BOUND_STRATEGIES
            family, paper = family or res.family, paper or res.paper
            k = res.traces_per_problem
            std_1e8 = (res.tokens_std * LEADERBOARD_BUDGET / k / 1e8) if (res.tokens_std is not None and k) else None
            cells.append(Cell(
                tokens_1e8=res.leaderboard_tokens_1e8, accuracy=res.accuracy,
                tokens_text=_fmt_tokens(res.leaderboard_tokens_1e8), accuracy_text=_fmt_acc(res.accuracy),
                tokens_std_1e8=std_1e8, accuracy_std=res.accuracy_std, tokens=res.tokens,
                tokens_per_problem=res.tokens_per_problem, reduction=res.reduction, judge_calls=res.judge_calls,
                judge_tokens=res.judge_tokens, orderings=res.orderings, errors=res.errors,
                command=commands.get(res.command) if res.command else None,
                latency=res.latency, latency_text=_fmt_latency(res.latency),
                steps_per_problem=res.steps_per_problem,
            ))
        rows.append(Row(label=label, cells=tuple(cells), bound=bound, family=family, paper=paper))
    measured = Table(kind="measured", title="Measured with deepprune", columns=tuple(columns),
                     rows=_mark_best(rows, len(columns)))
    return Leaderboard(measured=measured, reference=load_reference() if reference else None,
                       commands=tuple(commands), sources=tuple(dict.fromkeys(r.source for r in results)))


def _ref_tokens_text(x: float) -> str:
    # As printed in the paper: two decimals below 10, one above.
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def _opt_str(v: object) -> str | None:
    return None if v is None else str(v)


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
            rows.append(Row(label=str(r["method"]), cells=tuple(cells), citation=str(r["citation"]),
                            family=_opt_str(r.get("family")), paper=_opt_str(r.get("paper"))))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"malformed reference leaderboard: {exc!r}", path=where) from None
    return Table(kind="reported", title=str(doc.get("title", "Reported in paper")), columns=columns,
                 rows=_mark_best(rows, len(columns)), citations=citations,
                 notes=tuple(str(n) for n in doc.get("notes", ())))
