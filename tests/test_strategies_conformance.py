"""One conformance suite over every registered strategy (and the parameter variants of issue 4):
never exceeds cons@K tokens, deterministic under a seed, returns an answer when a trace finishes.
"""

from __future__ import annotations

import pytest

from deepprune.core.errors import StrategyError
from deepprune.core.types import ProblemResult, TraceSet
from deepprune.engine.runner import run_sync
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.sources.replay import ReplaySource
from deepprune.strategies.registry import available, build

VARIANTS = [
    "deepprune:judge=lexical,tau=0.5",
    "deepprune:judge=noisy-oracle,auroc=0.8,prefix=tokens:64",
    "deepprune:judge=noisy-oracle,auroc=0.95,vote=largest,k2=5",
    "deepprune:judge=constant,same=1.0,vote=largest,k2=3",
    "deepprune:judge=constant,vote=largest,k3=4,kmax=none",
    "deepprune:judge=lexical,p=3,kmax=4,prefix=words:5",
    "deepconf:score=bottom10,keep=0.1,window=32",
    "deepconf:score=tail,weighted=false,window=32",
    "deepconf-low:window=32,warmup=8,parallel=4",
    "deepconf-high:window=32,consensus=1.01",
    "esc:w=3",
    "adaptive:parallel=4,threshold=0.9",
    "oracle:prefix=tokens:32",
    "cisc:temperature=inf",
    "cisc:score=logprob,temperature=0.01",
    "cisc:score=bottom10,temperature=2,window=32",
    "self-certainty:p=0",
    "self-certainty:p=2,k=5",
    "rpc:prune=mean",
    "rpc:prune=none,dedup=false",
    "probe-exit:every=32,agree=2",
    "probe-exit:consensus=off",
    "deepprune:probe=on,prefix=tokens:64",
    "deepprune:probe=on,prefix=tokens:32,trust_probes=off,probe_weight=0.5",
    "slim-sc:threshold=0.2,every=16,prune=redundant",
    "slim-sc:threshold=0,every=1",
    "st-bon:buffer=0,min_tokens=32",
    "st-bon:every=1,max_tokens=8",
]
SPECS = sorted(available()) + VARIANTS
K = 24


@pytest.fixture(scope="module")
def traces() -> TraceSet:
    # probes every 32 tokens (for probe-exit and deepprune:probe=on; other strategies ignore them)
    return synthetic_traceset(n_problems=4, k=K, seed=7, mean_tokens=240, with_confs=True, no_answer_rate=0.0,
                              probe_every=32)


def _run(spec: str, ts: TraceSet, ordering_seed: int) -> list[ProblemResult]:
    return run_sync(build(spec), ReplaySource(ts, ordering_seed=ordering_seed), list(ts.problems),
                    budget=K, seed=ordering_seed)


@pytest.fixture(scope="module")
def cons_results(traces: TraceSet) -> dict[int, list[ProblemResult]]:
    return {r: _run("cons", traces, r) for r in (0, 1)}


@pytest.mark.parametrize("spec", SPECS)
def test_never_exceeds_cons_budget(spec: str, traces: TraceSet, cons_results: dict[int, list[ProblemResult]]) -> None:
    for r in (0, 1):
        res = _run(spec, traces, r)
        for got, ref in zip(res, cons_results[r], strict=True):
            assert got.traces_launched <= K
            # answer probes are an overhead charged on top of the traces' own tokens (reported apart)
            own = got.tokens - int(got.info.get("probe_tokens", 0))
            assert own <= ref.tokens, (spec, got.problem_id, got.tokens, ref.tokens)


@pytest.mark.parametrize("spec", SPECS)
def test_deterministic_under_a_seed(spec: str, traces: TraceSet) -> None:
    a = _run(spec, traces, 3)
    b = _run(spec, traces, 3)
    key = [(x.answer, x.tokens, x.traces_launched, x.traces_finished, x.judge_calls, x.judge_tokens) for x in a]
    assert key == [(x.answer, x.tokens, x.traces_launched, x.traces_finished, x.judge_calls, x.judge_tokens)
                   for x in b]


@pytest.mark.parametrize("spec", SPECS)
def test_answers_when_a_trace_finishes(spec: str, traces: TraceSet) -> None:
    for res in _run(spec, traces, 5):
        if res.traces_finished > 0:
            assert res.answer is not None, (spec, res)


@pytest.mark.parametrize("spec", ["deepconf", "deepconf-low", "deepconf-high", "cisc", "cisc:score=mean",
                                  "self-certainty", "rpc"])
def test_confidence_strategies_refuse_data_without_confidences(spec: str) -> None:
    ts = synthetic_traceset(n_problems=1, k=4, seed=1, with_confs=False)
    with pytest.raises(StrategyError, match="confidences"):
        run_sync(build(spec), ReplaySource(ts), list(ts.problems), budget=4)
