"""The simulated cons@512 trace set (from the shared DeepConf re-run summaries) and bench n/a rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepprune.core.types import TraceSet
from deepprune.engine.bench import bench
from deepprune.engine.runner import run_sync
from deepprune.engine.simulate import load_probe_summaries, simulate_traceset, sympy_to_latex
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.report import markdown_table, text_table
from deepprune.sources.replay import ReplaySource
from deepprune.strategies.registry import build

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces" / "qwen3_deepconf_brumo_hmmt"


@pytest.fixture(scope="module")
def sim() -> TraceSet:
    if not SOURCE.is_dir():
        pytest.skip(f"shared data not found at {SOURCE}")
    return simulate_traceset(SOURCE, seed=0)


def test_simulated_set_keeps_answers_and_real_cost(sim: TraceSet) -> None:
    summaries = {f"hmmt25-qid{s.qid}": s for s in load_probe_summaries(SOURCE)}
    assert sim.header["simulation"] is True and sim.name.endswith("-sim")
    assert len(sim.problems) == len(summaries)
    for p in sim.problems:
        s = summaries[p.id]
        tr = sim.traces_of(p.id)
        assert len(tr) == s.n_traces == 512
        assert sum(t.n_tokens for t in tr) == s.total_tokens  # cons@512 costs what the real run cost
        classes = sim.header["answer_classes"][p.id]
        recorded = dict(s.answers)
        for c in classes:
            assert sum(1 for t in tr if t.answer == c["label"]) == c["traces"]
            assert c["traces"] == sum(recorded[a] for a in c["recorded"])
        assert classes[0]["traces"] >= classes[-1]["traces"]
    q6 = next(c for c in sim.header["answer_classes"]["hmmt25-qid6"] if "9/(sqrt(23))" in c["recorded"])
    assert "(9*sqrt(23))/23" in q6["recorded"] and q6["label"] == r"\frac{9 \sqrt{23}}{23}"
    json.dumps(sim.header)  # the header is writable as JSON


def test_simulation_is_seeded(sim: TraceSet) -> None:
    again = simulate_traceset(SOURCE, seed=0)
    other = simulate_traceset(SOURCE, seed=1)
    pid = sim.problems[2].id
    assert [t.n_tokens for t in sim.traces_of(pid)] == [t.n_tokens for t in again.traces_of(pid)]
    assert [t.n_tokens for t in sim.traces_of(pid)] != [t.n_tokens for t in other.traces_of(pid)]


def test_perfect_judge_equals_oracle_at_512(sim: TraceSet) -> None:
    sub = TraceSet(sim.problems[2:4], {p.id: sim.traces_of(p.id) for p in sim.problems[2:4]}, sim.header, sim.name)

    def go(spec: str) -> list[tuple[str | None, int]]:
        res = run_sync(build(spec), ReplaySource(sub, ordering_seed=0), list(sub.problems), budget=512)
        return [(r.answer, r.tokens) for r in res]

    assert go("deepprune:judge=noisy-oracle,auroc=1,kmax=none,recover=0,prefix=tokens:512") == go("oracle:prefix=tokens:512")


def test_sympy_to_latex_keeps_unsafe_input_verbatim() -> None:
    assert sympy_to_latex("__import__('os')") == "__import__('os')"
    assert sympy_to_latex("2**18") == "2^{18}"


def test_bench_reports_na_for_strategies_that_cannot_run() -> None:
    ts = synthetic_traceset(n_problems=2, k=4, seed=0, with_confs=False)
    rows = bench([ts], ["cons", "deepconf-low", "deepconf"], orderings=2)
    assert rows[0].not_applicable is None and rows[0].accuracy >= 0
    assert all(r.not_applicable and "confidences" in r.not_applicable for r in rows[1:])
    assert "n/a" in text_table(rows) and "n/a deepconf-low" in markdown_table(rows)


def test_simulate_cli_writes_a_replayable_file(tmp_path: Path) -> None:
    if not SOURCE.is_dir():
        pytest.skip(f"shared data not found at {SOURCE}")
    from deepprune.cli import main
    from deepprune.formats.tracefile import read_traces

    out = tmp_path / "sim.jsonl.gz"
    assert main(["simulate", str(SOURCE), "--no-sweep", "--write", str(out), "--seed", "2"]) == 0
    ts = read_traces(out)
    assert ts.header["simulation"] is True and len(ts.problems) == 7 and ts.n_traces == 7 * 512
    assert main(["simulate", str(tmp_path / "missing"), "--no-sweep"]) == 1  # a DataError, reported
