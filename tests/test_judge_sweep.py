"""Prefix-length sweep and cross-validation by problem."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from deepprune.cli import main
from deepprune.core.errors import ConfigError
from deepprune.core.types import TraceSet
from deepprune.engine.judge_sweep import prefix_sweep
from deepprune.formats import write_traces
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.judges.base import Judge, Pair
from deepprune.judges.crossval import problem_folds
from deepprune.judges.metrics import within_problem_auroc
from deepprune.report import markdown_sweep, plot_sweep

_ROUTE = re.compile(r"step (\d+)-")


class RouteJudge(Judge):
    """Perfect on synthetic traces: every step names the answer's index ("step 2-0")."""

    name = "route"

    def predict_proba(self, pairs: Sequence[Pair]) -> np.ndarray:
        def route(text: str) -> str:
            m = _ROUTE.search(text)
            return m.group(1) if m else ""

        return np.asarray([float(route(p.a) == route(p.b)) for p in pairs])


def _ts(n: int = 8, k: int = 8, seed: int = 0) -> TraceSet:
    return synthetic_traceset(n, k, seed=seed, mean_tokens=120, no_answer_rate=0.0)


def test_problem_folds_are_a_function_of_the_key_only() -> None:
    keys = [f"d/{i}" for i in range(200)]
    a = problem_folds(keys, 5)
    b = problem_folds([*reversed(keys), "d/new"], 5)
    assert all(a[k] == b[k] for k in keys)
    assert set(a.values()) == {0, 1, 2, 3, 4}
    assert 25 < min(np.bincount(list(a.values()))) and max(np.bincount(list(a.values()))) < 60
    with pytest.raises(ConfigError):
        problem_folds(keys, 1)


def test_constant_never_same_judge_saves_nothing_and_oracle_bounds_reduction() -> None:
    ts = _ts()
    pts = prefix_sweep([ts], ["tokens:8", "tokens:64"], ["constant"], orderings=2)
    by = {(p.truncation, p.judge): p for p in pts}
    for cut in ("tokens:8", "tokens:64"):
        const, oracle = by[(cut, "constant")], by[(cut, "oracle")]
        assert const.reduction == pytest.approx(0.0, abs=1e-12)
        assert const.accuracy == const.cons_accuracy
        assert 0.0 < oracle.reduction < 1.0
        assert const.auroc == pytest.approx(0.5) and const.within_auroc == pytest.approx(0.5)
        assert oracle.auroc is None and oracle.within_auroc is None
    # a later cut reveals more and saves less
    assert by[("tokens:8", "oracle")].prefix_share < by[("tokens:64", "oracle")].prefix_share
    assert by[("tokens:8", "oracle")].reduction > by[("tokens:64", "oracle")].reduction


def test_perfect_judge_matches_the_oracle_row() -> None:
    ts = _ts(seed=3)
    pts = prefix_sweep([ts], ["tokens:16"], ["route"], make=lambda name: RouteJudge(), orderings=2)
    oracle, judge = pts
    assert judge.auroc == pytest.approx(1.0) and judge.within_auroc == pytest.approx(1.0)
    assert judge.reduction == pytest.approx(oracle.reduction)
    assert judge.accuracy == pytest.approx(oracle.accuracy)
    assert judge.judge_calls_per_problem > 0
    md = markdown_sweep(pts)
    assert "| tokens:16 | 16 |" in md and "route" in md


def test_trained_judge_is_cross_validated_by_problem() -> None:
    pytest.importorskip("torch")
    from deepprune.judges.crossval import cross_validate
    from deepprune.judges.pairs import build_pairs
    from deepprune.judges.training import JudgeTrainingArgs

    ts = _ts(n=15, k=6)
    data = build_pairs([ts], "tokens:16")
    cv = cross_validate(data, JudgeTrainingArgs(encoder="none", epochs=3, threads=1), folds=3)
    assert np.isfinite(cv.scores).all()
    assert cv.within_auroc == pytest.approx(within_problem_auroc(data.labels, cv.scores, data.pair_problems()))
    for problem, fold in cv.fold_of.items():
        judge = cv.judge_for(problem)
        assert problem not in judge.info_["train_problems"]
        others = {p for p, f in cv.fold_of.items() if f != fold}
        assert set(judge.info_["train_problems"]) == others
    pts = prefix_sweep([ts], ["tokens:16"], ["trained"], folds=3,
                       training=JudgeTrainingArgs(encoder="none", epochs=3, threads=1))
    trained = pts[1]
    assert trained.judge == "trained" and trained.fold_mean_auroc is not None and 0 <= trained.auroc <= 1
    assert trained.within_auroc is not None and 0 <= trained.within_auroc <= 1


def test_cli_sweep_writes_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    src = tmp_path / "t.jsonl"
    write_traces(_ts(), src)
    out, png = tmp_path / "sweep.json", tmp_path / "sweep.png"
    assert main(["judge", "sweep", str(src), "--truncate", "tokens:8", "tokens:32", "-j", "lexical",
                 "-j", "constant", "--json", str(out), "--plot", str(png)]) == 0
    doc = json.loads(out.read_text())
    assert doc["command"].startswith("deepprune judge sweep")
    assert {(p["truncation"], p["judge"]) for p in doc["points"]} == {
        (c, j) for c in ("tokens:8", "tokens:32") for j in ("oracle", "lexical", "constant")}
    assert png.stat().st_size > 10_000
    assert all(("within_auroc" in p) and (p["within_auroc"] is None) == (p["judge"] == "oracle")
               for p in doc["points"])
    captured = capsys.readouterr()
    assert "DeepPrune (paper's rule) tokens vs cons" in captured.out and "| AUROC within problems |" in captured.out
    assert "no recovery of pruned traces (`deepprune:recover=0`)" in captured.out
    assert "within problems" in captured.err
    assert main(["judge", "sweep", str(src), "-j", "nosuch"]) == 1
    assert "--judge" in capsys.readouterr().err


def test_plot_sweep_handles_several_datasets(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    pts = prefix_sweep([_ts(seed=1), synthetic_traceset(5, 4, seed=2, name="other", mean_tokens=80)],
                       ["tokens:8", "tokens:16"], ["lexical"])
    assert {p.dataset for p in pts} == {"synthetic", "other"}
    assert plot_sweep(pts, tmp_path / "s.png").stat().st_size > 10_000
