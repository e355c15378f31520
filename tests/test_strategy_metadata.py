"""Strategy metadata (issue 12, item 3): every strategy's ``family`` and ``paper``, carried by the
bench rows (old rows without them still load) and shown by the bench table and the leaderboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from deepprune.core import FAMILIES, Strategy
from deepprune.core.records import BenchRow, read_row
from deepprune.core.types import TraceSet
from deepprune.engine.bench import bench
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.report import leaderboard as lb
from deepprune.report import markdown_table, text_table
from deepprune.strategies.registry import available, describe

ARXIV_OR_VENUE = re.compile(r"arXiv \d{4}\.\d{4,5}|ICLR|EMNLP|NeurIPS|ICML|ACL")


@pytest.fixture(scope="module")
def synth() -> TraceSet:
    return synthetic_traceset(n_problems=3, k=6, seed=5, mean_tokens=50)


def test_families_are_documented() -> None:
    assert set(FAMILIES) == {"vote", "stop-early", "prune"}
    assert all(len(text) > 40 for text in FAMILIES.values())
    assert Strategy.family == "" and Strategy.paper == ""  # a strategy may declare none


@pytest.mark.parametrize("name", sorted(available()))
def test_every_registered_strategy_declares_family_and_paper(name: str) -> None:
    family, paper = describe(name)
    assert family in FAMILIES, (name, family)
    if name == "oracle":
        assert paper == ""  # a bound, not a published method
    else:
        assert ARXIV_OR_VENUE.search(paper), (name, paper)


def test_known_values() -> None:
    assert describe("cons") == ("vote", "Wang et al., Self-Consistency, ICLR 2023, arXiv 2203.11171")
    assert describe("esc")[0] == describe("adaptive")[0] == describe("short-m")[0] == "stop-early"
    assert describe("deepprune")[0] == describe("deepprune-paper")[0] == describe("oracle")[0] == "prune"
    assert "2505.18149" in describe("first-finish")[1] and "2505.17813" in describe("short-m")[1]
    assert "2510.08483" in describe("deepprune:judge=constant,tau=0.3")[1]


def test_bench_rows_carry_them_and_old_rows_still_load(synth: TraceSet) -> None:
    rows = bench([synth], ["cons", "oracle", "deepconf"], orderings=1)
    cons, oracle, deepconf = rows
    assert (cons.family, oracle.family, oracle.paper) == ("vote", "prune", None)
    assert deepconf.not_applicable and deepconf.family == "vote" and "2508.15260" in (deepconf.paper or "")
    for row in rows:
        rec = json.loads(json.dumps(row.to_dict()))
        assert rec["family"] == row.family and rec["paper"] == row.paper
        back = BenchRow.from_dict(rec)
        assert (back.family, back.paper) == (row.family, row.paper)
        old = {k: v for k, v in rec.items() if k not in ("family", "paper")}  # a row written before
        older = BenchRow.from_dict(old)
        assert older.family is None and older.paper is None and older.strategy == row.strategy
    with pytest.raises(Exception, match="expected a string"):
        read_row(cons.to_dict() | {"family": 3})


def test_bench_tables_show_family_and_papers(synth: TraceSet) -> None:
    rows = bench([synth], ["cons", "esc", "oracle"], orderings=1)
    text = text_table(rows)
    head = next(ln for ln in text.splitlines() if ln.startswith("strategy"))
    assert head.split()[:3] == ["strategy", "family", "accuracy"]
    assert re.search(r"^esc\s+stop-early\s", text, flags=re.M)
    assert "papers:" in text and "arXiv 2401.10480" in text and "oracle  " not in text.split("papers:")[1]
    md = markdown_table(rows)
    assert "| strategy | family | accuracy |" in md and "- `cons`: Wang et al." in md


def _write(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    p = tmp_path / "rows.json"
    p.write_text(json.dumps(rows), encoding="utf-8")
    return p


def test_leaderboard_shows_family_and_paper(synth: TraceSet, tmp_path: Path) -> None:
    rows = [r.to_dict() for r in bench([synth], ["cons", "esc", "oracle"], orderings=1)]
    rows.append({"dataset": synth.name, "strategy": "adaptive", "accuracy": 0.5, "tokens": 10.0})  # an older row
    board = lb.build_leaderboard(lb.load_results([_write(tmp_path, rows)]), reference=True)
    by = {r.label: r for r in board.measured.rows}
    assert by["esc"].family == "stop-early" and "2401.10480" in (by["esc"].paper or "")
    assert by["adaptive"].family is None and by["oracle"].paper is None
    ref = {r.label: r for r in board.reference.rows} if board.reference else {}
    assert ref["DeepConf-low"].family == "prune" and ref["cons@512 (Meta)"].family == "vote"

    page = lb.render_html(board)
    measured = page.split('<section id="measured">')[1].split("</section>")[0]
    n = len(board.measured.columns)
    assert f'data-col="{1 + 3 * n}" data-type="text" data-first="ascending" data-label="family"' in measured
    assert f'data-col="{2 + 3 * n}" data-type="text"' in measured
    assert re.search(r'<td class="family" data-v="stop-early" title="stop-early: [^"]+">stop-early</td>', measured)
    assert '<td class="family" data-v="">—</td>' in measured  # the older row
    assert "Li et al., Early-Stopping Self-Consistency (ESC), ICLR 2024, arXiv 2401.10480</td>" in measured
    assert "Family and paper" in page

    md = lb.render_markdown(board)
    assert "| `esc` | stop-early | Li et al., Early-Stopping Self-Consistency (ESC), ICLR 2024, arXiv 2401.10480 |" in md
    methods = md.split("| system | family | paper |")[1].split("###")[0]
    assert "`adaptive`" not in methods and "`oracle` | prune | — |" in methods  # rows with neither are left out
    assert "| DeepConf-low | prune | Fu et al." in md
