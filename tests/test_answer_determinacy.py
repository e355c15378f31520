"""benchmarks/answer_determinacy.py: the report's figures on continuations made up from the
shipped dataset (copies of the recorded answers, or answers no trace has)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

from deepprune.formats.datasets import resolve
from deepprune.formats.loaders import load_traces

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "answer_determinacy.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("answer_determinacy", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _write(path: Path, answer_of: object, problems: int = 6, per: int = 4, conts: int = 2) -> None:
    ts = load_traces(resolve("default"))
    with path.open("w") as fh:
        for p in ts.problems[:problems]:
            for t in ts.traces_of(p.id)[:per]:
                for j in range(conts):
                    a = answer_of(t, j)  # type: ignore[operator]
                    fh.write(json.dumps({"problem_id": p.id, "index": t.index, "at": 64, "j": j, "seed": j,
                                         "answer": a, "n_tokens": 10, "finish_reason": "stop"}) + "\n")


def test_continuations_that_repeat_the_recorded_answer_are_fully_determined(tmp_path: Path) -> None:
    runs = tmp_path / "copies.jsonl"
    _write(runs, lambda t, j: t.answer)
    row = _script().report("default", [str(runs)], 64)["rows"]["all"]
    assert row["traces"] == 24 and row["continuations_per_trace"] == 2 and row["pairs"] == 6 * 6
    assert row["determinacy"] == 1.0
    assert 0 < row["positives"] < row["pairs"]
    assert row["auroc_continuations_1"] == 1.0 and row["auroc_continuations_2"] == 1.0
    assert 0.0 <= row["from_scratch"] < 1.0


def test_continuations_that_end_elsewhere_carry_no_information(tmp_path: Path) -> None:
    runs = tmp_path / "elsewhere.jsonl"
    _write(runs, lambda t, j: f"{1000 + 37 * t.index + j}")
    row = _script().report("default", [str(runs)], 64)["rows"]["all"]
    assert row["determinacy"] == 0.0
    assert row["auroc_continuations_2"] == 0.5  # every score is 0: no ranking
    assert not math.isnan(row["auroc_lexical"])


def test_other_cuts_in_the_file_are_ignored(tmp_path: Path) -> None:
    runs = tmp_path / "copies.jsonl"
    _write(runs, lambda t, j: t.answer)
    lines = [json.loads(x) for x in runs.read_text().splitlines()]
    with runs.open("a") as fh:
        for r in lines:
            fh.write(json.dumps({**r, "at": 128, "answer": "elsewhere"}) + "\n")
    assert _script().report("default", [str(runs)], 64)["rows"]["all"]["determinacy"] == 1.0
