"""run_live: a strategy (and its cons@K baseline) over problems, results written as they go, resumable."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import pytest

from deepprune.core.errors import ConfigError, FormatError
from deepprune.core.records import BenchRow
from deepprune.engine.liverun import ResultsFile, RunSettings, load_problems_any, run_live, summarize
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.formats.tracefile import write_traces
from deepprune.report.live import live_summary_text
from deepprune.sources.replay import ReplaySource

TS = synthetic_traceset(6, 8, seed=3, mean_tokens=80)


def test_run_live_with_baseline_matches_cons(tmp_path: Path) -> None:
    settings = RunSettings("oracle", budget=8, compare="cons")
    with ResultsFile(tmp_path / "r.jsonl", settings) as out:
        rows = asyncio.run(run_live(list(TS.problems), ReplaySource(TS), settings, results=out))
    assert [r.problem_id for r in rows] == [p.id for p in TS.problems]
    for r in rows:
        assert r.baseline == "cons" and r.baseline_result is not None
        assert r.baseline_result.tokens == sum(t.n_tokens for t in TS.traces_of(r.problem_id))
        assert r.result.tokens <= r.baseline_result.tokens
        assert r.result.traces_launched <= 8
    s = summarize(rows)
    assert s.baseline_tokens == sum(t.n_tokens for ts in TS.traces.values() for t in ts)
    assert s.reduction is not None and 0 <= s.reduction < 1
    assert s.reduction == pytest.approx(1 - s.tokens / s.baseline_tokens)
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["format"] == "deepprune/run-v1"
    assert len(lines) == 1 + len(TS.problems)


def test_results_file_resumes_and_refuses_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    settings = RunSettings("cons", budget=4)
    first = list(TS.problems[:3])
    with ResultsFile(path, settings) as out:
        asyncio.run(run_live(first, ReplaySource(TS), settings, results=out))
    # a killed writer leaves a partial line: it is dropped on reopen
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"type": "result", "problem_id": "syn-3", "gol')
    ran: list[str] = []
    with ResultsFile(path, settings) as out:
        assert set(out.done) == {p.id for p in first}
        rows = asyncio.run(run_live(list(TS.problems), ReplaySource(TS), settings, results=out,
                                    on_row=lambda r: ran.append(r.problem_id)))
    assert ran == [p.id for p in TS.problems[3:]]  # only the missing ones ran
    assert [r.problem_id for r in rows] == [p.id for p in TS.problems]
    recs = [json.loads(x) for x in path.read_text().splitlines()[1:]]
    assert sorted(r["problem_id"] for r in recs) == sorted(p.id for p in TS.problems)  # no loss, no duplicate
    with pytest.raises(ConfigError, match="budget: file has 4, this run 8"):
        ResultsFile(path, RunSettings("cons", budget=8))
    other = tmp_path / "other.jsonl"
    other.write_text('{"format": "deepprune/traces-v1"}\n')
    with pytest.raises(FormatError):
        ResultsFile(other, settings)


def test_concurrent_problems_keep_order(tmp_path: Path) -> None:
    settings = RunSettings("cons", budget=8)
    rows = asyncio.run(run_live(list(TS.problems), ReplaySource(TS), settings, concurrency=3))
    assert [r.problem_id for r in rows] == [p.id for p in TS.problems]


def test_load_problems_any(tmp_path: Path, benchmarks_dir: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_traces(TS, path)
    assert [p.id for p in load_problems_any(path, limit=2)] == ["syn-0", "syn-1"]
    gsm = load_problems_any(benchmarks_dir / "gsm8k_test.jsonl", limit=3)
    assert len(gsm) == 3 and gsm[0].gold is not None
    with pytest.raises(ConfigError):
        load_problems_any(path, limit=0)


def test_settings_validate() -> None:
    with pytest.raises(ConfigError):
        RunSettings("cons", budget=0)
    assert RunSettings(" esc : w=4 ", budget=2).strategy == "esc:w=4"


def test_the_summary_is_a_bench_row_of_the_strategy_and_one_of_the_baseline() -> None:
    settings = RunSettings("esc:w=2", budget=8, compare="cons")
    rows = asyncio.run(run_live(list(TS.problems), ReplaySource(TS), settings))
    s = summarize(rows)
    assert s.baseline_result is not None
    for row, strategy in ((s.result, "esc:w=2"), (s.baseline_result, "cons")):
        assert isinstance(row, BenchRow) and row.strategy == strategy and row.problems == len(TS.problems)
        assert row.orderings == 1 and row.traces_per_problem == 8
        assert BenchRow.from_dict(json.loads(json.dumps(row.to_dict()))) == row  # a valid bench row
    assert s.result.reduction == s.reduction == 1 - s.result.tokens / s.baseline_result.tokens
    assert (s.tokens, s.baseline_tokens) == (sum(r.result.tokens for r in rows),
                                             sum(r.baseline_result.tokens for r in rows if r.baseline_result))
    assert list(s.to_dict()) == ["problems", "accuracy", "tokens", "traces_stopped", "traces_failed", "wall_s",
                                 "baseline", "baseline_accuracy", "baseline_tokens", "baseline_wall_s",
                                 "reduction", "speedup", "rows", "problems_failed"]
    alone = summarize([replace(r, baseline=None, baseline_result=None) for r in rows])
    assert alone.baseline_result is None and alone.baseline is None and alone.reduction is None
    assert alone.result == replace(s.result, reduction=None)


def test_the_summary_text_says_faster_or_slower_and_fewer_or_more_tokens() -> None:
    rows = asyncio.run(run_live(list(TS.problems), ReplaySource(TS), RunSettings("esc:w=2", budget=8, compare="cons")))
    s = summarize(rows)
    assert s.reduction is not None and s.reduction > 0
    slow = live_summary_text(replace(s, wall=10.0, baseline_wall=2.0), "esc:w=2").splitlines()[-1]
    assert slow == f"esc:w=2 used {100 * s.reduction:.1f}% fewer tokens than cons, 5.00x slower"
    fast = live_summary_text(replace(s, wall=2.0, baseline_wall=3.0), "esc:w=2").splitlines()[-1]
    assert fast.endswith("fewer tokens than cons, 1.50x faster")
    more = replace(s, result=replace(s.result, reduction=-0.25), wall=1.0, baseline_wall=1.0)
    assert live_summary_text(more, "esc:w=2").splitlines()[-1] == "esc:w=2 used 25.0% more tokens than cons, 1.00x faster"
