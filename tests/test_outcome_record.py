"""The per-problem record of a run's results file: a ProblemResult's ``to_dict``, read back validated
by ``ProblemResult.from_dict``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from deepprune.core.errors import DataError
from deepprune.core.types import ProblemResult
from deepprune.engine.liverun import LiveRow, ResultsFile, RunSettings, run_live
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.sources.replay import ReplaySource

TS = synthetic_traceset(3, 4, seed=2, mean_tokens=40)


def test_outcome_is_the_json_view_of_a_problem_result() -> None:
    ok = ProblemResult("p", "cons", "4", True, 120, 4, 4, 0, judge_calls=3, wall_s=0.123456).recorded()
    assert (ok.answer, ok.correct, ok.tokens, ok.wall_s, ok.judge_calls, ok.failed) == ("4", True, 120, 0.1235, 3, False)
    broken = ProblemResult("p", "cons", None, False, 40, 4, 2, 0, traces_failed=2,
                           failures=("HTTP 503", "broke off")).recorded()
    assert broken.failed and broken.correct is None and broken.to_dict()["error"] == "HTTP 503; broke off"
    for o in (ok, broken):
        assert ProblemResult.from_dict(json.loads(json.dumps(o.to_dict())), problem_id="p", strategy="cons") == o
    old = {k: v for k, v in ok.to_dict().items() if k not in ("judge_calls", "error", "failed")}
    assert ProblemResult.from_dict(old, problem_id="p", strategy="cons") == ProblemResult(
        "p", "cons", "4", True, 120, 4, 4, 0, wall_s=0.1235)  # optional fields


@pytest.mark.parametrize(("change", "key", "words"), [
    ({"tokens": "many"}, "tokens", "expected a number"),
    ({"tokens": -1}, "tokens", ">= 0"),
    ({"traces_failed": 1.5}, "traces_failed", "whole number"),
    ({"wall_s": None}, "wall_s", "must not be null"),
    ({"failed": "no"}, "failed", "true or false"),
    ({"correct": 1}, "correct", "true or false"),
    ({"answer": 4}, "answer", "expected a string"),
])
def test_from_dict_names_the_field(change: dict[str, Any], key: str, words: str) -> None:
    good = ProblemResult("p", "cons", "4", True, 10, 1, 1, 0, wall_s=0.5).to_dict()
    with pytest.raises(DataError) as ei:
        ProblemResult.from_dict(good | change, path="r.jsonl", line=7, field="baseline_result")
    assert ei.value.field == f"baseline_result.{key}" and ei.value.line == 7 and words in str(ei.value)
    with pytest.raises(KeyError):
        ProblemResult.from_dict({k: v for k, v in good.items() if k != "tokens"})
    with pytest.raises(TypeError, match="unexpected"):
        ProblemResult.from_dict(good | {"extra": 1})


def test_a_corrupted_results_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    settings = RunSettings("cons", budget=4)
    with ResultsFile(path, settings) as out:
        rows = asyncio.run(run_live(list(TS.problems), ReplaySource(TS), settings, results=out))
    lines = path.read_text().splitlines()
    assert [LiveRow.from_record(json.loads(x)) for x in lines[1:]] == rows  # read back as written
    rec = json.loads(lines[2])
    rec["result"]["tokens"] = "lots"
    lines[2] = json.dumps(rec)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as ei:
        ResultsFile(path, settings)
    assert ei.value.line == 3 and ei.value.field == "result.tokens" and str(path) in str(ei.value)


@pytest.mark.parametrize("result", [
    ProblemResult("p1", "esc:w=4", "7", False, 300, 8, 5, 3, judge_calls=2, wall_s=1.5),
    ProblemResult("p2", "cons", "7", None, 80, 4, 3, 0, traces_failed=1, failures=("HTTP 500",), wall_s=0.25),
    ProblemResult("p3", "cons", None, None, 0, 0, 0, 0, error="no traces"),
])
def test_to_dict_then_from_dict_gives_the_result_back(result: ProblemResult) -> None:
    rec = json.loads(json.dumps(result.to_dict()))
    back = ProblemResult.from_dict(rec, problem_id=result.problem_id, strategy=result.strategy)
    assert back == result.recorded()
    assert back.to_dict() == rec  # and the line it came from
    if not result.failures and result.error is None:
        assert back == result  # nothing the file drops: the same result


def test_a_failed_result_from_an_older_file_is_not_graded() -> None:
    rec = ProblemResult("p", "cons", None, False, 40, 4, 2, 0, traces_failed=2).to_dict()
    del rec["failed"]
    rec["correct"] = False
    back = ProblemResult.from_dict(rec, problem_id="p", strategy="cons")
    assert back.failed and back.correct is None


def test_a_bad_field_names_file_line_and_field() -> None:
    good = ProblemResult("p", "cons", "4", True, 10, 1, 1, 0).to_dict()
    with pytest.raises(DataError) as ei:
        ProblemResult.from_dict(good | {"traces_launched": -2}, path="runs/a.jsonl", line=12)
    assert (ei.value.path, ei.value.line, ei.value.field) == ("runs/a.jsonl", 12, "result.traces_launched")
    assert str(ei.value).startswith("runs/a.jsonl:12, field 'result.traces_launched': must be >= 0")
    with pytest.raises(DataError, match="expected a JSON object") as ei:
        ProblemResult.from_dict(["4"], path="runs/a.jsonl", line=3, field="baseline_result")
    assert (ei.value.line, ei.value.field) == (3, "baseline_result")
