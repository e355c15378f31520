from __future__ import annotations

import json
import re
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from deepprune.cli import main
from deepprune.core.errors import DataError, FormatError
from deepprune.core.records import BenchRow
from deepprune.core.types import TraceSet
from deepprune.engine.bench import bench
from deepprune.formats.datasets import ShippedDataset
from deepprune.formats.loaders import load_traces
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.report import leaderboard as lb
from deepprune.report.leaderboard import board as board_module
from deepprune.report.leaderboard.common import runs as _runs
from deepprune.report.leaderboard.markdown import _md_table

ALGORITHMS = Path(__file__).resolve().parents[2] / "shared" / "docs" / "ALGORITHMS.md"


def row(strategy: str, dataset: str = "ds1", *, accuracy: float | None = 0.9, tokens: float = 1000.0,
        k: float = 8, model: str | None = "m1", **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "dataset": dataset, "strategy": strategy, "accuracy": accuracy, "accuracy_std": 0.0, "tokens": tokens,
        "tokens_std": 0.0, "tokens_per_problem": tokens / 10, "reduction": None, "problems": 10,
        "traces_per_problem": k, "orderings": 1, "judge_calls": 0.0, "judge_tokens": 0.0,
        "traces_finished": 80.0, "traces_stopped": 0.0,
        "leaderboard_tokens_1e8": tokens * 512 / k / 1e8, "model": model, "token_count": "approx:regex-v1",
        "params": {}, "errors": 0, "command": f"deepprune bench {dataset} -s {strategy}",
    }
    d.update(extra)
    return d


def write(tmp_path: Path, rows: Any, name: str = "r.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(rows), encoding="utf-8")
    return p


# --- input ----------------------------------------------------------------------------------


def test_load_results_reads_bench_rows(tmp_path: Path) -> None:
    p = write(tmp_path, [row("cons"), row("oracle:prefix=tokens:64", tokens=300.0, params={"prefix": "tokens:64"})])
    rs = lb.load_results([p])
    assert [r.strategy for r in rs] == ["cons", "oracle:prefix=tokens:64"]
    assert rs[1].name == "oracle"
    assert rs[1].params == (("prefix", "tokens:64"),)
    assert rs[0].leaderboard_tokens_1e8 == pytest.approx(1000 * 512 / 8 / 1e8)
    assert rs[0].source == str(p) and rs[1].index == 1


def test_load_results_accepts_minimal_rows_and_computes_the_unit(tmp_path: Path) -> None:
    p = write(tmp_path, {"rows": [{"dataset": "d", "strategy": "cons", "accuracy": 0.5, "tokens": 2000,
                                   "traces_per_problem": 4}]})
    (r,) = lb.load_results([p])
    assert r.model is None and r.command is None and r.orderings is None
    assert r.leaderboard_tokens_1e8 == pytest.approx(2000 * 512 / 4 / 1e8)


def test_nan_accuracy_is_missing(tmp_path: Path) -> None:
    p = tmp_path / "nan.json"
    p.write_text('[{"dataset": "d", "strategy": "cons", "accuracy": NaN, "tokens": 5}]', encoding="utf-8")
    (r,) = lb.load_results([p])
    assert r.accuracy is None


@pytest.mark.parametrize(("rows", "field", "words"), [
    ([row("cons"), {k: v for k, v in row("oracle").items() if k != "accuracy"}], "[1].accuracy", "missing"),
    ([row("cons", accuracy=94.0)], "[0].accuracy", "[0, 1]"),
    ([row("cons") | {"tokens": "many"}], "[0].tokens", "expected a number"),
    ([row("cons") | {"tokens": -1}], "[0].tokens", "non-negative"),
    ([{k: v for k, v in row("cons").items() if k != "strategy"}], "[0].strategy", "missing"),
    ([row("cons", model=3)], "[0].model", "expected a string"),
    ([row("cons", params=["a"])], "[0].params", "expected an object"),
    ([row("cons", problems=2.5)], "[0].problems", "whole number"),
    ([row("cons", latency=-0.5)], "[0].latency", ">= 0"),
    ([row("cons", latency="fast")], "[0].latency", "expected a number"),
    (["cons"], "[0]", "JSON object"),
])
def test_malformed_rows_name_file_and_field(tmp_path: Path, rows: Any, field: str, words: str) -> None:
    p = write(tmp_path, rows)
    with pytest.raises(DataError) as ei:
        lb.load_results([p])
    assert ei.value.path == str(p)
    assert ei.value.field == field
    assert words in str(ei.value) and str(p) in str(ei.value)


def test_latency_is_read_and_old_rows_without_it_still_load(tmp_path: Path) -> None:
    new = row("esc", latency=1.234, steps_per_problem=61.7)
    old = row("cons")  # written before bench recorded latency: neither key
    assert "latency" not in old and "steps_per_problem" not in old
    live = row("deepprune", latency=None, steps_per_problem=None)  # live rows write null
    minimal = {"dataset": "ds2", "strategy": "cons", "accuracy": 0.5, "tokens": 10}
    rs = lb.load_results([write(tmp_path, [new, old, live, minimal])])
    assert (rs[0].latency, rs[0].steps_per_problem) == (1.234, 61.7)
    assert all(r.latency is None and r.steps_per_problem is None for r in rs[1:])
    t = lb.build_leaderboard(rs).measured
    by = {r.label: r.cells[0] for r in t.rows}
    esc, cons, live_cell = by["esc"], by["cons"], by["deepprune"]
    assert esc is not None and cons is not None and live_cell is not None
    assert (esc.latency, esc.latency_text, esc.steps_per_problem) == (1.234, "x1.23", 61.7)
    assert (cons.latency, cons.latency_text) == (None, "—") and live_cell.latency_text == "—"


def test_the_reference_table_has_no_latency() -> None:
    ref = lb.load_reference()
    cells = [c for r in ref.rows for c in r.cells if c is not None]
    assert cells and all(c.latency is None and c.latency_text == "—" for c in cells)


def test_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[\n{"dataset": }', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.json:2.*not valid JSON"):
        lb.load_results([bad])
    with pytest.raises(FormatError, match="expected a JSON list"):
        lb.load_results([write(tmp_path, {"x": 1})])
    with pytest.raises(DataError, match="file not found"):
        lb.load_results([tmp_path / "absent.json"])


# --- the table ------------------------------------------------------------------------------


def board_rows() -> list[dict[str, Any]]:
    return [
        row("cons", "ds1", accuracy=0.90, tokens=1e6),
        row("esc", "ds1", accuracy=0.90, tokens=4e5),
        row("oracle", "ds1", accuracy=0.95, tokens=1e5),
        row("deepprune:tau=0.5", "ds1", accuracy=0.80, tokens=3e5),
        row("cons", "ds2", accuracy=0.50, tokens=5e6, model=None),
        row("deepprune:tau=0.5", "ds2", accuracy=0.60, tokens=9e5, model=None),
    ]


def test_build_groups_rows_and_columns(tmp_path: Path) -> None:
    board = lb.build_leaderboard(lb.load_results([write(tmp_path, board_rows())]))
    t = board.measured
    assert [(c.model, c.benchmark) for c in t.columns] == [("m1", "ds1"), (lb.UNKNOWN_MODEL, "ds2")]
    assert [r.label for r in t.rows] == ["cons", "esc", "oracle", "deepprune:tau=0.5"]
    by = {r.label: r for r in t.rows}
    assert by["esc"].cells[1] is None
    assert by["oracle"].bound and not by["cons"].bound
    assert board.reference is None
    assert len(board.commands) == 6


def test_best_marks_skip_bounds_and_mark_ties(tmp_path: Path) -> None:
    t = lb.build_leaderboard(lb.load_results([write(tmp_path, board_rows())])).measured
    by = {r.label: r for r in t.rows}

    def marks(label: str, j: int) -> tuple[bool, bool]:
        c = by[label].cells[j]
        assert c is not None
        return c.best_tokens, c.best_accuracy

    assert marks("oracle", 0) == (False, False)  # fewest tokens and best accuracy, but a bound
    assert marks("deepprune:tau=0.5", 0) == (True, False)
    assert marks("cons", 0) == (False, True) and marks("esc", 0) == (False, True)  # a tie: both underlined
    assert marks("deepprune:tau=0.5", 1) == (True, True)
    assert marks("cons", 1) == (False, False)


def test_models_option_fills_missing_model(tmp_path: Path) -> None:
    rs = lb.load_results([write(tmp_path, board_rows())])
    t = lb.build_leaderboard(rs, models={"ds2": "Qwen-X"}).measured
    assert t.columns[1].label == "Qwen-X · ds2"


def test_duplicate_results_are_an_error(tmp_path: Path) -> None:
    a = write(tmp_path, [row("cons")], "a.json")
    b = write(tmp_path, [row("esc"), row("cons")], "b.json")
    with pytest.raises(DataError, match=r"b\.json.*\[1\].*also appears at .*a\.json\[0\]"):
        lb.build_leaderboard(lb.load_results([a, b]))


def test_datasheet_of_a_shipped_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sheet = tmp_path / "ds1.md"
    sheet.write_text("# ds1\nCollected <carefully> & documented.\n", encoding="utf-8")
    monkeypatch.setattr(board_module, "shipped", lambda: [ShippedDataset("ds1", tmp_path / "ds1.jsonl.gz", sheet)])
    board = lb.build_leaderboard(lb.load_results([write(tmp_path, board_rows())]))
    assert board.measured.columns[0].datasheet_name == "ds1"
    assert board.measured.columns[1].datasheet is None
    page = lb.render_html(board)
    assert "Collected &lt;carefully&gt; &amp; documented." in page
    assert "datasheet: `ds1.md`" in lb.render_markdown(board)


# --- the reference table ----------------------------------------------------------------------


def test_reference_table_is_cited_and_complete() -> None:
    ref = lb.load_reference()
    assert ref.kind == "reported"
    assert {c["arxiv"] for c in ref.citations.values()} == {"2510.08483", "2508.15260"}
    assert len(ref.columns) == 9 and len(ref.rows) == 5
    assert all(r.citation in ref.citations for r in ref.rows)
    by = {r.label: r for r in ref.rows}
    c = by["DeepConf-low"].cells[0]
    assert c is not None and c.tokens_1e8 == 0.78 and c.accuracy == pytest.approx(0.925)
    assert by["cons@512 (Meta)"].cells[8] is None


def test_reference_matches_the_published_table_in_the_docs() -> None:
    if not ALGORITHMS.exists():
        pytest.skip(f"{ALGORITHMS} not found (the ../shared checkout is absent)")
    sec = ALGORITHMS.read_text(encoding="utf-8").split("## The published leaderboard")[1].split("\n## ")[0]
    lines = [ln for ln in sec.splitlines() if ln.startswith("|")][2:]
    ref = lb.load_reference()
    assert [ln.strip("|").split("|")[0].strip() for ln in lines] == [r.label for r in ref.rows]
    for ln, r in zip(lines, ref.rows, strict=True):
        cells = [c.strip() for c in ln.strip("|").split("|")[1:]]
        ours = ["-" if c is None else f"{c.tokens_text} {c.accuracy_text}" for c in r.cells]
        assert ours == cells


def test_reference_file_errors(tmp_path: Path) -> None:
    p = write(tmp_path, {"format": "other"})
    with pytest.raises(FormatError, match="format"):
        lb.load_reference(p)
    good = json.loads(Path(str(resources.files("deepprune") / "data" / "reference_leaderboard.json"))
                      .read_text(encoding="utf-8"))
    good["rows"][0]["cells"].pop()
    with pytest.raises(DataError, match=r"rows\[0\]\.cells.*8 cells for 9 columns"):
        lb.load_reference(write(tmp_path, good, "short.json"))


# --- rendering ------------------------------------------------------------------------------


def test_pareto_front() -> None:
    assert lb.pareto_front([(1.0, 0.5), (2.0, 0.9), (3.0, 0.8), (0.5, 0.5)]) == [3, 1]
    assert lb.pareto_front([]) == []
    assert lb.pareto_front([(1.0, 0.5), (1.0, 0.7)]) == [1]


def test_html_is_self_contained_and_keeps_tables_apart(tmp_path: Path) -> None:
    board = lb.build_leaderboard(lb.load_results([write(tmp_path, board_rows())]), reference=True)
    page = lb.render_html(board, title="T <&>")
    assert page.startswith("<!DOCTYPE html>") and "<title>T &lt;&amp;&gt;</title>" in page
    # nothing is fetched: no external scripts, styles, images, fonts or imports
    assert not re.search(r"<(script|img|iframe|link)[^>]*\s(src|href)=", page, flags=re.I)
    assert "@import" not in page and "url(" not in page
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert all(h.startswith("#") or h.startswith("https://arxiv.org/abs/") for h in hrefs), hrefs
    measured, reported = page.split('<section id="reported"')
    assert "DeepPrune" not in measured.split('<section id="measured">')[1].split("</section>")[0]
    assert "deepprune:tau=0.5" not in reported.split("</section>")[0]
    assert page.count("<table ") == 2 and page.count('<svg class="pareto"') == 2 + 9
    assert 'data-col="1" data-type="num" data-first="ascending"' in page
    assert "cons@512" in page and "1e8 @ 512" in page and "Orderings and spread" in page
    assert "deepprune bench ds1 -s esc" in page  # each row's command


def test_html_best_marks_and_values(tmp_path: Path) -> None:
    page = lb.render_html(lb.build_leaderboard(lb.load_results([write(tmp_path, board_rows())])))
    tr = re.search(r'<tr data-i="3".*?</tr>', page, flags=re.S)
    assert tr is not None
    assert '<strong class="best">0.192</strong>' in tr.group(0)  # 3e5 tokens * 512 / 8 / 1e8
    assert 'data-v="0.9"' in page
    assert "Reported in paper" not in page


def test_markdown_renders_the_same_table(tmp_path: Path) -> None:
    board = lb.build_leaderboard(lb.load_results([write(tmp_path, board_rows())]), reference=True)
    md = lb.render_markdown(board)
    lines = md.splitlines()
    head = next(ln for ln in lines if ln.startswith("| system"))
    assert head == f"| system | m1 · ds1 | {lb.UNKNOWN_MODEL} · ds2 |"
    esc = next(ln for ln in lines if ln.startswith("| `esc`"))
    assert esc == "| `esc` <sup>[2]</sup> | 0.256 <u>90.0%</u> | — |"  # no latency in these rows: no third figure
    assert "| `oracle` (bound) <sup>[3]</sup> | 0.0640 95.0% | — |" in lines
    assert "### Reported in paper (not measured here)" in md
    assert "| DeepPrune [deepprune] | **0.42** 86.7% |" in md
    assert md.index("### Measured") < md.index("`esc`") < md.index("### Reported") < md.index("| DeepPrune")


# --- CLI and real data ----------------------------------------------------------------------


def _lat_cells(page: str, table: str) -> dict[str, tuple[str, str]]:
    """Row label -> (data-v, text) of the first latency cell of each row of ``table``."""
    body = page.split(f'<table class="lb {table}"')[1].split("</tbody>")[0]
    out = {}
    for tr in re.findall(r"<tr data-i=.*?</tr>", body, flags=re.S):
        label = re.search(r'<th scope="row" data-v="([^"]*)"', tr)
        cell = re.search(r'<td class="(?:na )?lat"(?: data-v="([^"]*)")?[^>]*>([^<]*)</td>', tr)
        assert label is not None and cell is not None, tr
        out[label.group(1)] = (cell.group(1) or "", cell.group(2))
    return out


def test_latency_column_in_the_page_and_markdown(tmp_path: Path) -> None:
    rows = [row("cons", latency=1.0, steps_per_problem=400.0), row("esc", latency=1.234, steps_per_problem=493.6),
            row("deepprune"),  # no latency: an older file, or a live row
            row("cons", "ds2"), row("esc", "ds2", latency=0.5)]
    board = lb.build_leaderboard(lb.load_results([write(tmp_path, rows)]), reference=True)
    page = lb.render_html(board)
    # one more sortable column per column group: lowest first, after tokens and accuracy
    n = len(board.measured.columns)
    assert page.count('class="lat-h"') == n  # the papers' table reports no latency: no column there
    assert ('data-col="3" data-type="num" data-first="ascending" data-label="m1 · ds1 latency vs cons@K" '
            'aria-label="sort by m1 · ds1 latency vs cons@K">latency vs cons@K') in page
    assert 'data-col="6" data-type="num" data-first="ascending" data-label="m1 · ds2 latency vs cons@K"' in page
    assert f'data-col="{1 + 3 * n}" data-type="text" data-first="ascending" data-label="family"' in page
    assert 'colspan="6" class="model">m1</th>' in page and page.count('colspan="3" class="bench"') == n
    assert page.count('colspan="2" class="bench"') == 9
    for tid, cols, k in (("measured", n, 3), ("reported", 9, 2)):  # a cell under every sort button
        body = page.split(f'<table class="lb {tid}"')[1].split("</table>")[0]
        assert body.count("<button") == 1 + k * cols + 2
        assert {tr.count("<td") + tr.count("<th") for tr in re.findall(r"<tr data-i=.*?</tr>", body, flags=re.S)} \
            == {1 + k * cols + 2}
    lat = _lat_cells(page, "measured")
    assert lat == {"cons": ("1.0", "x1.00"), "esc": ("1.234", "x1.23"), "deepprune": ("", "—")}
    assert 'class="lat"' not in page.split('<table class="lb reported"')[1]
    assert "latency x1.23 vs cons@K\n493.6 decode steps per problem until the decision" in page  # tooltip
    assert '<td class="na tok">—</td><td class="na acc">—</td><td class="na lat">—</td>' in page  # esc, no ds2
    # what it means, in the notes
    note = re.search(r'<li id="fn-latency"><strong>Latency vs cons@K:</strong>([^<]*)</li>', page)
    assert note is not None and "lock-step" in note.group(1) and "fewer slots than traces" in note.group(1)
    assert 'href="#fn-latency"' in page

    md = lb.render_markdown(board)
    lines = md.splitlines()
    assert "| `esc` <sup>[2]</sup> <sup>[5]</sup> | **0.000640** <u>90.0%</u> x1.23 | **0.000640** <u>90.0%</u> x0.50 |" in lines
    assert "| `deepprune` <sup>[3]</sup> | **0.000640** <u>90.0%</u> — | — |" in lines
    assert "latency vs cons@K" in md.split("| system")[0]
    assert "- **Latency vs cons@K:** replay's lock-step clock" in md


def test_cli_writes_both_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, board_rows())
    out, md = tmp_path / "lb.html", tmp_path / "lb.md"
    assert main(["leaderboard", str(p), "--html", str(out), "--markdown", str(md), "--reference",
                 "--model", "ds2=Qwen-X"]) == 0
    assert "Qwen-X" in out.read_text(encoding="utf-8") and "Qwen-X · ds2" in md.read_text(encoding="utf-8")
    assert main(["leaderboard", str(p)]) == 1
    assert "at least one output" in capsys.readouterr().err
    assert main(["leaderboard", str(write(tmp_path, [row("cons", accuracy=2)], "b.json")), "--html",
                 str(out)]) == 1
    err = capsys.readouterr().err
    assert "b.json" in err and "accuracy" in err
    assert main(["leaderboard", str(p), "--html", str(out), "--model", "nomodel"]) == 1


def test_real_bench_results_to_leaderboard(math100_path: Path, tmp_path: Path) -> None:
    ts = load_traces(math100_path)
    keep = ts.problems[:10]
    small = TraceSet(keep, {p.id: ts.traces_of(p.id) for p in keep}, ts.header, ts.name)
    rows = bench([small], ["cons", "oracle:prefix=tokens:64"], orderings=2)
    p = write(tmp_path, [dict(r.to_dict(), command="deepprune bench ...") for r in rows])
    board = lb.build_leaderboard(lb.load_results([p]))
    (col,) = board.measured.columns
    assert col.benchmark == ts.name and col.problems == 10 and col.orderings == (2,)
    cons, pruned = board.measured.rows
    assert cons.cells[0] is not None and pruned.cells[0] is not None
    assert cons.cells[0].best_tokens and pruned.bound and not pruned.cells[0].best_tokens
    assert pruned.cells[0].tokens_1e8 is not None and cons.cells[0].tokens_1e8 is not None
    assert pruned.cells[0].tokens_1e8 < cons.cells[0].tokens_1e8
    assert cons.cells[0].latency_text == "x1.00" and pruned.cells[0].latency is not None
    assert f"| `cons` <sup>[1]</sup> | **{cons.cells[0].tokens_text}**" in lb.render_markdown(board)


def test_columns_of_one_model_sit_together_and_command_refs_compress(tmp_path: Path) -> None:
    rows = [*board_rows(), row("cons", "ds3"), row("esc", "ds3")]
    board = lb.build_leaderboard(lb.load_results([write(tmp_path, rows)]))
    assert [c.label for c in board.measured.columns] == ["m1 · ds1", "m1 · ds3", f"{lb.UNKNOWN_MODEL} · ds2"]
    assert _runs([5, 0, 1, 2, 7, 8]) == [(0, 2), (5, 5), (7, 8)]
    cmds = [f"deepprune bench d{i}" for i in range(3)]
    one = lb.Row("x", (lb.Cell(1.0, 0.5, command=0), lb.Cell(1.0, 0.5, command=1), lb.Cell(1.0, 0.5, command=2)))
    t = lb.Table("measured", "t", tuple(lb.Column("m", f"d{i}") for i in range(3)), (one,))
    page = lb.html_table(t, "measured", cmds)
    assert '<sup>[1–3]</sup>' in page and "<sup>[2]" not in page
    md = _md_table(t, cmds, refs=True)
    assert md[2].startswith("| `x` <sup>[1–3]</sup> |")


def test_failures_and_judge_cost_are_shown(tmp_path: Path) -> None:
    rows = [row("cons"), row("deepprune", judge_calls=123.0, judge_tokens=4567.0, errors=2)]
    board = lb.build_leaderboard(lb.load_results([write(tmp_path, rows)]))
    page, md = lb.render_html(board), lb.render_markdown(board)
    assert "+123 judge calls" in page and "2 problem(s) failed" in page and "4,567 judge tokens" in page
    assert "+123 judge calls (2 failed)" in md


def test_not_applicable_rows_are_left_out_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from deepprune.report.leaderboard import load_results as _load

    rows = [
        {"dataset": "d", "strategy": "cons", "accuracy": 0.5, "tokens": 100.0},
        {"dataset": "d", "strategy": "deepconf-low", "accuracy": float("nan"), "tokens": float("nan"),
         "not_applicable": "deepconf-low needs per-token confidences"},
    ]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(rows))
    with caplog.at_level(logging.WARNING, logger="deepprune.report.leaderboard"):
        got = _load([path])
    assert [r.strategy for r in got] == ["cons"]
    assert "deepconf-low on d) is n/a" in caplog.text


def test_page_escapes_hostile_names_through_the_template_engine(tmp_path: Path) -> None:
    """Rendered by Jinja2 with autoescape: a strategy or command from a results file cannot inject
    markup anywhere (cells, tooltips, data attributes, the commands list)."""
    from deepprune.report.leaderboard.html import environment

    assert environment().autoescape is True
    rows = board_rows()
    rows[0]["strategy"] = 'cons<script>alert(1)</script>"\''
    rows[0]["command"] = "deepprune bench <img src=x onerror=alert(1)>"
    page = lb.render_html(lb.build_leaderboard(lb.load_results([write(tmp_path, rows)])))
    assert "<script>alert" not in page and "<img" not in page
    assert "cons&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;" in page
    assert "deepprune bench &lt;img src=x onerror=alert(1)&gt;" in page


def test_a_result_is_its_bench_row_as_the_leaderboard_reads_it(tmp_path: Path) -> None:
    rows = bench([synthetic_traceset(5, 4, seed=1, mean_tokens=30, name="syn")], ["cons", "oracle"], orderings=2)
    p = write(tmp_path, [dict(r.to_dict(), command="deepprune bench syn") for r in rows])
    shared = {f.name for f in fields(lb.Result)} - {"params", "command", "source", "index"}
    assert shared <= {f.name for f in fields(BenchRow)}  # no field of its own but where it was read from
    assert {"latency", "steps_per_problem"} <= shared and all(r.latency is not None for r in rows)
    for row, res in zip(rows, lb.load_results([p]), strict=True):
        assert {k: getattr(res, k) for k in shared} == {k: getattr(row, k) for k in shared}
        assert dict(res.params) == row.params and res.command == "deepprune bench syn"
