"""Answer probes: the trace-file field, replay and live Probe actions, deepprune:probe=on, and
``deepprune probe`` (resumable, order-preserving) against a fake server."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from deepprune.core.errors import DataError, NotApplicable, ProtocolError
from deepprune.core.events import Launch, Probe, TraceProbed, TraceProgress
from deepprune.core.protocol import Decision, RunContext, Strategy
from deepprune.core.types import AnswerProbe, Problem, Trace, TraceSet
from deepprune.engine.probing import parse_cuts, probe_file
from deepprune.engine.runner import run_problem
from deepprune.formats.tracefile import read_traces, trace_from_record, trace_to_record, write_traces
from deepprune.sources.live import LiveSource
from deepprune.sources.openai_client import EndpointConfig
from deepprune.sources.probe import PROBE_CUE, boxed_answer
from deepprune.sources.replay import ReplaySource
from deepprune.strategies.registry import build as make_strategy
from fake_openai import FakeServer, chat_chunk


def _trace(pid: str, i: int, answer: str | None, n: int = 100, probes: tuple[AnswerProbe, ...] = ()) -> Trace:
    toks = (*(f"t{j} " for j in range(n - 1)), f"\\boxed{{{answer}}}")
    return Trace(pid, i, "".join(toks), n, answer, tokens=toks, probes=probes)


def _set(answers: list[str | None], *, probe: bool = True, at: int = 64) -> TraceSet:
    p = Problem("p0", "What is 6*7?", "42")
    trs = tuple(_trace("p0", i, a, probes=(AnswerProbe(at, a, -0.1, 3),) if probe else ()) for i, a in enumerate(answers))
    return TraceSet((p,), {"p0": trs}, {"format": "deepprune/traces-v1"})


# ------------------------------------------------------------------ data model and file format
def test_probe_round_trip_and_old_records_still_load() -> None:
    t = _trace("p", 0, "7", probes=(AnswerProbe(32, "7", -0.25, 4), AnswerProbe(64, None, None, 24)))
    rec = trace_to_record(t)
    assert rec["probes"] == [{"at": 32, "answer": "7", "logprob": -0.25, "n_tokens": 4},
                             {"at": 64, "answer": None, "logprob": None, "n_tokens": 24}]
    assert trace_from_record(json.loads(json.dumps(rec))) == t
    del rec["probes"]
    assert trace_from_record(rec).probes == ()
    assert t.probe_at(64) == AnswerProbe(64, None, None, 24) and t.probe_at(50) is None


@pytest.mark.parametrize(("probes", "field"), [
    ("x", "probes"),
    ([1], "probes[0]"),
    ([{"at": "64", "answer": "1", "logprob": -1, "n_tokens": 2}], "probes[0].at"),
    ([{"at": 64, "answer": "1", "logprob": -1, "n_tokens": 2.5}], "probes[0].n_tokens"),
    ([{"at": 64, "answer": ["1"], "logprob": -1, "n_tokens": 2}], "probes[0].answer"),
    ([{"at": 64, "answer": "1", "logprob": 0.5, "n_tokens": 2}], "probes[0].logprob"),
    ([{"at": 64, "answer": "1", "logprob": "nan", "n_tokens": 2}], "probes[0].logprob"),
    ([{"at": 0, "answer": "1", "logprob": -1, "n_tokens": 2}], "probes[0]"),
    ([{"at": 500, "answer": "1", "logprob": -1, "n_tokens": 2}], "probes"),
    ([{"at": 64, "answer": "1", "logprob": -1, "n_tokens": 2}] * 2, "probes"),
])
def test_malformed_probe_fields_name_file_line_and_field(tmp_path: Path, probes: Any, field: str) -> None:
    rec = trace_to_record(_trace("p0", 0, "1"))
    rec["probes"] = probes
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"format": "deepprune/traces-v1"}, {"type": "problem", "id": "p0", "question": "q", "gold": "1"}, rec]) + "\n")
    with pytest.raises(DataError) as ei:
        read_traces(path)
    assert ei.value.field == field and ei.value.line == 3 and str(path) in str(ei.value)


def test_boxed_answer_reads_the_box_the_cue_opened() -> None:
    assert boxed_answer("14} \\]") == "14"
    assert boxed_answer("\\frac{1}{2}}") == "\\frac{1}{2}"
    assert boxed_answer("} rest") is None  # an empty box
    assert boxed_answer("12 and more") is None  # never closed
    assert parse_cuts(["tokens:64,32", "tokens:32"]) == (32, 64)


# ------------------------------------------------------------------ replay
class _ProbeAll(Strategy):
    """Probes every trace once at ``at`` tokens, then lets it finish."""

    name = "probe-all"

    def __init__(self, at: int = 64) -> None:
        self.at = at
        self.got: list[TraceProbed] = []
        self.asked: set[int] = set()

    def start(self, ctx: RunContext) -> list[Launch]:
        self.ctx = ctx
        return [Launch(ctx.budget)]

    def watch(self, trace_id: int) -> int | None:
        return None if trace_id in self.asked else self.at

    def on_event(self, event: Any) -> list[Probe]:
        if isinstance(event, TraceProgress) and event.trace_id not in self.asked:
            self.asked.add(event.trace_id)
            return [Probe(event.trace_id)]
        if isinstance(event, TraceProbed):
            self.got.append(event)
        return []

    def result(self) -> Decision:
        return Decision(None)


def test_replay_answers_probes_from_the_file_and_charges_their_tokens() -> None:
    ts = _set(["42", "41", None])
    strat = _ProbeAll()
    res = asyncio.run(run_problem(lambda: strat, ReplaySource(ts), ts.problems[0], budget=3))
    assert strat.ctx.can_probe
    assert sorted((e.trace_id, e.at, e.answer, e.n_tokens) for e in strat.got) == [
        (0, 64, "42", 3), (1, 64, "41", 3), (2, 64, None, 3)]
    assert res.tokens == 3 * 100 + 3 * 3  # the probes' generated tokens are charged
    assert res.info["probe_calls"] == 3 and res.info["probe_tokens"] == 9


def test_replay_probe_where_nothing_was_recorded_is_not_applicable() -> None:
    ts = _set(["42", "41"], at=32)
    with pytest.raises(NotApplicable, match="tokens:64"):
        asyncio.run(run_problem(lambda: _ProbeAll(64), ReplaySource(ts), ts.problems[0], budget=2))
    plain = _set(["42"], probe=False)
    with pytest.raises(ProtocolError, match="cannot probe"):
        asyncio.run(run_problem(lambda: _ProbeAll(64), ReplaySource(plain), plain.problems[0], budget=1))


def test_deepprune_probe_on_without_probes_is_an_na_row() -> None:
    ts = _set(["42"], probe=False)
    with pytest.raises(NotApplicable, match="deepprune probe"):
        asyncio.run(run_problem(make_strategy("deepprune:probe=on"), ReplaySource(ts), ts.problems[0], budget=1))


def test_deepprune_with_perfect_probes_prunes_like_the_oracle() -> None:
    """Probes equal to the final answers and no recovery: one trace per answer finishes, the
    vote is cons@K's, and the tokens are the oracle's plus the probes'."""
    answers = ["42", "41", "42", "42", "7", "41", "42", "7"]
    ts = _set(answers)
    for seed in range(3):
        src = ReplaySource(ts, ordering_seed=seed)
        dp = asyncio.run(run_problem(make_strategy("deepprune:probe=on,recover=0,judge=constant"), src,
                                     ts.problems[0], budget=8))
        orc = asyncio.run(run_problem(make_strategy("oracle:prefix=tokens:64"), src, ts.problems[0], budget=8))
        assert dp.answer == orc.answer == "42"
        assert dp.traces_finished == orc.traces_finished == 3
        assert dp.tokens == orc.tokens + 8 * 3
        assert dp.info["probes"] == 8


def test_trusted_probe_merges_are_not_resumed_untrusted_are() -> None:
    answers = ["42", "42", "42", "41", "41", "42"]
    ts = _set(answers)
    src = ReplaySource(ts)
    trust = asyncio.run(run_problem(make_strategy("deepprune:probe=on,judge=constant,verifiers=0"), src, ts.problems[0], budget=6))
    distrust = asyncio.run(run_problem(make_strategy("deepprune:probe=on,judge=constant,trust_probes=off,verifiers=0"), src,
                                       ts.problems[0], budget=6))
    assert trust.answer == distrust.answer == "42"
    assert trust.info["recovered"] == 0 and trust.traces_finished == 2
    assert distrust.info["recovered"] >= 1 and distrust.tokens > trust.tokens


# ------------------------------------------------------------------ live
def _probe_server() -> FakeServer:
    """Traces answer 42 after 80 tokens; a probe (its prefill ends with the cue) answers by the
    last word of the partial text it was shown."""

    def script(body: dict[str, Any]) -> list[str | float | Exception]:
        msgs = body["messages"]
        if msgs[-1]["role"] == "assistant" and msgs[-1]["content"].endswith(PROBE_CUE):
            assert body["temperature"] == 0.0 and body["max_tokens"] <= 24
            partial = msgs[-1]["content"][: -len(PROBE_CUE)]
            guess = "42" if "w63" in partial or "w64" in partial else "0"
            return [f"data: {json.dumps(chat_chunk([t]))}\n\n" for t in (guess, "}", " \\]", "more")] + [
                "data: [DONE]\n\n"]
        return FakeServer(n_tokens=80, delay_s=0.003).lines(body)

    return FakeServer(script=script)


def _cfg(**kw: Any) -> EndpointConfig:
    return EndpointConfig(base_url="http://fake/v1", model="m", retries=0, **kw)


def test_live_probe_sends_the_cue_greedy_and_charges_the_probe() -> None:
    server = _probe_server()
    strat = _ProbeAll(64)
    src = LiveSource(_cfg(), transport=server.transport())
    res = asyncio.run(run_problem(lambda: strat, src, Problem("p", "q", "42"), budget=2))
    assert strat.ctx.can_probe
    assert [(e.answer, e.n_tokens) for e in strat.got] == [("42", 2), ("42", 2)]
    assert all(e.at >= 64 for e in strat.got) and all(e.prompt_tokens for e in strat.got)
    assert res.tokens == 2 * 80 + 2 * 2  # the probe stopped reading once the box closed
    probes = [b for b in server.bodies if b["messages"][-1]["role"] == "assistant"]
    assert len(probes) == 2 and all(b["continue_final_message"] for b in probes)


def test_live_deepprune_probe_on_runs_against_a_server() -> None:
    server = _probe_server()
    src = LiveSource(_cfg(), transport=server.transport())
    res = asyncio.run(run_problem(make_strategy("deepprune:probe=on,judge=constant,verifiers=0"), src,
                                  Problem("p", "q", "42"), budget=4))
    assert res.answer == "42" and res.traces_stopped >= 1
    assert res.traces_finished + res.traces_stopped == 4 and res.tokens < 4 * 80
    assert res.info["probe_calls"] == 4


# ------------------------------------------------------------------ deepprune probe
def _probe_file_inputs(tmp_path: Path) -> tuple[Path, TraceSet]:
    probs = tuple(Problem(f"p{k}", f"question {k}", "42") for k in range(3))
    traces = {p.id: tuple(dataclasses.replace(_trace(p.id, i, "42", n=40 + 20 * i), text="".join(
        f"w{j} " for j in range(40 + 20 * i)), tokens=tuple(f"w{j} " for j in range(40 + 20 * i)))
        for i in (2, 0, 1)) for p in probs}  # recorded order is not index order: it must be kept
    ts = TraceSet(probs, traces, {"format": "deepprune/traces-v1", "model": "writer", "created": "t0", "name": "x"})
    src = tmp_path / "in.jsonl.gz"
    write_traces(ts, src)
    return src, ts


def test_probe_file_records_probes_in_input_order_and_resumes(tmp_path: Path) -> None:
    src, ts = _probe_file_inputs(tmp_path)
    out = tmp_path / "out.jsonl.gz"
    server = _probe_server()
    cfg = _cfg(max_concurrency=3)
    s1 = asyncio.run(probe_file(src, out, cfg, (32, 64), limit=1, transport=server.transport()))
    assert (s1.traces, s1.skipped_existing) == (3, 0)
    s2 = asyncio.run(probe_file(src, out, cfg, (32, 64), transport=server.transport()))
    assert (s2.traces, s2.skipped_existing) == (6, 3)
    got = read_traces(out)
    assert got.header["probe"]["at"] == [32, 64] and got.header["model"] == "writer"
    for p in ts.problems:
        assert [t.index for t in got.traces_of(p.id)] == [2, 0, 1]
        for t in got.traces_of(p.id):
            assert [pr.at for pr in t.probes] == [c for c in (32, 64) if c < t.n_tokens]
            assert all(pr.answer in ("0", "42") for pr in t.probes)
    assert s1.past_end + s2.past_end == 2 * 3  # per problem: n=40 and n=60 end before 64
    # the same command again has nothing left; other settings are refused, nothing changed
    before = gzip.open(out).read()
    s3 = asyncio.run(probe_file(src, out, cfg, (32, 64), transport=server.transport()))
    assert s3.traces == 0
    with pytest.raises(DataError, match=r"probe\.at"):
        asyncio.run(probe_file(src, out, cfg, (16,), transport=server.transport()))
    assert gzip.open(out).read() == before
    with pytest.raises(Exception, match="other than the input"):
        asyncio.run(probe_file(src, src, cfg, (16,), transport=server.transport()))


# ------------------------------------------------------------------ probe-exit (Dynasor-CoT)
def _never_agreeing(ts: TraceSet) -> TraceSet:
    """Every probe answers nothing: no run of agreeing probes ever forms."""
    out = {pid: tuple(dataclasses.replace(t, probes=tuple(AnswerProbe(p.at, None, None, p.n_tokens)
                                                          for p in t.probes)) for t in trs)
           for pid, trs in ts.traces.items()}
    return TraceSet(ts.problems, out, ts.header, ts.name)


def test_probe_exit_with_probes_that_never_agree_is_cons() -> None:
    from deepprune.formats.synthetic import synthetic_traceset

    ts = _never_agreeing(synthetic_traceset(n_problems=5, k=12, seed=3, mean_tokens=200, probe_every=32))
    for seed in range(2):
        src = ReplaySource(ts, ordering_seed=seed)
        for p in ts.problems:
            pe = asyncio.run(run_problem(make_strategy("probe-exit:every=32,consensus=off"), src, p, budget=12))
            cons = asyncio.run(run_problem(make_strategy("cons"), src, p, budget=12))
            assert pe.answer == cons.answer
            assert pe.tokens == cons.tokens + pe.info["probe_tokens"] and pe.info["exited"] == 0


def test_probe_exit_stops_traces_whose_probes_settle() -> None:
    # traces of 200 tokens, probes every 32 tokens all giving the final answer
    p = Problem("p0", "q", "42")
    trs = tuple(_trace("p0", i, a, n=200, probes=tuple(AnswerProbe(c, a, -0.1, 2) for c in range(32, 200, 32)))
                for i, a in enumerate(["42", "42", "41", "42"]))
    ts = TraceSet((p,), {"p0": trs}, {})
    res = asyncio.run(run_problem(make_strategy("probe-exit:every=32,agree=2,consensus=off"), ReplaySource(ts), p,
                                  budget=4))
    assert res.answer == "42" and res.info["exited"] == 4
    assert res.tokens == 4 * 64 + 4 * 2 * 2  # each stopped at its second probe (64 tokens), 2 probes of 2 tokens
    # consensus: once two answers agree and every running probe agrees, the problem stops
    agree = tuple(_trace("p0", i, "42", n=200, probes=tuple(AnswerProbe(c, "42", -0.1, 2) for c in range(32, 200, 32)))
                  for i in range(4))
    ts2 = TraceSet((p,), {"p0": agree}, {})
    res2 = asyncio.run(run_problem(make_strategy("probe-exit:every=32,agree=3"), ReplaySource(ts2), p, budget=4))
    # traces 0 and 1 exit at their third probe (96 tokens); then two answers agree with the running
    # traces' latest probes, so the problem stops at that tick: 4 x 96 tokens + 10 probes of 2 tokens
    assert res2.answer == "42" and res2.info["consensus_stop"] and res2.info["exited"] == 2
    assert res2.tokens == 4 * 96 + 10 * 2


def test_probe_exit_without_probes_is_not_applicable() -> None:
    ts = _set(["42"], probe=False)
    with pytest.raises(NotApplicable, match="probe-exit"):
        asyncio.run(run_problem(make_strategy("probe-exit"), ReplaySource(ts), ts.problems[0], budget=1))


def test_probe_exit_runs_live_against_a_server() -> None:
    """Live, probe-exit probes every `every` tokens through the server while the traces stream;
    the fake server's probes answer 42 once a trace has passed 63 tokens."""
    server = _probe_server()
    src = LiveSource(_cfg(), transport=server.transport())
    res = asyncio.run(run_problem(make_strategy("probe-exit:every=32,agree=2"), src, Problem("p", "q", "42"),
                                  budget=3))
    assert res.answer == "42" and res.info["probe_calls"] >= 3
    assert res.traces_finished + res.traces_stopped == 3
    probes = [b for b in server.bodies if b["messages"][-1]["role"] == "assistant"]
    assert len(probes) == res.info["probe_calls"]
