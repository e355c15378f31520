"""The per-problem record of a run's results file (``Outcome``, in core/records next to ``BenchRow``):
the JSON view of a ProblemResult, read back validated."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from deepprune.core.records import Outcome
from deepprune.errors import DataError
from deepprune.liverun import LiveRow, ResultsFile, RunSettings, run_live
from deepprune.liverun import Outcome as LiverunOutcome
from deepprune.sources.replay import ReplaySource
from deepprune.synthetic import synthetic_traceset
from deepprune.types import ProblemResult

TS = synthetic_traceset(3, 4, seed=2, mean_tokens=40)


def test_outcome_is_the_json_view_of_a_problem_result() -> None:
    assert LiverunOutcome is Outcome  # still importable from liverun
    ok = Outcome.of(ProblemResult("p", "cons", "4", True, 120, 4, 4, 0, judge_calls=3, wall_s=0.123456))
    assert (ok.answer, ok.correct, ok.tokens, ok.wall_s, ok.judge_calls, ok.failed) == ("4", True, 120, 0.1235, 3, False)
    broken = Outcome.of(ProblemResult("p", "cons", None, False, 40, 4, 2, 0, traces_failed=2,
                                      failures=("HTTP 503", "broke off")))
    assert broken.failed and broken.correct is None and broken.error == "HTTP 503; broke off"
    for o in (ok, broken):
        assert Outcome.from_dict(json.loads(json.dumps(asdict(o)))) == o
    old = {k: v for k, v in asdict(ok).items() if k not in ("judge_calls", "error", "failed")}
    assert Outcome.from_dict(old) == Outcome("4", True, 120, 4, 4, 0, 0, 0.1235)  # optional fields


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
    good = asdict(Outcome("4", True, 10, 1, 1, 0, 0, 0.5))
    with pytest.raises(DataError) as ei:
        Outcome.from_dict(good | change, path="r.jsonl", line=7, field="baseline_result")
    assert ei.value.field == f"baseline_result.{key}" and ei.value.line == 7 and words in str(ei.value)
    with pytest.raises(KeyError):
        Outcome.from_dict({k: v for k, v in good.items() if k != "tokens"})
    with pytest.raises(TypeError, match="unexpected"):
        Outcome.from_dict(good | {"extra": 1})


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
