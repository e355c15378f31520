"""``deepprune determinacy`` (deepprune.engine.determinacy): continuations from a fake server
(resumable --out, refused files), and the report's figures on made-up continuations and on the
committed benchmark runs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import deepprune.engine.determinacy as det
from deepprune.cli import main
from deepprune.core.errors import ConfigError, DataError, FormatError
from deepprune.core.types import Problem, Trace, TraceSet
from deepprune.engine.determinacy import (
    Continuation,
    determinacy_report,
    read_continuations,
    run_continuations,
)
from deepprune.formats.datasets import resolve
from deepprune.formats.loaders import load_traces
from deepprune.formats.tracefile import write_traces
from deepprune.sources.openai_client import EndpointConfig, StreamClient
from fake_openai import FakeServer

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


# ------------------------------------------------------------------ the report on made-up continuations
def _made_up(answer_of: Callable[[Trace, int], str | None], problems: int = 6, per: int = 4, conts: int = 2,
             at: int = 64) -> tuple[TraceSet, list[Continuation]]:
    ts = load_traces(resolve("default"))
    out = [Continuation(p.id, t.index, at, j, j, answer_of(t, j), 10, "stop")
           for p in ts.problems[:problems] for t in ts.traces_of(p.id)[:per] for j in range(conts)]
    return ts, out


def test_continuations_that_repeat_the_recorded_answer_are_fully_determined() -> None:
    ts, conts = _made_up(lambda t, j: t.answer)
    row = determinacy_report(ts, conts, 64, limit=6).row("all")
    assert row.traces == 24 and row.continuations_per_trace == 2 and row.pairs == 6 * 6
    assert row.determinacy == 1.0 and row.whole == 0 and row.in_scope == 24
    assert 0 < row.positives < row.pairs
    assert row.auroc_continuations == (1.0, 1.0)
    assert 0.0 <= row.from_scratch < 1.0


def test_continuations_that_end_elsewhere_carry_no_information() -> None:
    ts, conts = _made_up(lambda t, j: f"{1000 + 37 * t.index + j}")
    row = determinacy_report(ts, conts, 64).row("all")
    assert row.determinacy == 0.0
    assert row.auroc_continuations[1] == 0.5  # every score is 0: no ranking
    assert not math.isnan(row.auroc_lexical)


def test_two_answerless_ends_count_as_the_same() -> None:
    ts, conts = _made_up(lambda t, j: None)
    none_recorded = [c for c in conts if next(t for t in ts.traces_of(c.problem_id) if t.index == c.index).answer
                     is None]
    rep = determinacy_report(ts, none_recorded, 64)
    if none_recorded:  # the shipped set has answer-less traces: their answer-less continuations agree
        assert rep.row("all").determinacy == 1.0


def test_other_cuts_are_ignored_and_bootstrap_intervals_are_seeded() -> None:
    ts, conts = _made_up(lambda t, j: t.answer if j == 0 else "elsewhere")
    conts += [dataclasses.replace(c, at=128, answer="elsewhere") for c in conts]
    a = determinacy_report(ts, conts, 64, bootstrap=50).row("all")
    b = determinacy_report(ts, conts, 64, bootstrap=50).row("all")
    assert a.determinacy == 0.5
    assert a.within_continuations_ci95 == b.within_continuations_ci95 is not None
    assert a.within_lexical_ci95 is not None


def test_cut_whole_traces_are_counted_not_continued() -> None:
    ts = load_traces(resolve("default"))
    row = determinacy_report(ts, [], 100_000).row("all")
    assert row.whole == row.in_scope == 4 * len(ts.problems) and row.whole_share == 1.0 and row.traces == 0


def test_report_of_the_committed_runs_gives_the_published_figures() -> None:
    ts = load_traces(resolve("default"))
    for at in (64, 128):
        header, conts = read_continuations(RESULTS / f"determinacy_default_at{at}_2026-12-03.jsonl")
        assert header is None  # written by the old script: no header line
        got = determinacy_report(ts, conts, at, name="default").to_json()
        want = json.loads((RESULTS / f"determinacy_default_at{at}_2026-12-03.json").read_text())
        for half, row in want["rows"].items():
            for key, value in row.items():
                if not key.endswith("_ci95"):
                    assert got["rows"][half][key] == value, (at, half, key)
    assert round(want["rows"]["all"]["determinacy"], 3) == 0.461


# ------------------------------------------------------------------ continuations from a server
def _inputs(tmp_path: Path) -> tuple[Path, TraceSet]:
    probs = tuple(Problem(f"half-p{k}", f"question {k}", "42") for k in range(3))
    traces = {p.id: tuple(Trace(p.id, i, "".join(f"w{j} " for j in range(n)) + "\\boxed{42}", n + 1,
                                "42" if i else "7", tokens=(*(f"w{j} " for j in range(n)), "\\boxed{42}"))
                          for i, n in ((0, 30), (1, 60), (2, 80)))
              for p in probs}
    header = {"format": "deepprune/traces-v1", "model": "writer", "created": "t0", "name": "x",
              "sampling": {"temperature": 0.6, "top_p": 0.9, "max_tokens": 100}, "system_prompt": "Be brief."}
    src = tmp_path / "in.jsonl"
    write_traces(TraceSet(probs, traces, header), src)
    return src, load_traces(src)


def _server() -> FakeServer:
    return FakeServer(answer_for=lambda seed: "42" if seed % 2 else "7", n_tokens=5)


def _cfg(**kw: Any) -> EndpointConfig:
    return EndpointConfig(**{"base_url": "http://fake/v1", "model": "m", "retries": 0, **kw})


def _run(ts: TraceSet, src: Path, out: Path | None, server: FakeServer, **kw: Any) -> Any:
    cfg = kw.pop("cfg", _cfg())
    return asyncio.run(run_continuations(ts, cfg, kw.pop("at", 40), source=src, out=out,
                                         transport=server.transport(), **kw))


def test_run_continues_prefixes_with_the_recorded_sampling_and_resumes(tmp_path: Path) -> None:
    src, ts = _inputs(tmp_path)
    out = tmp_path / "runs.jsonl"
    server = _server()
    s1, _ = _run(ts, src, out, server, continuations=2, limit=1, recorded_cap=100)
    assert (s1.written, s1.skipped_existing, s1.whole) == (4, 0, 1)  # the 30-token trace is whole at 40
    body = server.bodies[0]
    assert body["max_tokens"] == 60 and body["messages"][-1]["role"] == "assistant"
    assert body["messages"][-1]["content"] == "".join(f"w{j} " for j in range(40))
    # a kill mid-write leaves a torn last line: it is cut off, the rest kept
    with out.open("a") as fh:
        fh.write('{"problem_id": "half-p1", "ind')
    s2, c2 = _run(ts, src, out, server, continuations=2, recorded_cap=100)
    assert (s2.written, s2.skipped_existing, s2.whole) == (8, 4, 3)
    header, saved = read_continuations(out)
    assert header is not None and header["at"] == 40 and header["traces"]["model"] == "writer"
    assert sorted(saved, key=str) == sorted(c2, key=str) and len({(c.problem_id, c.index, c.j) for c in saved}) == 12
    assert {c.answer for c in saved} <= {"42", "7"} and len(server.bodies) == 12
    s3, _ = _run(ts, src, out, server, continuations=2, recorded_cap=100)
    assert s3.written == 0 and len(server.bodies) == 12
    rep = determinacy_report(ts, c2, 40)
    assert [r.half for r in rep.rows] == ["half", "all"] and rep.row("all").traces == 6


def test_without_out_nothing_is_written(tmp_path: Path) -> None:
    src, ts = _inputs(tmp_path)
    s, conts = _run(ts, src, None, _server(), continuations=1)
    assert s.written == len(conts) == 6 and sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


@pytest.mark.parametrize(("change", "field"), [
    ({"cfg": _cfg(model="other")}, "model"),
    ({"at": 50}, "at"),
    ({"cfg": _cfg(temperature=0.1)}, "temperature"),
    ({"recorded_cap": 200}, "max_tokens"),
])
def test_an_out_made_with_other_settings_is_refused_unchanged(tmp_path: Path, change: dict[str, Any],
                                                             field: str) -> None:
    src, ts = _inputs(tmp_path)
    out = tmp_path / "runs.jsonl"
    _run(ts, src, out, _server(), continuations=1, limit=1)
    before = out.read_bytes()
    with pytest.raises(DataError) as ei:
        _run(ts, src, out, _server(), continuations=1, **change)
    assert ei.value.field == field and ei.value.line == 1 and str(out) in str(ei.value)
    assert out.read_bytes() == before


def test_an_out_of_another_trace_file_is_refused(tmp_path: Path) -> None:
    src, ts = _inputs(tmp_path)
    out = tmp_path / "runs.jsonl"
    _run(ts, src, out, _server(), continuations=1, limit=1)
    other = TraceSet(ts.problems, ts.traces, {**ts.header, "created": "t1"})
    with pytest.raises(DataError, match="traces"):
        _run(other, src, out, _server(), continuations=1)


@pytest.mark.parametrize(("text", "field", "exc"), [
    ('{"problem_id": "p", "index": 0, "at": 64, "j": 0, "seed": 1, "answer": "1", "n_tokens": 3}\n',
     "format", DataError),  # the old script's header-less file: report reads it, run does not resume it
    ('{"format": "deepprune/traces-v1"}\n', "format", DataError),
    ("not json at all\n", None, FormatError),
])
def test_a_file_that_is_not_a_run_of_this_command_is_refused_unchanged(tmp_path: Path, text: str,
                                                                       field: str | None, exc: type) -> None:
    src, ts = _inputs(tmp_path)
    out = tmp_path / "runs.jsonl"
    out.write_text(text)
    with pytest.raises(exc) as ei:
        _run(ts, src, out, _server(), continuations=1)
    assert ei.value.field == field and ei.value.line == 1 and str(out) in str(ei.value)
    assert out.read_text() == text


def test_the_input_is_never_the_output(tmp_path: Path) -> None:
    src, ts = _inputs(tmp_path)
    before = src.read_bytes()
    with pytest.raises(ConfigError, match="other than the input"):
        _run(ts, src, src, _server(), continuations=1)
    assert src.read_bytes() == before


@pytest.mark.parametrize(("line", "field"), [
    ("{broken", None),
    ('["a list"]', None),
    ('{"problem_id": "p", "index": "0", "at": 40, "j": 0, "seed": 1, "answer": "1", "n_tokens": 3}', "index"),
    ('{"problem_id": "p", "index": 0, "at": 40, "j": -1, "seed": 1, "answer": "1", "n_tokens": 3}', "j"),
    ('{"problem_id": "p", "index": 0, "at": 40, "j": 0, "seed": 1, "answer": 7, "n_tokens": 3}', "answer"),
    ('{"index": 0, "at": 40, "j": 0, "seed": 1, "answer": "1", "n_tokens": 3}', "problem_id"),
    ('{"problem_id": "p", "index": 0, "at": 64, "j": 0, "seed": 1, "answer": "1", "n_tokens": 3}', "at"),
])
def test_malformed_lines_name_file_line_and_field(tmp_path: Path, line: str, field: str | None) -> None:
    src, ts = _inputs(tmp_path)
    out = tmp_path / "runs.jsonl"
    _run(ts, src, out, _server(), continuations=1, limit=1)
    lines = out.read_text().splitlines()
    lines.insert(2, line)
    out.write_text("\n".join(lines) + "\n")
    before = out.read_bytes()
    for call in (lambda: read_continuations(out), lambda: _run(ts, src, out, _server(), continuations=1)):
        with pytest.raises(DataError) as ei:
            call()
        assert ei.value.line == 3 and ei.value.field == field and f"{out}:3" in str(ei.value)
    assert out.read_bytes() == before


# ------------------------------------------------------------------ the command line
def test_cli_runs_resumes_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    src, _ = _inputs(tmp_path)
    server = _server()
    monkeypatch.setattr(det, "StreamClient", lambda cfg, transport=None: StreamClient(cfg, transport=server.transport()))
    out, js = tmp_path / "runs.jsonl", tmp_path / "rep.json"
    base = ["determinacy", str(src), "--at", "tokens:40", "--base-url", "http://fake/v1", "--model", "m",
            "--continuations", "2", "--bootstrap", "0", "--no-progress"]
    assert main([*base, "--out", str(out), "--limit", "2"]) == 0
    assert main([*base, "--out", str(out), "--json", str(js)]) == 0
    body = server.bodies[-1]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.6, 0.9, 60)  # the file's sampling
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert len(server.bodies) == 12
    assert "| all | 6 | 3/9" in capsys.readouterr().out
    rep = json.loads(js.read_text())
    assert rep["at"] == 40 and rep["rows"]["all"]["traces"] == 6 and rep["rows"]["all"]["whole"] == 3
    # the report path reads the file without a server, and refuses another cut or a bad file
    assert main(["determinacy", "report", str(src), str(out), "--at", "tokens:40", "--json", "-",
                 "--bootstrap", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == rep["rows"]
    assert main(["determinacy", "report", str(src), str(out), "--at", "tokens:64"]) == 1
    assert "--at" in capsys.readouterr().err
    assert main(["determinacy", str(src), "--at", "tokens:40", "--out", str(src), "--base-url", "http://fake/v1",
                 "--model", "m"]) == 1
    assert "not the input" in capsys.readouterr().err
    assert main(["determinacy", str(src), "--at", "tokens:40"]) == 1  # no server given
    assert "--base-url" in capsys.readouterr().err


def test_cli_reports_the_old_scripts_file(capsys: pytest.CaptureFixture[str]) -> None:
    runs = RESULTS / "determinacy_default_at64_2026-12-03.jsonl"
    assert main(["determinacy", "report", "default", str(runs), "--at", "tokens:64", "--bootstrap", "0"]) == 0
    text = capsys.readouterr().out
    assert "| all | 160 | 0/160 (0.0%) | 31.5% | 25.7% | 240 (63) |" in text
    assert "0.766 / 0.599" in text
