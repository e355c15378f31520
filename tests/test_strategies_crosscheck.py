"""Cross-checks between strategies (issue 4's "done when"), hand-computed DeepConf / ESC /
Adaptive examples, and DeepPrune's clustering and vote rules on small hand-made trace sets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from deepprune.core.errors import ConfigError
from deepprune.core.prefix import Truncation
from deepprune.core.types import AnswerKind, Problem, ProblemResult, Trace, TraceSet
from deepprune.engine.runner import run_sync
from deepprune.formats.loaders import load_traces
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.judges.base import Judge, Pair
from deepprune.sources.replay import ReplaySource
from deepprune.strategies.deepprune import DeepPruneConfig, DeepPruneStrategy
from deepprune.strategies.registry import build


def _run(spec: str | object, ts: TraceSet, ordering_seed: int | None = 0, budget: int | None = None) -> list[ProblemResult]:
    factory = build(spec) if isinstance(spec, str) else spec
    k = budget or max(len(ts.traces_of(p.id)) for p in ts.problems)
    return run_sync(factory, ReplaySource(ts, ordering_seed=ordering_seed), list(ts.problems),  # type: ignore[arg-type]
                    budget=k, seed=ordering_seed or 0)


def _hand(answers: Sequence[str | None], lengths: Sequence[int], confs: Sequence[Sequence[float]] | None = None,
          gold: str = "1") -> TraceSet:
    p = Problem("p", "q", gold, AnswerKind.INTEGER)
    traces = tuple(
        Trace("p", i, " ".join(["so"] * n), n, a, confs=None if confs is None else tuple(confs[i]))
        for i, (a, n) in enumerate(zip(answers, lengths, strict=True)))
    return TraceSet((p,), {"p": traces}, {}, "hand")


@pytest.fixture(scope="module")
def synth() -> TraceSet:
    return synthetic_traceset(n_problems=5, k=16, seed=11, mean_tokens=200, n_answers=5, majority_share=0.5)


@pytest.fixture(scope="module")
def math100(math100_path: Path) -> TraceSet:
    ts = load_traces(math100_path)
    keep = ts.problems[:25]
    return TraceSet(keep, {p.id: ts.traces_of(p.id) for p in keep}, ts.header, ts.name)


def _same(a: list[ProblemResult], b: list[ProblemResult]) -> None:
    assert [(x.answer, x.tokens) for x in a] == [(x.answer, x.tokens) for x in b]


# ------------------------------------------------------------------ DeepPrune = cons@K / = oracle
@pytest.mark.parametrize("ordering_seed", [0, 1, 2])
def test_never_same_judge_equals_cons(synth: TraceSet, ordering_seed: int) -> None:
    cons = _run("cons", synth, ordering_seed)
    for spec in ("deepprune:judge=constant,kmax=none", "deepprune:judge=constant,kmax=none,vote=largest,k3=16"):
        _same(_run(spec, synth, ordering_seed), cons)


def test_never_same_judge_equals_cons_on_math100(math100: TraceSet) -> None:
    for r in (0, 1):
        _same(_run("deepprune:judge=constant,kmax=none,prefix=words:3", math100, r), _run("cons", math100, r))


@pytest.mark.parametrize("prefix", ["words:25", "words:3", "tokens:40"])
def test_perfect_judge_representatives_equals_oracle(synth: TraceSet, prefix: str) -> None:
    for r in (0, 1):
        dp = _run(f"deepprune:judge=noisy-oracle,auroc=1.0,kmax=none,recover=0,prefix={prefix}", synth, r)
        orc = _run(f"oracle:prefix={prefix}", synth, r)
        _same(dp, orc)
        assert sum(x.judge_calls for x in dp) > 0


def test_perfect_judge_equals_oracle_on_math100(math100: TraceSet) -> None:
    for prefix in ("words:3", "tokens:64"):
        _same(_run(f"deepprune:judge=noisy-oracle,auroc=1.0,kmax=none,recover=0,prefix={prefix}", math100, 0),
              _run(f"oracle:prefix={prefix}", math100, 0))


# ------------------------------------------------------------------ recovery of pruned traces
@pytest.mark.parametrize("ordering_seed", [0, 1, 2])
def test_perfect_judge_with_recovery_answers_as_cons(synth: TraceSet, ordering_seed: int) -> None:
    """Pure clusters: the estimated counts are the true ones, so recovery only confirms cons@K's
    answer (ties are resolved the way cons@K resolves them), at no more than cons@K's tokens."""
    cons = _run("cons", synth, ordering_seed)
    dp = _run("deepprune:judge=noisy-oracle,auroc=1.0,kmax=none,prefix=tokens:20,recover=2", synth, ordering_seed)
    assert [x.answer for x in dp] == [x.answer for x in cons]
    assert all(d.tokens <= c.tokens for d, c in zip(dp, cons, strict=True))
    assert sum(x.info["recovered"] for x in dp) > 0


@pytest.mark.parametrize("ordering_seed", [0, 1])
def test_full_recovery_of_merge_everything_judge_is_cons(synth: TraceSet, ordering_seed: int) -> None:
    """A judge that merges every trace, with a lead no problem can reach: every pruned trace is
    resumed, so the answer and the tokens are exactly cons@K's (nothing charged twice)."""
    cons = _run("cons", synth, ordering_seed)
    dp = _run("deepprune:judge=constant,same=1.0,kmax=none,prefix=tokens:20,recover=1000", synth, ordering_seed)
    _same(dp, cons)
    # every trace but the representative and its verifier (never stopped) was pruned, then resumed
    assert all(x.info["recovered"] == x.traces_launched - 2 for x in dp)


def test_recovery_stops_once_the_winner_leads() -> None:
    # every trace joins trace 0's cluster; trace 0 says "1", pruned traces resume lowest-p first
    ts = _hand(["1", "1", "1", "2", "1", "1"], [50, 60, 70, 80, 90, 100])
    (res,) = _run("deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=2,verifiers=0,recover_batch=need", ts, None)
    assert res.answer == "1"
    assert res.info["recovered"] == 1  # one more "1" gives a lead of 2 finished votes
    assert res.tokens == 50 + 60 + 4 * 10


def test_futility_stops_recovery_on_a_diffuse_problem() -> None:
    # every trace merges into trace 0's cluster; all answers differ: no answer can lead by 2
    ts = _hand([str(i) for i in range(12)], [50 + i for i in range(12)])
    (full,) = _run("deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=2,verifiers=0,recover_batch=need", ts, None)
    assert full.info["recovered"] == 11  # without futility every pruned trace is resumed
    (gave_up,) = _run("deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=2,verifiers=0,recover_batch=need,futile=0.3,futile_after=4",
                      ts, None)
    assert gave_up.info["recovered"] == 3  # 4 finished, the top answer holds 1 < 0.3 * 4 of them: stop
    assert gave_up.tokens < full.tokens


def test_recovery_budget_stops_resuming_at_recover_max_finished_traces() -> None:
    ts = _hand([str(i) for i in range(12)], [50 + i for i in range(12)])
    (full,) = _run("deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=2,verifiers=0,recover_batch=need", ts, None)
    (capped,) = _run("deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=2,verifiers=0,recover_batch=need,recover_max=5", ts, None)
    assert capped.info["recovered"] == 4 and capped.info["recovery_capped"]  # 1 representative + 4 resumed
    assert capped.traces_finished == 5
    assert capped.tokens == sum(50 + i for i in range(5)) + 7 * 10
    assert not full.info["recovery_capped"]
    # a budget of at least K never binds: the run is the uncapped one
    (loose,) = _run("deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=2,verifiers=0,recover_batch=need,recover_max=12", ts, None)
    assert (loose.answer, loose.tokens, loose.info["recovered"]) == (full.answer, full.tokens, full.info["recovered"])
    assert not loose.info["recovery_capped"]


def test_capped_vote_counts_finished_traces_not_unchecked_merges() -> None:
    # all merge into trace 0's cluster ("1"); resumed lowest id first: "2", "2"; then the budget is
    # spent. Uncapped, the five unchecked merges would vote "1" with the representative; capped,
    # only what finished votes: "2" (2) over "1" (1).
    ts = _hand(["1", "2", "2", "1", "1", "1", "1", "1"], [50, 60, 70, 80, 90, 100, 110, 120])
    (capped,) = _run("deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=2,verifiers=0,recover_batch=need,recover_max=3", ts, None)
    assert capped.info["recovery_capped"] and capped.info["recovered"] == 2
    assert capped.answer == "2"
    assert capped.tokens == 50 + 60 + 70 + 5 * 10
    # with trust, merges at or above the trust level still vote (the constant judge says 1.0)
    (trusted,) = _run("deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=2,verifiers=0,recover_batch=need,recover_max=3,trust=0.9",
                      ts, None)
    assert trusted.answer == "1" and trusted.info["recovered"] == 0
    # vote=confidence follows the same rule: with equal confidences it is the capped vote above
    lengths = [50, 60, 70, 80, 90, 100, 110, 120]
    conf = _hand(["1", "2", "2", "1", "1", "1", "1", "1"], lengths, confs=[[2.0] * n for n in lengths])
    (cv,) = _run("deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=2,verifiers=0,recover_batch=need,recover_max=3,vote=confidence,"
                 "conf_keep=1.0", conf, None)
    assert (cv.answer, cv.tokens, cv.info["recovery_capped"]) == ("2", capped.tokens, True)


def test_confidence_vote_with_equal_confidences_is_the_recovery_vote() -> None:
    answers = ["1", "2", "1", "1", "2", "3", "1", "2"]
    lengths = [50, 60, 70, 80, 90, 100, 110, 120]
    ts = _hand(answers, lengths, confs=[[2.0] * n for n in lengths])
    for judge in ("constant", "constant,same=1.0", "noisy-oracle,auroc=0.8"):
        a = _run(f"deepprune:judge={judge},prefix=tokens:10", ts, 0)
        b = _run(f"deepprune:judge={judge},prefix=tokens:10,vote=confidence,conf_keep=1.0", ts, 0)
        assert [(x.answer, x.tokens) for x in a] == [(x.answer, x.tokens) for x in b]


def test_confidence_vote_weights_votes_by_trace_confidence() -> None:
    # nothing is merged (constant judge): all finish; two confident "2"s outweigh three unsure "1"s
    answers = ["1", "1", "1", "2", "2"]
    lengths = [30, 30, 30, 30, 30]
    confs = [[1.0] * 30] * 3 + [[5.0] * 30] * 2
    ts = _hand(answers, lengths, confs=confs, gold="2")
    (plain,) = _run("deepprune:judge=constant,prefix=tokens:10", ts, None)
    (conf,) = _run("deepprune:judge=constant,prefix=tokens:10,vote=confidence,conf_keep=1.0", ts, None)
    assert plain.answer == "1" and conf.answer == "2"


def test_confidence_vote_needs_confidences() -> None:
    from deepprune.core.errors import StrategyError

    ts = _hand(["1", "2"], [30, 30])
    with pytest.raises(StrategyError, match="confidences"):
        _run("deepprune:vote=confidence", ts, None)


def test_recover_parameter_is_validated() -> None:
    with pytest.raises(ConfigError, match="recover"):
        build("deepprune:recover=-1")
    with pytest.raises(ConfigError, match="recover"):
        build("deepprune:vote=largest,recover=2")
    build("deepprune:vote=largest")  # recovery defaults to off with vote=largest
    with pytest.raises(ConfigError, match="futile"):
        build("deepprune:futile=1.5")
    with pytest.raises(ConfigError, match="futile_after"):
        build("deepprune:futile_after=0")
    for bad in ("0", "-3"):
        with pytest.raises(ConfigError, match="recover_max"):
            build(f"deepprune:recover_max={bad}")
    build("deepprune:recover_max=none")
    with pytest.raises(ConfigError, match="recover_max must be a positive integer or 'none', got 'abc'"):
        build("deepprune:recover_max=abc")
    with pytest.raises(ConfigError, match="probe must be on or off, got 'maybe'"):
        build("deepprune:probe=maybe")
    with pytest.raises(ConfigError, match="conf_keep"):
        build("deepprune:vote=confidence,conf_keep=0")
    with pytest.raises(ConfigError, match="conf_score"):
        build("deepprune:vote=confidence,conf_score=best")


# ------------------------------------------------------------------ tau monotonicity
class UltrametricJudge(Judge):
    """P(same) from a random hierarchy over the answers (an ultrametric similarity): the judge
    family for which greedy clustering is provably monotone in tau (see docs/strategies.md)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def predict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        out = []
        for pr in pairs:
            assert pr.ids is not None
            a, b = (pr.context.peek_answer(i) for i in pr.ids)
            if a == b:
                out.append(1.0)
                continue
            # leaves = answers; the merge level of two leaves = 1 - depth of their common ancestor
            ha = np.random.default_rng([self.seed, hash(a) % 2**31]).integers(0, 2, 6)
            hb = np.random.default_rng([self.seed, hash(b) % 2**31]).integers(0, 2, 6)
            common = int(np.argmin(ha == hb)) if not np.all(ha == hb) else 6
            out.append(common / 7)
        return np.asarray(out)


@pytest.mark.parametrize("judge_seed", [0, 1, 2, 3])
def test_lowering_tau_never_raises_tokens(synth: TraceSet, judge_seed: int) -> None:
    judge = UltrametricJudge(judge_seed)
    for r in (0, 1):
        totals = []
        for tau in (0.95, 0.8, 0.6, 0.45, 0.3, 0.15, 0.05):
            cfg = DeepPruneConfig(tau=tau, kmax=None, prefix=Truncation.parse("tokens:30"), recover=0)
            res = _run(lambda cfg=cfg: DeepPruneStrategy(judge, cfg), synth, r)
            totals.append([x.tokens for x in res])
        arr = np.asarray(totals)
        assert np.all(np.diff(arr, axis=0) <= 0), arr


def test_lowering_tau_with_lexical_judge_on_math100(math100: TraceSet) -> None:
    """Empirical check on real traces (greedy clustering is not monotone for every judge; on this
    fixed ordering it is, summed over problems)."""
    totals = [sum(x.tokens for x in _run(f"deepprune:judge=lexical,tau={tau},recover=0,prefix=words:3", math100, 0))
              for tau in (0.9, 0.7, 0.5, 0.3, 0.1)]
    assert totals == sorted(totals, reverse=True), totals


# ------------------------------------------------------------------ DeepPrune details
def test_vote_largest_resumes_k2_members_and_stops_the_rest() -> None:
    ts = _hand(["1", "2", "1", "1", "3", "1"], [50, 60, 70, 80, 90, 100])
    (res,) = _run("deepprune:judge=constant,same=1.0,vote=largest,k2=3,prefix=tokens:10", ts, None)
    # all join cluster 0 (opened by trace 0, which keeps running); traces 1 and 2 are resumed
    assert res.tokens == 50 + 60 + 70 + 3 * 10
    assert res.answer == "1"
    assert res.traces_finished == 3


def test_vote_representatives_weights_by_cluster_size() -> None:
    # perfect judge: clusters {1: 4 traces}, {7: 1 trace}; the rep of 7 finishes first
    ts = _hand(["7", "1", "1", "1", "1"], [20, 30, 40, 50, 60], gold="1")
    (res,) = _run("deepprune:judge=noisy-oracle,auroc=1.0,prefix=tokens:10,recover=0", ts, None)
    assert res.answer == "1" and res.correct
    assert res.tokens == 20 + 30 + 3 * 10
    assert res.judge_calls == 1 + 2 + 2 + 2  # trace 1 vs 1 cluster, then 2 clusters each


def test_kmax_cap_joins_most_similar_cluster() -> None:
    ts = _hand(["1", "2", "3", "4"], [40, 40, 40, 40])
    (res,) = _run("deepprune:judge=constant,kmax=2,prefix=tokens:10,recover=0", ts, None)
    assert res.info["clusters"] == 2
    assert res.tokens == 40 + 40 + 10 + 10


class SpyJudge(Judge):
    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        self.batches.append(len(pairs))
        return np.zeros(len(pairs))


def test_one_judge_batch_per_clustered_trace(synth: TraceSet) -> None:
    spy = SpyJudge()
    cfg = DeepPruneConfig(p=3, kmax=None, prefix=Truncation.parse("tokens:20"))
    res = _run(lambda: DeepPruneStrategy(spy, cfg), synth, 0)
    k = len(synth.traces_of(synth.problems[0].id))
    assert len(spy.batches) == len(synth.problems) * (k - 1)
    assert sum(spy.batches) == sum(x.judge_calls for x in res)
    assert max(spy.batches) == k - 1  # never-same: every earlier trace is its own cluster (p caps at 1 member)
    assert all(x.judge_tokens > 0 for x in res)


# ------------------------------------------------------------------ DeepConf, hand-computed
def test_deepconf_offline_hand_computed() -> None:
    # window 2. lowest group confidence of each trace:
    #   t0 [3,1,3] -> groups [2,2] -> 2.0 ; t1 [4,4,4] -> 4.0 ; t2 [1,1,5] -> [1,3] -> 1.0 ; t3 [5,3,5] -> 4.0
    confs = [[3, 1, 3], [4, 4, 4], [1, 1, 5], [5, 3, 5]]
    ts = _hand(["1", "2", "1", "1"], [3, 3, 3, 3], confs)
    # keep all, weighted: V(1) = 2 + 1 + 4 = 7 > V(2) = 4
    (res,) = _run("deepconf:window=2,keep=1.0", ts, None)
    assert res.answer == "1" and res.tokens == 12
    # keep top 50% = {t1: 4.0, t3: 4.0}: V(2) = 4 = V(1) = 4, tie -> earliest first vote (t1 finishes first)
    (res,) = _run("deepconf:window=2,keep=0.5", ts, None)
    assert res.answer == "2"
    # keep top 25% (ceil(1) trace): t1 (score 4.0, earlier than t3)
    (res,) = _run("deepconf:window=2,keep=0.25", ts, None)
    assert res.answer == "2"
    # mean scores: t0 7/3, t1 4, t2 7/3, t3 13/3 -> top 50% = t3 (answer 1), t1 (answer 2): 13/3 > 4
    (res,) = _run("deepconf:window=2,keep=0.5,score=mean", ts, None)
    assert res.answer == "1"


def test_deepconf_online_threshold_termination_and_consensus() -> None:
    # warm-up = 2 traces (scores 2.0 and 4.0); keep=0.5 -> s = 50th percentile = 3.0
    # voters after warm-up: t1 (answer 2, weight 4); beta = 1 >= consensus 1.0? consensus=1.01 disables
    confs = [[2, 2, 2, 2], [4, 4, 4, 4],
             [5, 5, 1, 1, 5, 5],    # window 2 means: 5, 3, 1 -> terminated at token 4 (< 3.0)
             [4, 4, 4, 4, 4, 4]]    # never below: finishes, votes with weight 4
    ts = _hand(["2", "2", "1", "3"], [4, 4, 6, 6], confs)
    (res,) = _run("deepconf-low:keep=0.5,warmup=2,window=2,parallel=2,consensus=1.01", ts, None)
    assert res.info["threshold"] == pytest.approx(3.0)
    assert res.info["terminated"] == 1
    assert res.tokens == 4 + 4 + 4 + 6
    # voters: t1 ("2", 4) and t3 ("3", 4): tie -> the earlier voter t1
    assert res.answer == "2"
    # with the consensus stop (beta = 1 after the warm-up) nothing more is launched
    (res,) = _run("deepconf-low:keep=0.5,warmup=2,window=2,parallel=2", ts, None)
    assert res.tokens == 8 and res.traces_launched == 2 and res.answer == "2"


# ------------------------------------------------------------------ ESC and Adaptive-Consistency
def test_esc_stops_at_first_unanimous_window() -> None:
    ts = _hand(["1", "2", "1", "1", "1", "9", "9"], [10, 10, 10, 10, 10, 10, 10])
    (res,) = _run("esc:w=2", ts, None)
    # window 1 = {1, 2} not unanimous; window 2 = {1, 1} unanimous -> stop
    assert res.traces_launched == 4 and res.tokens == 40 and res.answer == "1"


def test_adaptive_stops_after_four_unanimous() -> None:
    ts = _hand(["1"] * 8, [10] * 8)
    (res,) = _run("adaptive", ts, None)
    assert res.traces_launched == 4 and res.tokens == 40
    ts = _hand(["1", "2", "1", "1", "1", "1", "2", "1"], [10] * 8)
    (res,) = _run("adaptive", ts, None)
    # counts (v1, v2): after 6 traces (5, 1): P = 1 - P(Bin(7, .5) >= 6) = 0.9375; after 7 (5, 2): 0.855;
    # after 8 (6, 2): 0.910 -> budget exhausted
    assert res.traces_launched == 8 and res.answer == "1"


# ------------------------------------------------------------------ short-m@k (issue 12)
@pytest.mark.parametrize("ordering_seed", [0, 1])
def test_first_finish_with_one_trace_is_that_trace(synth: TraceSet, ordering_seed: int) -> None:
    _same(_run("first-finish", synth, ordering_seed, budget=1), _run("cons", synth, ordering_seed, budget=1))


def test_short_m_with_m_at_least_k_is_cons(synth: TraceSet) -> None:
    full = TraceSet(synth.problems, {p.id: tuple(t for t in synth.traces_of(p.id) if t.answer is not None)
                                     for p in synth.problems}, synth.header, synth.name)
    _same(_run("short-m:m=1000", full, 0), _run("cons", full, 0))


def test_short_m_stops_the_rest_once_m_answers_are_in() -> None:
    ts = _hand(["1", None, "2", "2", "1", "1"], [10, 20, 30, 40, 50, 60], gold="2")
    (res,) = _run("short-m:m=3", ts, None)
    # finished: 10 ("1"), 20 (no answer: does not count), 30 ("2"), 40 ("2") -> 3 answers at t=40
    assert res.answer == "2" and res.traces_finished == 4 and res.traces_stopped == 2
    assert res.tokens == 10 + 20 + 30 + 40 + 40 + 40
    (first,) = _run("first-finish", ts, None)
    assert first.answer == "1" and first.tokens == 6 * 10


# ------------------------------------------------------------------ confidence-weighted votes (issue 12)
def _hand_lp(answers: Sequence[str | None], logprobs: Sequence[Sequence[float]],
             confs: Sequence[Sequence[float]] | None = None, texts: Sequence[str] | None = None) -> TraceSet:
    """Hand-made traces with sampled-token logprobs (and confidences: 1.0 per token unless given);
    trace i has ``len(logprobs[i])`` tokens, so equal lengths finish in index order."""
    p = Problem("p", "q", "1", AnswerKind.INTEGER)
    traces = []
    for i, (a, lp) in enumerate(zip(answers, logprobs, strict=True)):
        n = len(lp)
        c = tuple(float(x) for x in confs[i]) if confs is not None else (1.0,) * n
        text = texts[i] if texts is not None else f"trace {i} " + " ".join(["so"] * n)
        traces.append(Trace("p", i, text, n, a, confs=c, logprobs=tuple(float(x) for x in lp)))
    return TraceSet((p,), {"p": tuple(traces)}, {}, "hand")


@pytest.fixture(scope="module")
def synth_conf() -> TraceSet:
    # diffuse answers (majority share 0.4, 5 answers): ties and close votes happen
    return synthetic_traceset(n_problems=8, k=12, seed=5, mean_tokens=120, n_answers=5, majority_share=0.4,
                              with_confs=True)


@pytest.fixture(scope="module")
def shipped_default() -> TraceSet:
    from deepprune.formats.datasets import resolve

    ts = load_traces(resolve("default"))
    keep = ts.problems[:20]
    return TraceSet(keep, {p.id: ts.traces_of(p.id) for p in keep}, ts.header, ts.name)


@pytest.mark.parametrize("spec", ["cisc:temperature=inf", "cisc:score=lowest,temperature=inf",
                                  "self-certainty:p=0"])
@pytest.mark.parametrize("ordering_seed", [0, 1, 2])
def test_uniform_confidence_votes_equal_cons(synth_conf: TraceSet, spec: str, ordering_seed: int) -> None:
    """CISC at temperature -> inf (equal weights) and Borda with p = 0 are cons@K: answers and
    tokens, ties included."""
    _same(_run(spec, synth_conf, ordering_seed), _run("cons", synth_conf, ordering_seed))


@pytest.mark.parametrize("spec", ["cisc:temperature=inf", "self-certainty:p=0"])
def test_uniform_confidence_votes_equal_cons_on_real_traces(shipped_default: TraceSet, spec: str) -> None:
    _same(_run(spec, shipped_default, 0), _run("cons", shipped_default, 0))


@pytest.mark.parametrize("spec", ["cisc", "cisc:score=mean,temperature=1", "self-certainty:p=3", "rpc",
                                  "rpc:prune=mean", "first-finish"])
def test_one_trace_answers_with_that_trace(synth_conf: TraceSet, spec: str) -> None:
    """With K = 1 every vote is that trace's answer, whatever its weight."""
    _same(_run(spec, synth_conf, 0, budget=1), _run("cons", synth_conf, 0, budget=1))


def test_cisc_hand_computed() -> None:
    # response probabilities exp(mean logprob): t0 ("1") 1.0 ; t1, t2 ("2") 0.8 each
    lp8 = math.log(0.8)
    ts = _hand_lp(["1", "2", "2"], [[0.0, 0.0], [lp8, lp8], [lp8, lp8]])
    # T = 0.1: V(1) = e^10 = 22026 > V(2) = 2 e^8 = 5962  (up to the common normaliser)
    (res,) = _run("cisc:temperature=0.1", ts, None)
    assert res.answer == "1"
    assert res.info["share"] == pytest.approx(math.exp(10) / (math.exp(10) + 2 * math.exp(8)))
    # T = 1: V(1) = e^1 = 2.72 < V(2) = 2 e^0.8 = 4.45
    (res,) = _run("cisc:temperature=1", ts, None)
    assert res.answer == "2"
    assert res.info["share"] == pytest.approx(2 * math.exp(0.8) / (math.exp(1) + 2 * math.exp(0.8)))
    # score=logprob (0 vs log 0.8 = -0.223) at T = 0.1: e^0 = 1 > 2 e^-2.23 = 0.214
    (res,) = _run("cisc:score=logprob,temperature=0.1", ts, None)
    assert res.answer == "1"


def test_cisc_with_deepconf_score_reads_the_confidences() -> None:
    # confidences only matter: lowest window-2 group: t0 [9, 9] -> 9 ; t1, t2 [1, 1] -> 1
    ts = _hand_lp(["1", "2", "2"], [[-5.0, -5.0]] * 3, confs=[[9, 9], [1, 1], [1, 1]])
    (res,) = _run("cisc:score=lowest,window=2,temperature=1", ts, None)
    assert res.answer == "1"  # e^9 vs 2 e^1
    (res,) = _run("cisc:score=lowest,window=2,temperature=100", ts, None)
    assert res.answer == "2"  # e^0.09 = 1.09 vs 2 e^0.01 = 2.02


def test_self_certainty_hand_computed() -> None:
    # mean confidences 5, 3, 2 -> self-certainty = mean - log 20; ranks 1, 2, 3 (N = 3)
    ts = _hand_lp(["1", "2", "2"], [[0.0, 0.0]] * 3, confs=[[4, 6], [3, 3], [1, 3]])
    # p = 2: V(1) = 3^2 = 9 > V(2) = 2^2 + 1^2 = 5
    (res,) = _run("self-certainty:p=2", ts, None)
    assert res.answer == "1" and res.info["share"] == pytest.approx(9 / 14)
    assert res.info["max_self_certainty"] == pytest.approx(5 - math.log(20))
    # p = 0.5: V(1) = sqrt 3 = 1.73 < V(2) = sqrt 2 + 1 = 2.41
    (res,) = _run("self-certainty:p=0.5", ts, None)
    assert res.answer == "2"
    # k only shifts the value, never the ranking
    (res,) = _run("self-certainty:p=2,k=5", ts, None)
    assert res.answer == "1" and res.info["max_self_certainty"] == pytest.approx(5 - math.log(5))


def test_rpc_hand_computed() -> None:
    # path probabilities exp(mean logprob): t0 ("1") 0.9 ; t1, t2 ("2") 0.5 each, same text
    l9, l5 = math.log(0.9), math.log(0.5)
    ts = _hand_lp(["1", "2", "2"], [[l9, l9], [l5, l5], [l5, l5]], texts=["a \\boxed{1}", "b \\boxed{2}",
                                                                           "b \\boxed{2}"])
    # PC over unique paths: V(1) = 0.9 > V(2) = 0.5 (t2 repeats t1)
    (res,) = _run("rpc:prune=none", ts, None)
    assert res.answer == "1" and res.info["voters"] == 2
    assert res.info["share"] == pytest.approx(0.9 / 1.4)
    # without dedup: V(2) = 1.0 > 0.9
    (res,) = _run("rpc:prune=none,dedup=false", ts, None)
    assert res.answer == "2"
    # prune=mean: mean p = 0.633, t1 and t2 pruned
    (res,) = _run("rpc:prune=mean,dedup=false", ts, None)
    assert res.answer == "1" and res.info["pruned"] == 2


def test_rpc_weibull_pruning_removes_the_low_probability_mode() -> None:
    # 7 paths near probability 0.9 say "1"; 15 paths at 0.38-0.52 say "2"
    high = [0.86, 0.87, 0.88, 0.89, 0.9, 0.91, 0.92]
    low = [0.38 + 0.01 * i for i in range(15)]
    answers = ["1"] * len(high) + ["2"] * len(low)
    ts = _hand_lp(answers, [[math.log(p)] * 4 for p in high + low])
    # cons: 15 > 7; PC alone: V(2) = 6.75 > V(1) = 6.23; the fitted mixture prunes the low mode
    assert _run("cons", ts, None)[0].answer == "2"
    assert _run("rpc:prune=none", ts, None)[0].answer == "2"
    (res,) = _run("rpc", ts, None)
    assert res.answer == "1" and res.info["pruned"] == len(low)


def test_rpc_needs_sampled_logprobs() -> None:
    from deepprune.core.errors import NotApplicable

    ts = _hand(["1", "2"], [3, 3], [[1, 1, 1], [2, 2, 2]])  # confidences, no logprobs
    with pytest.raises(NotApplicable, match="sampled token"):
        _run("rpc", ts, None)
    with pytest.raises(NotApplicable, match="sampled token"):
        _run("cisc", ts, None)
    (res,) = _run("cisc:score=mean,temperature=1", ts, None)  # a score from the confidences works
    assert res.answer == "2"
    (res,) = _run("self-certainty", ts, None)
    assert res.answer == "2"


# ------------------------------------------------------------------ recovery's wall clock
def test_a_verifier_runs_beside_its_representative_instead_of_after_it() -> None:
    # every trace joins trace 0's cluster; trace 1 (the first to join) agrees with trace 0
    ts = _hand(["1", "1", "1", "2", "1", "1"], [50, 60, 70, 80, 90, 100])
    (ahead,) = _run("deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=2", ts, None)
    (after,) = _run("deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=2,verifiers=0", ts, None)
    assert ahead.answer == after.answer == "1"
    assert ahead.tokens == after.tokens == 50 + 60 + 4 * 10  # the same check, the same tokens
    assert (ahead.info["recovered"], after.info["recovered"]) == (0, 1)
    # ... but at the same time: trace 1 finishes at step 60 instead of 50 + (60 - 10) = 100
    assert (ahead.steps, after.steps) == (60, 100)
    # without recovery (the paper's rule) there is nothing to verify: every member is stopped
    (paper,) = _run("deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=0", ts, None)
    assert paper.traces_finished == 1 and paper.tokens == 50 + 5 * 10


def test_doubling_rounds_resume_the_same_traces_in_fewer_rounds() -> None:
    # all answers differ and every trace joins trace 0's cluster: recovery resumes all 11 others
    ts = _hand([str(i) for i in range(12)], [50 + i for i in range(12)])
    spec = "deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=2,verifiers=0,recover_batch="
    (need,) = _run(spec + "need", ts, None)
    (double,) = _run(spec + "double", ts, None)
    (one,) = _run(spec + "one", ts, None)
    assert need.info["recovered"] == double.info["recovered"] == one.info["recovered"] == 11
    assert need.tokens == double.tokens == one.tokens == sum(50 + i for i in range(12))  # = cons@12
    assert need.answer == double.answer == one.answer
    assert one.info["recovery_rounds"] == 11
    assert double.info["recovery_rounds"] < need.info["recovery_rounds"] <= 11
    assert double.info["recovery_rounds"] == 4  # 1, 2 (the vote needs 2), 3 (= 1 + 2), the last 5
    assert double.steps is not None and need.steps is not None and double.steps < need.steps
    (fin,) = _run(spec + "finished", ts, None)  # rounds of 1, 2 (= finished so far), 4, the last 4
    assert (fin.info["recovered"], fin.tokens, fin.answer) == (11, need.tokens, need.answer)
    assert fin.info["recovery_rounds"] == 4 and fin.steps is not None and fin.steps < need.steps


def test_a_round_ends_when_the_vote_turns_clear_and_its_other_traces_stop_again() -> None:
    # by id (equal judge probabilities): t1 "2" alone, then t2 "3" + t3 "1", then t4 + t5 + t6
    ts = _hand(["1", "2", "3", "1", "1", "1", "1"], [50, 60, 70, 200, 80, 90, 300])
    spec = "deepprune:judge=constant,same=1.0,prefix=tokens:10,recover=2,verifiers=0,recover_batch="
    (double,) = _run(spec + "double", ts, None)
    # t4 ends at step 360 with "1" leading by 2: t5 and t6 (80 tokens each by then) are stopped
    assert double.answer == "1" and double.info["recovery_rounds"] == 3
    assert double.info["recovery_cancelled"] == 2 and double.steps == 360
    assert double.tokens == 50 + 60 + 70 + 200 + 80 + 80 + 80
    (need,) = _run(spec + "need", ts, None)  # round 3 resumes t4 alone: fewer tokens, the same step
    assert need.answer == "1" and need.info["recovery_cancelled"] == 0 and need.steps == 360
    assert need.tokens == 50 + 60 + 70 + 200 + 80 + 10 + 10


@pytest.mark.parametrize(("raw", "mode"), [("double", "double"), ("finished", "finished"), ("need", "need"),
                                           ("one", "one"), ("on", "need"),
                                           ("off", "one"), ("1", "need"), ("0", "one")])
def test_recover_batch_flag(raw: str, mode: str) -> None:
    strategy = build(f"deepprune:recover_batch={raw}")()
    assert isinstance(strategy, DeepPruneStrategy) and strategy.cfg.recover_batch == mode


@pytest.mark.parametrize("bad", ["recover_batch=all", "verifiers=-1", "verifiers=x"])
def test_bad_recovery_round_flags_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match=bad.split("=")[0]):
        build(f"deepprune:{bad}")
