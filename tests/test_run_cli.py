"""``deepprune run`` against the replay server: answers, --compare cons, JSONL resume, clear failures."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from deepprune.cli import main
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.formats.tracefile import write_traces
from deepprune.servers.replay import ReplayServer, ServerConfig

TS = synthetic_traceset(4, 8, seed=11, mean_tokens=30, with_confs=True)


@pytest.fixture
def traces_path(tmp_path: Path) -> Path:
    path = tmp_path / "traces.jsonl"
    write_traces(TS, path)
    return path


def test_run_compare_cons_and_resume(traces_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.jsonl"
    with ReplayServer(TS, ServerConfig(rate=0)).in_thread() as srv:
        args = ["run", "--base-url", srv.base_url, "--model", "m", "--strategy", "esc:w=4", "--problems",
                str(traces_path), "--n", "8", "--limit", "3", "--compare", "cons", "--out", str(out),
                "--max-tokens", "4096", "--top-logprobs", "0", "--json", "-"]
        assert main(args) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["problems"] == 3 and report["baseline"] == "cons"
        # cons@8 spends every recorded token of the first 3 problems
        assert report["baseline_tokens"] == sum(t.n_tokens for p in TS.problems[:3] for t in TS.traces_of(p.id))
        assert report["tokens"] <= report["baseline_tokens"]
        assert report["accuracy"] is not None
        served = srv.stats().tokens_served
        assert served == report["tokens"] + report["baseline_tokens"]
        # run again with one more problem: only the new one is run, the rest comes from the file
        requests = srv.stats().requests
        assert main([*args[:args.index("--limit") + 1], "4", *args[args.index("--limit") + 2:]]) == 0
        report2 = json.loads(capsys.readouterr().out)
        assert report2["problems"] == 4
        new_requests = srv.stats().requests - requests
        assert 0 < new_requests <= 16  # problem 4 only: at most 8 traces for esc + 8 for cons
    lines = out.read_text().splitlines()
    assert json.loads(lines[0])["strategy"] == "esc:w=4"
    assert sorted(json.loads(x)["problem_id"] for x in lines[1:]) == sorted(p.id for p in TS.problems)


def test_run_single_question_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    p = TS.problems[1]
    with ReplayServer(TS, ServerConfig(rate=0)).in_thread() as srv:
        assert main(["run", "--base-url", srv.base_url, "--model", "m", "--question", p.question,
                     "--gold", str(p.gold), "--kind", "integer", "--n", "8", "--max-tokens", "4096"]) == 0
    out = capsys.readouterr().out
    assert f"gold={p.gold}" in out and "cons: 1 problems" in out


def test_run_server_down_is_a_clear_error(traces_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["run", "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "m", "--problems",
                 str(traces_path), "--n", "2"])
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot connect" in err and "is the server running" in err


def test_run_all_traces_failing_stops_with_the_reason(traces_path: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.jsonl"
    # the first problem works; then the server answers every request with HTTP 500
    with ReplayServer(TS, ServerConfig(rate=0)).in_thread() as srv:
        args = ["run", "--base-url", srv.base_url, "--model", "m", "--problems", str(traces_path), "--n", "4",
                "--retries", "1", "--max-tokens", "4096", "--out", str(out)]
        assert main([*args, "--limit", "1"]) == 0
        srv.add_fault("status:500")
        code = main(args)
    assert code == 1
    err = capsys.readouterr().err
    assert "all 4 traces failed" in err and "HTTP 500" in err
    assert "1 problem(s) are saved" in err and "run the same command again to resume" in err
    assert len(out.read_text().splitlines()) == 2  # header + the completed problem, kept


def test_run_rejects_bad_arguments(traces_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--problems", str(traces_path),
                 "--strategy", "nope"]) == 1
    assert "strategy" in capsys.readouterr().err
    assert main(["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--problems", str(traces_path),
                 "--gold", "3"]) == 1
    assert "--gold" in capsys.readouterr().err
