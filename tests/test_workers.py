"""``deepprune run --workers N``: problems sharded over processes, one writer, resume, stop, failures."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from deepprune.cli import main
from deepprune.engine.liverun import LiveRow, ResultsFile, RunSettings
from deepprune.engine.workers import WorkerError, run_sharded, shard
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.formats.tracefile import write_traces
from deepprune.servers.replay import Fault, ReplayServer, ServerConfig
from deepprune.sources.openai_client import EndpointConfig

TS = synthetic_traceset(6, 8, seed=5, mean_tokens=30, with_confs=True)
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def traces_path(tmp_path: Path) -> Path:
    path = tmp_path / "traces.jsonl"
    write_traces(TS, path)
    return path


def _args(url: str, traces: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--base-url", url, "--model", "m", "--strategy", "esc:w=4", "--problems", str(traces),
            "--n", "8", "--compare", "cons", "--max-tokens", "4096", "--top-logprobs", "0", "--retries", "1",
            "--out", str(out), *extra]


def _rows(out: Path) -> list[dict[str, Any]]:
    lines = out.read_text().splitlines()
    assert all(line.endswith("}") for line in lines)  # nothing torn or interleaved
    return [json.loads(x) for x in lines[1:]]


def _key(rec: dict[str, Any]) -> tuple[Any, ...]:
    def o(x: dict[str, Any]) -> tuple[Any, ...]:
        return (x["answer"], x["correct"], x["tokens"], x["traces_launched"], x["traces_finished"],
                x["traces_stopped"], x["traces_failed"], x["failed"])
    return rec["problem_id"], o(rec["result"]), o(rec["baseline_result"])


def test_shard_round_robin() -> None:
    assert shard([], 3) == []
    from deepprune.core.types import Problem
    ps = [Problem(str(i), "q") for i in range(3)]
    assert [[p.id for p in s] for s in shard(ps, 8)] == [["0"], ["1"], ["2"]]


def test_two_workers_same_rows_and_tokens_as_one(traces_path: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    with ReplayServer(TS, ServerConfig(rate=0)).in_thread() as srv:
        assert main([*_args(srv.base_url, traces_path, one), "--json", "-"]) == 0
        r1 = json.loads(capsys.readouterr().out)
        served1 = srv.stats().tokens_served
        assert main([*_args(srv.base_url, traces_path, two), "--workers", "2", "--json", "-"]) == 0
        r2 = json.loads(capsys.readouterr().out)
        served2 = srv.stats().tokens_served - served1
    assert served1 == served2 == r1["tokens"] + r1["baseline_tokens"]
    for k in ("problems", "tokens", "baseline_tokens", "accuracy", "baseline_accuracy", "traces_stopped",
              "traces_failed", "problems_failed"):
        assert r1[k] == r2[k], k
    # rows in problem order in the report; the file has each problem once, same outcome
    assert [r["problem_id"] for r in r2["rows"]] == [p.id for p in TS.problems]
    assert sorted(map(_key, _rows(one))) == sorted(map(_key, _rows(two)))
    assert [_key(r) for r in r1["rows"]] == [_key(r) for r in r2["rows"]]
    assert json.loads(two.read_text().splitlines()[0]) == json.loads(one.read_text().splitlines()[0])


def _spawn_run(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-m", "deepprune", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def _wait_rows(out: Path, n: int, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if out.exists() and len(out.read_text().splitlines()) > n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {n} rows in {timeout} s")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("how", ["ctrl-c", "kill", "kill-parent"])
def test_interrupted_or_killed_run_resumes_with_workers(how: str, traces_path: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.jsonl"
    # paced: each problem takes ~2 s, so the run is stopped with problems in flight even when a
    # loaded machine delays the test's own polling (at ~0.5 s a slow CI run finished first)
    with ReplayServer(TS, ServerConfig(rate=40)).in_thread() as srv:
        args = _args(srv.base_url, traces_path, out, "--workers", "2")
        proc = _spawn_run(args)
        _wait_rows(out, 1, proc)
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the parent and its workers
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 130, err
            assert "Traceback" not in err, err
            assert "saved in" in err and "run the same command again" in err
        else:
            kids = [int(x) for x in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                   text=True).stdout.split()]
            assert len(kids) >= 2  # the workers (and multiprocessing's resource tracker)
            for pid in [proc.pid, *kids] if how == "kill" else [proc.pid]:  # kill-parent: orphans stop
                os.kill(pid, signal.SIGKILL)
            proc.communicate(timeout=30)
            t0 = time.monotonic()
            while any(_alive(k) for k in kids):
                assert time.monotonic() - t0 < 15, "orphaned workers still running"
                time.sleep(0.1)
        before = _rows(out)
        assert 1 <= len(before) < len(TS.problems)
        assert len({r["problem_id"] for r in before}) == len(before)
        served = srv.stats().requests
        # the number of workers is not a setting of the results: resume with one process too
        resume = args[:-2] if how == "kill" else args
        assert main([*resume, "--json", "-"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert srv.stats().requests > served
    assert report["problems"] == len(TS.problems) and report["problems_failed"] == 0
    after = _rows(out)
    assert after[:len(before)] == before  # nothing already written was changed
    assert sorted(r["problem_id"] for r in after) == sorted(p.id for p in TS.problems)  # each once
    assert report["baseline_tokens"] == sum(t.n_tokens for p in TS.problems for t in TS.traces_of(p.id))


def test_a_worker_error_surfaces_and_the_rest_is_saved(traces_path: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.jsonl"
    bad = TS.problems[3].id  # the second worker's second problem
    with ReplayServer(TS, ServerConfig(rate=0)).in_thread() as srv:
        srv.add_fault(Fault(kind="status", status=500, problem_id=bad))  # type: ignore[arg-type]
        code = main(_args(srv.base_url, traces_path, out, "--workers", "2"))
    assert code == 1
    err = capsys.readouterr().err
    assert "worker 2 of 2: ClientError" in err and f"problem {bad}: all" in err and "HTTP 500" in err
    assert "saved in" in err
    saved = [r["problem_id"] for r in _rows(out)]
    assert TS.problems[1].id in saved and bad not in saved and len(saved) == len(set(saved))


def test_a_worker_that_dies_is_reported_and_nothing_written_is_lost(tmp_path: Path) -> None:
    settings = RunSettings("cons", budget=8, seed=0, model="m")
    seen: list[LiveRow] = []

    def on_row(row: LiveRow) -> None:
        if not seen:  # kill the worker that did not send the first row
            first = TS.problems.index(next(p for p in TS.problems if p.id == row.problem_id)) % 2
            other = [p for p in multiprocessing.active_children() if p.name == f"deepprune-worker-{2 - first}"]
            assert other
            os.kill(other[0].pid or 0, signal.SIGKILL)
        seen.append(row)

    with ReplayServer(TS, ServerConfig(rate=100)).in_thread() as srv:
        cfg = EndpointConfig(srv.base_url, "m", max_tokens=4096, max_concurrency=8, top_logprobs=0, retries=1)
        with ResultsFile(tmp_path / "r.jsonl", settings) as results, pytest.raises(WorkerError) as ei:
            run_sharded(list(TS.problems), [cfg], settings, workers=2, results=results, on_row=on_row)
    assert "exited with status -9" in str(ei.value)
    saved = _rows(tmp_path / "r.jsonl")
    assert [r["problem_id"] for r in saved] == [r.problem_id for r in seen]


def test_an_unexpected_worker_exception_is_reported_with_its_type_and_traceback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = RunSettings("cons", budget=2, seed=0, model="m")
    bad: Any = object()  # not an EndpointConfig: the worker fails with a TypeError (a bug, not a deepprune error)
    with pytest.raises(WorkerError) as ei, caplog.at_level("ERROR", logger="deepprune.engine.workers"):
        run_sharded(list(TS.problems[:2]), [bad], settings, workers=2)
    assert ei.value.kind == "TypeError" and "dataclass" in str(ei.value)
    assert "Traceback" in ei.value.remote_traceback and "Traceback" in caplog.text


def test_workers_must_be_at_least_one(traces_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--problems", str(traces_path),
                 "--workers", "0"]) == 1
    assert "--workers must be at least 1" in capsys.readouterr().err
