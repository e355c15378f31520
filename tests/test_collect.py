"""collect: round order, deterministic seeds, resume without loss or duplicates (fake transport)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from deepprune.core.errors import ClientError, ConfigError, DataError
from deepprune.core.types import AnswerKind, FinishReason, Problem
from deepprune.engine.collect import collect, default_rounds, plan_jobs, select_problems, trace_seed
from deepprune.formats.tracefile import read_traces
from deepprune.sources.openai_client import EndpointConfig
from fake_openai import FakeServer

PROBLEMS = [Problem(f"q{i}", f"question {i}", "42", AnswerKind.INTEGER) for i in range(3)]


def _cfg(**kw: Any) -> EndpointConfig:
    base = {"base_url": "http://fake.test/v1", "model": "fake", "max_tokens": 20, "top_logprobs": 2,
            "backoff_s": 0.001, "max_concurrency": 2, "retries": 0}
    base.update(kw)
    return EndpointConfig(**base)


def _run(server: FakeServer, out: Path, n: int, **kw: Any) -> Any:
    return asyncio.run(collect(_cfg(**kw.pop("cfg", {})), PROBLEMS, out, n=n, progress=False,
                               transport=server.transport(), **kw))


def test_rounds_and_job_order() -> None:
    assert default_rounds(32) == (8, 16, 24, 32)
    jobs = plan_jobs(PROBLEMS[:2], 4, (2, 4), done={("q0", 0)})
    assert [(p.id, i) for p, i in jobs] == [("q0", 1), ("q1", 0), ("q1", 1), ("q0", 2), ("q0", 3),
                                            ("q1", 2), ("q1", 3)]
    assert trace_seed(0, "q0", 1) != trace_seed(0, "q0", 2) != trace_seed(1, "q0", 2)


def test_collect_writes_traces_with_tokens_logprobs_and_confs(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    s = _run(FakeServer(n_tokens=5), out, 2)
    assert s.written == 6 and s.failed == 0 and s.tokens == 30
    ts = read_traces(out)
    assert [p.id for p in ts.problems] == ["q0", "q1", "q2"]
    t = ts.traces_of("q1")[0]
    assert t.answer == "42" and t.n_tokens == 5 and t.finish_reason is FinishReason.STOP
    assert t.tokens is not None and "".join(t.tokens) == t.text
    assert t.logprobs is not None and t.confs is not None and len(t.confs) == 5
    assert t.seed == trace_seed(0, "q1", t.index)
    h = ts.header
    assert h["model"] == "fake" and h["sampling"]["top_logprobs"] == 2 and h["token_count"] == "server"
    assert "Please reason step by step" in h["system_prompt"]


def test_resume_after_a_kill_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    _run(FakeServer(n_tokens=4), out, 2)
    first = out.read_text().splitlines()
    # a killed writer leaves a partial record: it is dropped, and that trace is sampled again
    with open(out, "a", encoding="utf-8") as fh:
        fh.write('{"type": "trace", "problem_id": "q2", "index": 2, "te')
    server = FakeServer(n_tokens=4)
    s = _run(server, out, 4)
    assert s.skipped_existing == 6 and s.written == 6
    assert len(server.bodies) == 6  # only the missing traces were requested
    lines = out.read_text().splitlines()
    assert lines[: len(first)] == first  # what was there is untouched
    recs = [json.loads(x) for x in lines if '"type": "trace"' in x]
    keys = [(r["problem_id"], r["index"]) for r in recs]
    assert sorted(keys) == sorted((p.id, i) for p in PROBLEMS for i in range(4))
    assert all(r["seed"] == trace_seed(0, r["problem_id"], r["index"]) for r in recs)
    assert _run(FakeServer(), out, 4).written == 0  # complete: nothing to do


def test_failed_traces_are_left_for_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    server = FakeServer(statuses=[500, 500])
    s = _run(server, out, 2)
    assert s.failed == 2 and s.written == 4
    s2 = _run(FakeServer(), out, 2)
    assert s2.written == 2 and len(read_traces(out).traces_of("q0")) == 2


def test_server_down_stops_the_run_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="in a row"):
        _run(FakeServer(statuses=[503] * 100), tmp_path / "t.jsonl", 8)


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    _run(FakeServer(n_tokens=3), out, 1)
    with pytest.raises(DataError, match=r"different settings.*sampling"):
        _run(FakeServer(), out, 1, cfg={"temperature": 0.3})
    with pytest.raises(ConfigError, match=r"plain \.jsonl"):
        _run(FakeServer(), tmp_path / "t.jsonl.gz", 1)


def test_select_problems_filters_shuffles_and_limits(benchmarks_dir: Path) -> None:
    files = [benchmarks_dir / "math500.jsonl", benchmarks_dir / "gsm8k_test.jsonl"]
    a = select_problems(files, select={"level": ["2", "3", "4"]}, shuffle_seed=0, limit=20)
    b = select_problems(files, select={"level": ["2", "3", "4"]}, shuffle_seed=0, limit=20)
    assert [p.id for p in a] == [p.id for p in b] and len(a) == 40
    assert all(p.meta["level"] in (2, 3, 4) for p in a[:20])
    assert all(p.source == "gsm8k_test" and p.kind is AnswerKind.INTEGER for p in a[20:])
    assert [p.id for p in select_problems(files[1:], limit=3)] == ["gsm8k_test-0", "gsm8k_test-1", "gsm8k_test-2"]
