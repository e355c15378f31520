"""The judge registry and the dependency-free judges (lexical, noisy-oracle, constant)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from deepprune.core.errors import ConfigError, StrategyError
from deepprune.core.types import AnswerKind, Problem
from deepprune.judges import registry
from deepprune.judges.base import Judge, Pair
from deepprune.judges.lexical import LexicalJudge
from deepprune.judges.registry import available_judges, make_judge, register_judge, register_path_loader
from deepprune.judges.simulated import ConstantJudge, NoisyOracleJudge, auroc_to_mu
from deepprune.strategies.base import RunContext
from deepprune.strategies.registry import build


def _ctx(answers: list[str | None], seed: int = 0) -> RunContext:
    return RunContext(Problem("p", "q", "1", AnswerKind.INTEGER), budget=len(answers), seed=seed,
                      peek_answer=lambda i: answers[i])


def test_registry_names_and_errors(tmp_path: Path) -> None:
    assert {"lexical", "noisy-oracle", "constant"} <= set(available_judges())
    assert isinstance(make_judge("lexical", {"ngram": "1"}), LexicalJudge)
    with pytest.raises(ConfigError, match="lexical"):
        make_judge("no-such-judge")
    saved = registry._PATH_LOADER[:]
    try:
        registry._PATH_LOADER.clear()
        with pytest.raises(ConfigError, match="saved judge directory"):
            make_judge(str(tmp_path))
        seen: list[Path] = []

        def loader(path: Path, params: dict[str, str]) -> Judge:
            seen.append(path)
            params.pop("threshold", None)
            return ConstantJudge(0.3)

        register_path_loader(loader)
        judge = make_judge(str(tmp_path), {"threshold": "1"})
        assert seen == [tmp_path] and isinstance(judge, ConstantJudge)
    finally:
        registry._PATH_LOADER[:] = saved


def test_register_judge_extends_deepprune_without_editing_it() -> None:
    register_judge("test-half", lambda params: ConstantJudge(0.5), "test")
    try:
        build("deepprune:judge=test-half")
        with pytest.raises(ConfigError, match="bogus"):
            build("deepprune:judge=test-half,bogus=1")  # leftover keys are rejected by name
    finally:
        registry._JUDGES.pop("test-half")


def test_lexical_scores() -> None:
    j = LexicalJudge()
    p = j.predict_proba([Pair("so x = 2 then y", "so x = 2 then y"), Pair("so x = 2", "wait a cube"),
                         Pair("", "")])
    assert p.shape == (3,) and p.dtype == np.float64
    assert p[0] == 1.0 and p[1] == 0.0 and p[2] == 1.0
    assert 0 < j.predict_proba([Pair("so x = 2 then", "so x = 3 then")])[0] < 1


@pytest.mark.parametrize("auroc", [0.6, 0.75, 0.9, 0.97])
def test_noisy_oracle_reaches_the_chosen_auroc(auroc: float) -> None:
    rng = np.random.default_rng(0)
    answers: list[str | None] = [str(a) for a in rng.choice(4, size=200, p=[0.6, 0.2, 0.1, 0.1])]
    ctx = _ctx(answers, seed=5)
    pairs = [Pair("", "", ids=(i, j), context=ctx) for i in range(200) for j in range(i + 1, 200)]
    scores = NoisyOracleJudge(auroc).predict_proba(pairs)
    labels = [int(answers[i] == answers[j]) for i in range(200) for j in range(i + 1, 200)]
    assert roc_auc_score(labels, scores) == pytest.approx(auroc, abs=0.01)
    # tau = 0.5 is the midpoint: both error rates equal Phi(-mu/2)
    y = np.asarray(labels, dtype=bool)
    assert np.mean(scores[y] <= 0.5) == pytest.approx(np.mean(scores[~y] > 0.5), abs=0.02)


def test_noisy_oracle_is_a_fixed_function_of_the_pair() -> None:
    ctx = _ctx(["1", "1", "2", None, None])
    j = NoisyOracleJudge(0.8, seed=3)
    a = j.predict_proba([Pair("", "", ids=(0, 2), context=ctx), Pair("", "", ids=(3, 4), context=ctx)])
    b = j.predict_proba([Pair("", "", ids=(3, 4), context=ctx), Pair("", "", ids=(2, 0), context=ctx)])
    assert a[0] == b[1] and a[1] == b[0]
    perfect = NoisyOracleJudge(1.0).predict_proba(
        [Pair("", "", ids=(0, 1), context=ctx), Pair("", "", ids=(0, 2), context=ctx),
         Pair("", "", ids=(3, 4), context=ctx)])
    assert perfect.tolist() == [1.0, 0.0, 1.0]  # two missing answers count as the same outcome


def test_noisy_oracle_refuses_live_pairs() -> None:
    with pytest.raises(StrategyError, match="replay"):
        NoisyOracleJudge(0.9).predict_proba([Pair("a", "b")])
    with pytest.raises(ConfigError, match="auroc"):
        auroc_to_mu(0.4)
    with pytest.raises(ConfigError, match="auroc"):
        build("deepprune:judge=noisy-oracle,auroc=1.2")
