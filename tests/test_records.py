"""The result records: ProblemResult's typed failure fields, BenchRow.from_dict, n/a vs failure in bench."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pytest

from deepprune.core import Action, Launch, RunContext, Stop
from deepprune.core.errors import DataError, NotApplicable, ProtocolError
from deepprune.core.records import BenchRow, read_row
from deepprune.core.types import ProblemResult, TraceSet
from deepprune.engine.bench import bench
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.strategies.cons import ConsensusStrategy
from deepprune.strategies.registry import _REGISTRY, register


@pytest.fixture(scope="module")
def synth() -> TraceSet:
    return synthetic_traceset(n_problems=4, k=6, seed=3, mean_tokens=60)


@pytest.fixture
def rows(synth: TraceSet) -> list[BenchRow]:
    return bench([synth], ["cons", "oracle:prefix=tokens:8", "deepconf"], orderings=2)


def test_bench_rows_round_trip_through_json(rows: list[BenchRow]) -> None:
    assert rows[2].not_applicable  # the synthetic traces have no confidences
    for i, row in enumerate(rows):
        back = BenchRow.from_dict(json.loads(json.dumps(row.to_dict())), path="r.json", index=i)
        for key, value in row.to_dict().items():
            got = getattr(back, key)
            assert got == value or (isinstance(value, float) and math.isnan(value) and math.isnan(got)), key


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"tokens": "many"}, "[0].tokens", "expected a number"),
    ({"tokens": -3}, "[0].tokens", "non-negative"),
    ({"accuracy": 1.5}, "[0].accuracy", "[0, 1]"),
    ({"problems": 2.5}, "[0].problems", "whole number"),
    ({"orderings": 0}, "[0].orderings", "> 0"),
    ({"judge_calls": -1}, "[0].judge_calls", ">= 0"),
    ({"params": ["a"]}, "[0].params", "expected an object"),
    ({"model": 3}, "[0].model", "expected a string"),
    ({"problems": None}, "[0].problems", "must not be null"),
    ({"traces_per_problem": math.inf}, "[0].traces_per_problem", "finite"),
    ({"latency": -0.5}, "[0].latency", ">= 0"),
    ({"steps_per_problem": "long"}, "[0].steps_per_problem", "expected a number"),
])
def test_from_dict_names_the_field(rows: list[BenchRow], change: dict[str, Any], field: str, words: str) -> None:
    rec = rows[0].to_dict() | change
    with pytest.raises(DataError) as ei:
        BenchRow.from_dict(rec, path="r.json")
    assert ei.value.field == field and ei.value.path == "r.json" and words in str(ei.value)


def test_from_dict_wants_every_field_but_read_row_does_not(rows: list[BenchRow]) -> None:
    rec = {k: v for k, v in rows[0].to_dict().items() if k != "traces_stopped"}
    with pytest.raises(DataError, match="missing required field") as ei:
        BenchRow.from_dict(rec, index=4)
    assert ei.value.field == "[4].traces_stopped"
    assert read_row(rec)["traces_stopped"] is None
    with pytest.raises(DataError, match="JSON object"):
        read_row(["cons"])
    assert BenchRow.from_dict(rows[0].to_dict() | {"command": "deepprune bench x"}) == rows[0]


def test_rows_carry_the_replay_clock_and_older_rows_without_it_still_load(rows: list[BenchRow]) -> None:
    cons, oracle = rows[0], rows[1]
    assert cons.latency == 1.0 and cons.steps_per_problem is not None and cons.steps_per_problem > 0
    assert oracle.latency is not None and oracle.latency <= 1.0  # stops traces, waits for no more
    assert rows[2].latency is None  # n/a
    old = {k: v for k, v in cons.to_dict().items() if k not in ("latency", "steps_per_problem")}
    back = BenchRow.from_dict(old)
    assert back.latency is None and back.steps_per_problem is None


def test_problem_result_failure_fields() -> None:
    ok = ProblemResult("p", "cons", "1", True, 10, 2, 2, 0)
    assert not ok.failed and ok.traces_failed == 0 and ok.error is None
    broken = ProblemResult("p", "cons", None, None, 4, 2, 0, 0, traces_failed=2, failures=("HTTP 503",))
    assert broken.failed
    assert ProblemResult("p", "?", None, False, 0, 0, 0, 0, error="boom").failed


class _StopsAGhost(ConsensusStrategy):
    name = "stops-a-ghost"

    def start(self, ctx: RunContext) -> Sequence[Action]:
        return [Launch(1), Stop(99)]


class _NeedsSomething(ConsensusStrategy):
    name = "needs-something"

    def start(self, ctx: RunContext) -> Sequence[Action]:
        raise NotApplicable("needs something these traces lack")


@pytest.fixture
def broken_strategies() -> Any:
    register("stops-a-ghost")(lambda params: _StopsAGhost)
    register("needs-something")(lambda params: _NeedsSomething)
    yield
    _REGISTRY.pop("stops-a-ghost")
    _REGISTRY.pop("needs-something")


def test_bench_shows_not_applicable_as_na_and_a_protocol_error_as_a_failure(
        synth: TraceSet, broken_strategies: None) -> None:
    (na,) = bench([synth], ["needs-something"])
    assert na.not_applicable == "needs something these traces lack" and math.isnan(na.accuracy)
    # with raise_on_error=False too: n/a is about the data, not one problem
    (na2,) = bench([synth], ["needs-something"], raise_on_error=False)
    assert na2.not_applicable and na2.errors == 0
    with pytest.raises(ProtocolError, match="never launched"):
        bench([synth], ["stops-a-ghost"])
    (failed,) = bench([synth], ["stops-a-ghost"], raise_on_error=False)
    assert failed.not_applicable is None and failed.errors == len(synth.problems)
